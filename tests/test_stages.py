"""Stage of a bill from its classified actions: synthetic action lists in real wording for the
edge cases, then saved New York pages and real Minnesota, Washington and Colorado data."""

from __future__ import annotations

import csv
import glob
import io
import zipfile
from collections import Counter
from dataclasses import dataclass, field
from datetime import date

import pytest
from sqlalchemy import text as sql

from scrapers.importers.openstates import iter_openstates
from tracker.actions import classify_action
from tracker.collect.examples import parse_pages
from tracker.scraped import ScrapedBill
from tracker.scraping import load_state_config
from tracker.stages import StageResult, compute_stage, ladder, resolution_kind
from tracker.vocab import ALL_STAGES, BILL_LADDER, LAW_STAGES, STAGES, stage_text


def act(day: str, description: str, chamber: str | None, *classes: str) -> dict:
    return {
        "date": f"2025-{day}",
        "description": description,
        "chamber": chamber,
        "classification": list(classes),
    }


INTRO = act("01-10", "Introduced, read first time", "lower", "introduction", "reading-1")
REFER = act("01-11", "Referred to Health", "lower", "referral-committee")
REPORT = act("02-01", "Do pass", "lower", "committee-passage-favorable")
PASS_H = act("02-10", "Third reading, passed 60-2", "lower", "reading-3", "passage")
PASS_S = act("03-04", "Third reading, passed 32-1", "upper", "reading-3", "passage")
TO_GOV = act("03-10", "Delivered to Governor.", "executive", "executive-receipt")
SIGNED = act("03-20", "Governor signed.", "executive", "executive-signature")
VETOED = act("03-20", "Governor vetoed.", "executive", "executive-veto")


@pytest.mark.parametrize(
    ("actions", "stage", "index"),
    [
        ([], "introduced", None),
        ([INTRO], "introduced", 0),
        ([INTRO, REFER], "in_committee", 1),
        ([INTRO, REFER, REPORT], "passed_committee", 2),
        ([INTRO, REFER, REPORT, PASS_H], "passed_one_chamber", 3),
        ([INTRO, PASS_H, PASS_S], "passed_both_chambers", 2),
        ([INTRO, PASS_H, PASS_S, TO_GOV], "sent_to_governor", 3),
        ([INTRO, PASS_H, PASS_S, TO_GOV, SIGNED], "enacted", 4),
        ([INTRO, PASS_H, PASS_S, TO_GOV, VETOED], "vetoed", 4),
        (
            [INTRO, REFER, act("02-01", "Withdrawn by sponsor", "lower", "withdrawal")],
            "withdrawn",
            2,
        ),
        ([INTRO, act("02-01", "Third reading, failed", "lower", "failure")], "failed", 1),
        (
            [
                INTRO,
                act("02-01", "Committee on X Postpone Indefinitely", "lower", "committee-failure"),
            ],
            "failed",
            1,
        ),
        (
            [INTRO, act("06-30", "In committee upon adjournment.", "lower", "committee-failure")],
            "dead",
            1,
        ),
        # a passage vote that repeats in one chamber (concurrence) is still one chamber
        (
            [INTRO, PASS_H, act("03-01", "House repassed bill", "lower", "passage")],
            "passed_one_chamber",
            1,
        ),
        # a committee report in the second chamber does not move the stage back
        (
            [INTRO, PASS_H, act("02-20", "Referred to Finance", "upper", "referral-committee")],
            "passed_one_chamber",
            1,
        ),
    ],
)
def test_progression(actions, stage, index):
    result = compute_stage(actions)
    assert isinstance(result, StageResult)
    assert (result.stage, result.action_index) == (stage, index)
    assert result.stage in ALL_STAGES


def test_reason_names_the_chamber_date_and_action():
    result = compute_stage([INTRO, PASS_H, PASS_S])
    assert result.date == "2025-03-04"
    assert result.reason == "Passed the Senate on 2025-03-04: 'Third reading, passed 32-1'"


def test_actions_as_objects_and_out_of_order_dates():
    @dataclass
    class Action:
        date: str
        description: str
        chamber: str | None
        classification: list[str] = field(default_factory=list)

    rows = [Action(**a) for a in (PASS_S, INTRO, PASS_H)]
    result = compute_stage(rows)
    assert result.stage == "passed_both_chambers" and result.action_index == 0


def test_veto_override_needs_both_chambers():
    base = [INTRO, PASS_H, PASS_S, TO_GOV, VETOED]
    one = act("04-01", "Passed over veto", "lower", "veto-override-passage")
    two = act("04-02", "Passed over veto", "upper", "veto-override-passage")
    assert compute_stage(base + [one]).stage == "vetoed"
    assert "not yet by both" in compute_stage(base + [one]).reason
    result = compute_stage(base + [one, two])
    assert (result.stage, result.reason[:15]) == ("enacted", "Veto overridden")
    unicameral = act("04-01", "Veto overridden", "legislature", "veto-override-passage")
    assert compute_stage(base + [unicameral]).stage == "enacted"


def test_later_progress_clears_a_failed_vote():
    failed = act("02-05", "Third reading, failed", "lower", "failure")
    assert compute_stage([INTRO, failed, PASS_H]).stage == "passed_one_chamber"


def test_unicameral_legislature_passes_in_one_vote():
    result = compute_stage(
        [
            act("01-10", "Introduced", "legislature", "introduction"),
            act("03-01", "Passed on Final Reading 45-0-4", "legislature", "passage"),
        ]
    )
    assert result.stage == "passed_both_chambers"
    assert "the Legislature" in result.reason


def test_unknown_chamber_counts_first_passage_as_origin_then_the_other():
    a = act("02-01", "Passed", None, "passage")
    b = act("03-01", "Passed", None, "passage")
    assert compute_stage([INTRO, a], bill_chamber="upper").stage == "passed_one_chamber"
    assert compute_stage([INTRO, a, b], bill_chamber="upper").stage == "passed_both_chambers"


def test_resolutions_are_adopted_never_enacted():
    adopted = act("02-01", "Adopted.", "upper", "passage")
    result = compute_stage([adopted], bill_classification=["resolution"])
    assert (result.stage, result.furthest) == ("adopted", "adopted")
    assert result.reason.startswith("Adopted by the Senate")
    assert (
        compute_stage([adopted], bill_classification=["joint resolution"]).stage
        == "passed_one_chamber"
    )
    both = [adopted, act("03-01", "Adopted.", "lower", "passage")]
    for kind in ("concurrent resolution", "joint memorial", "constitutional amendment"):
        assert compute_stage(both, bill_classification=[kind]).stage == "adopted"
    assert compute_stage([adopted], bill_classification=["bill"]).stage == "passed_one_chamber"
    # a governor's signature recorded on a memorial still does not make it a law
    signed = both + [SIGNED]
    assert compute_stage(signed, bill_classification=["joint memorial"]).stage == "adopted"
    assert compute_stage(signed, bill_classification=["bill"]).stage == "enacted"


@pytest.mark.parametrize(
    ("classification", "identifier", "kind"),
    [
        (["resolution"], "HB 1", "simple"),  # the classification decides
        (["concurrent resolution"], None, "joint"),
        (["bill"], "SR 14", "simple"),  # a scraper defaulting to "bill": the prefix decides
        ([], "H.R. 101", "simple"),
        (["bill"], "HJR 3", "joint"),
        (["bill"], "SCR 12", "joint"),
        (["bill"], "SJM 6", "joint"),
        (["bill"], "HM 40", "simple"),
        (["bill"], "AJR 2", "joint"),
        (["bill"], "SB 5", None),
        (["bill"], "HB 1104", None),
        (["bill"], "S 6169", None),
        (["appropriation"], "SR 1", None),  # a kind other than bill: not guessed from the prefix
    ],
)
def test_resolution_kind(classification, identifier, kind):
    assert resolution_kind(classification, identifier) == kind
    steps = ladder(classification, identifier)
    assert ("adopted" in steps, "enacted" in steps) == (kind is not None, kind is None)


def test_identifier_prefix_makes_an_adopted_resolution_when_classification_is_bill():
    adopted = act("02-24", "Adopted", "upper", "passage")
    result = compute_stage([INTRO, adopted], bill_classification=["bill"], identifier="SR 14")
    assert result.stage == "adopted"


def test_failed_vote_reconsidered_then_passed_counts_both_chambers():
    failed = act("03-05", "Third reading, failed 30-34", "upper", "reading-3", "failure")
    again = act("03-06", "Motion to reconsider prevailed", "upper")
    passed = act("03-07", "Third reading, passed 35-29", "upper", "reading-3", "passage")
    assert compute_stage([INTRO, PASS_H, failed]).stage == "failed"
    assert compute_stage([INTRO, PASS_H, failed, again]).stage == "passed_one_chamber"
    assert compute_stage([INTRO, PASS_H, failed, again, passed]).stage == "passed_both_chambers"


def test_reconsidered_passage_is_undone_and_a_tabled_motion_changes_nothing():
    reconsidered = act("02-11", "Vote by which bill passed reconsidered", "lower")
    result = compute_stage([INTRO, REFER, REPORT, PASS_H, reconsidered])
    assert (result.stage, result.furthest) == ("passed_committee", "passed_one_chamber")
    for text in (
        "Motion to reconsider tabled",
        "Motion to reconsider and table motion to reconsider prevailed",
        "Notice of motion to reconsider",
        "Motion to reconsider lost",
    ):
        kept = compute_stage([INTRO, REFER, REPORT, PASS_H, act("02-11", text, "lower")])
        assert kept.stage == "passed_one_chamber", text


def test_reported_and_committed_to_another_committee_is_committee_passage():
    report = act("02-01", "REPORTED AND COMMITTED TO FINANCE", "upper", "referral-committee")
    result = compute_stage([INTRO, REFER, report])
    assert (result.stage, result.action_index) == ("passed_committee", 2)
    # discharged is not reported; a report against the bill is not passage
    for text in ("COMMITTEE DISCHARGED AND COMMITTED TO RULES", "Reported adversely, re-referred"):
        moved = act("02-01", text, "upper", "referral-committee")
        assert compute_stage([INTRO, REFER, moved]).stage == "in_committee", text
    # a later referral to the next committee does not take the ladder back down
    later = act("02-09", "Referred to Appropriations", "upper", "referral-committee")
    assert compute_stage([INTRO, REFER, report, later]).stage == "passed_committee"


def test_held_in_committee_then_referred_again_is_in_committee():
    held = act("03-01", "Held in committee", "lower", "committee-failure")
    again = act("03-10", "Re-referred to Health", "lower", "referral-committee")
    assert compute_stage([INTRO, REFER, held]).stage == "failed"
    result = compute_stage([INTRO, REFER, held, again])
    assert (result.stage, result.action_index) == ("in_committee", 3)


def test_died_in_second_chamber_restarts_in_the_first_after_a_new_referral():
    died = act("12-31", "died in assembly", "lower", "failure")
    back = act("12-31", "REFERRED TO HEALTH", "upper", "referral-committee")
    base = [INTRO, REFER, REPORT, PASS_H]
    senate_first = [dict(a, chamber="upper") for a in base]
    to_house = act("03-01", "referred to health", "lower", "referral-committee")
    history = senate_first + [to_house, died]
    assert compute_stage(history).stage == "failed"
    result = compute_stage(history + [back])
    assert (result.stage, result.furthest) == ("in_committee", "passed_one_chamber")
    # a conference or concurrence referral in the chamber whose vote failed is no restart
    refused = act("04-01", "Senate refuses to concur", "upper", "failure")
    conference = act("04-02", "Referred to conference committee", "upper", "referral-committee")
    both = [INTRO, PASS_H, PASS_S, refused, conference]
    assert compute_stage(both).stage == "passed_both_chambers"


def test_returned_to_the_house_of_origin_committee_voids_its_passage():
    to_senate = act("02-20", "First reading, referred to Health", "upper", "referral-committee")
    returned = act(
        "04-27", "By resolution, returned to House Rules Committee for third reading.", "upper"
    )
    result = compute_stage([INTRO, REFER, REPORT, PASS_H, to_senate, returned])
    assert (result.stage, result.furthest) == ("passed_committee", "passed_one_chamber")
    # "returned to the Senate with amendments" is a message between chambers, not a return
    message = act("03-20", "Returned to the Senate with amendments", "lower")
    assert compute_stage([INTRO, PASS_S, PASS_H, message]).stage == "passed_both_chambers"


def test_stage_text_shows_the_furthest_step_beside_an_ended_bill():
    assert stage_text("dead", "passed_one_chamber") == "Died (furthest: passed one chamber)"
    assert stage_text("in_committee", "passed_one_chamber") == (
        "In committee (furthest: passed one chamber)"
    )
    assert stage_text("passed_one_chamber", "passed_one_chamber") == "Passed one chamber"
    assert stage_text("dead", "introduced") == "Died"
    assert stage_text("adopted") == "Adopted (resolution)"
    assert "adopted" in STAGES and "adopted" not in BILL_LADDER and "adopted" not in LAW_STAGES


def test_dead_when_session_over_without_enactment():
    today = date(2025, 7, 1)
    result = compute_stage([INTRO, REFER], session_end="2025-06-15", today=today)
    assert result.stage == "dead" and result.date == "2025-06-15"
    assert result.reason.startswith(
        "Session ended on 2025-06-15 without enactment; last step: Referred"
    )
    assert (
        compute_stage([INTRO, REFER], session_end="2025-07-15", today=today).stage == "in_committee"
    )
    # the governor may still act after sine die; enacted and vetoed bills are not dead
    assert (
        compute_stage([INTRO, PASS_H, PASS_S, TO_GOV], session_end="2025-06-15", today=today).stage
        == "sent_to_governor"
    )
    assert (
        compute_stage(
            [INTRO, PASS_H, PASS_S, TO_GOV, SIGNED], session_end="2025-06-15", today=today
        ).stage
        == "enacted"
    )
    assert compute_stage([INTRO, VETOED], session_end="2025-06-15", today=today).stage == "vetoed"


def test_line_item_veto_is_not_a_veto():
    partial = act("03-20", "Governor partially vetoed.", "executive", "executive-veto-line-item")
    assert compute_stage([INTRO, PASS_H, PASS_S, TO_GOV, partial, SIGNED]).stage == "enacted"


def test_real_legiscan_histories_agree_with_legiscan_status(shared_data):
    """Colorado 2025: our rules + stages against LegiScan's status on every bill of the session."""
    path = glob.glob(str(shared_data / "legiscan" / "bulk_csv" / "CO_2025*.zip"))[0]
    with zipfile.ZipFile(path) as zf:
        names = zf.namelist()
        bills = list(
            csv.DictReader(
                io.TextIOWrapper(
                    zf.open(next(n for n in names if n.endswith("/bills.csv"))), encoding="utf-8"
                )
            )
        )
        history: dict[str, list[dict]] = {}
        for row in csv.DictReader(
            io.TextIOWrapper(
                zf.open(next(n for n in names if n.endswith("/history.csv"))), encoding="utf-8"
            )
        ):
            history.setdefault(row["bill_id"], []).append(row)
    to_legiscan = {
        "enacted": "Passed",
        "adopted": "Passed",  # LegiScan's "Passed" covers adopted resolutions
        "vetoed": "Vetoed",
        "failed": "Failed",
        "dead": "Failed",
    }
    chambers = {"House": "lower", "Senate": "upper"}
    # the 2025 session had ended by the snapshot: its last recorded action bounds the session end
    session_end = max(r["date"] for rows in history.values() for r in rows)
    kinds = {
        "R": ["resolution"],
        "C": ["concurrent resolution"],
        "J": ["joint resolution"],
        "M": ["memorial"],
    }
    agree = 0
    for bill in bills:
        rows = sorted(
            history.get(bill["bill_id"], []), key=lambda r: (r["date"], int(r["sequence"]))
        )
        actions = [
            {
                "date": r["date"],
                "description": r["action"],
                "chamber": chambers.get(r["chamber"]),
                "classification": classify_action(r["action"], chambers.get(r["chamber"]), "co"),
            }
            for r in rows
        ]
        kind = kinds.get(bill["bill_number"][1:2], ["bill"])
        ours = compute_stage(
            actions, bill_classification=kind, session_end=session_end, today=date(2025, 12, 31)
        ).stage
        agree += to_legiscan.get(ours, "other") == bill["status_desc"] or (
            bill["status_desc"] in ("Introduced", "Engrossed") and ours not in to_legiscan
        )
    assert agree / len(bills) > 0.9


# ------------------------------------------------------------------ real pages and real data


def _ny_page(real_html, name: str, today: date) -> dict:
    """A saved New York LBDC page through the state's config, as `tracker scrapers parse` runs it;
    the stage is recomputed with its furthest step, as ingest does."""
    config = load_state_config("ny")
    kind = "billstat" if name.endswith(".xml") else "lbdc"
    bill = parse_pages(config, {kind: (real_html / "ny" / name).read_bytes()}, today=today)
    spec = config.session(bill["legislative_session"])
    result = compute_stage(
        bill["actions"],
        bill_chamber=bill["chamber"],
        session_end=spec.end_date.isoformat() if spec.end_date else None,
        today=today,
        bill_classification=bill["classification"],
        identifier=bill["identifier"],
    )
    assert result.stage == bill["stage"]  # the engine's stage is this computation
    return {"stage": result.stage, "furthest": result.furthest, "reason": result.reason}


@pytest.mark.shared
def test_ny_s6169b_died_in_assembly_and_re_referred_is_in_committee(real_html):
    """2023: passed the Senate, died in the Assembly; January 2024: returned to the Senate,
    re-referred and amended in committee. Saved on 2024-01-09, it is in committee again."""
    got = _ny_page(real_html, "lbdc_2023_S6169B_bill_status_20240109.html", date(2024, 1, 9))
    assert (got["stage"], got["furthest"]) == ("in_committee", "passed_one_chamber")
    assert "2024-01-0" in got["reason"]


@pytest.mark.shared
def test_ny_s434_passed_the_senate_twice_then_the_session_ended(real_html):
    """2015: passed the Senate, died in the Assembly; 2016: re-referred, re-reported, passed the
    Senate again and sat in an Assembly committee when the 2015-16 session ended."""
    name = "lbdc_2015_S434_bill_status_20180510.html"
    saved = _ny_page(real_html, name, date(2018, 5, 10))
    assert (saved["stage"], saved["furthest"]) == ("dead", "passed_one_chamber")
    during = _ny_page(real_html, name, date(2016, 6, 20))
    assert (during["stage"], during["furthest"]) == ("passed_one_chamber", "passed_one_chamber")
    assert "2016-06-14" in during["reason"]  # the second passage, not the first


@pytest.mark.shared
def test_ny_recalled_and_reconsidered_vote_is_back_on_the_floor(real_html):
    """S5186 saved three times in 2023: passed the Senate; recalled from the Assembly; then
    "VOTE RECONSIDERED - RESTORED TO THIRD READING" undoes the Senate's passage."""
    today = date(2023, 6, 1)
    first = _ny_page(real_html, "lbdc_billstat_2023_S05186_a.xml", today)
    recalled = _ny_page(real_html, "lbdc_billstat_2023_S05186_b.xml", today)
    reconsidered = _ny_page(real_html, "lbdc_billstat_2023_S05186_c.xml", today)
    assert first["stage"] == recalled["stage"] == "passed_one_chamber"
    assert (reconsidered["stage"], reconsidered["furthest"]) == (
        "passed_committee",
        "passed_one_chamber",
    )


def _openstates_bills(shared_data, state: str, identifiers: set[str] | None = None):
    """Bills of a Windy Civi (Open States scraper output) tarball with our rules' action classes,
    as bench_stages reads LegiScan histories: the stage is judged on our own rules."""
    tarball = shared_data / f"openstates/windy_civi_2025/{state}-data-pipeline_metadata.tar.gz"
    for bill in iter_openstates([tarball]):
        if not isinstance(bill, ScrapedBill):
            continue
        if identifiers is not None and bill.identifier not in identifiers:
            continue
        actions = [
            {
                "date": a.date,
                "description": a.description,
                "chamber": a.chamber,
                "classification": classify_action(a.description, a.chamber, state),
            }
            for a in bill.actions
        ]
        yield (
            bill,
            compute_stage(
                actions,
                bill_chamber=bill.chamber,
                bill_classification=list(bill.classification),
                identifier=bill.identifier,
            ),
        )


@pytest.mark.shared
def test_minnesota_resolutions_are_adopted_not_enacted(shared_data):
    """MN SR 14 (a Senate rules resolution) was shown in a digest as "Enacted"; no MN resolution
    is a law, while MN bills signed by the governor still are."""
    stages: dict[str, Counter] = {"resolution": Counter(), "bill": Counter()}
    for bill, result in _openstates_bills(shared_data, "mn"):
        kind = "bill" if resolution_kind(bill.classification) is None else "resolution"
        stages[kind][result.stage] += 1
        if bill.identifier == "SR 14" and bill.legislative_session == "2025-2026":
            assert result.stage == "adopted"
            assert stage_text(result.stage) == "Adopted (resolution)"
    assert stages["resolution"]["adopted"] >= 15
    assert not set(stages["resolution"]) & LAW_STAGES
    assert stages["bill"]["enacted"] >= 40 and stages["bill"]["adopted"] == 0


@pytest.mark.shared
def test_washington_bills_returned_to_the_house_of_origin_must_pass_it_again(shared_data):
    """At the end of its first year Washington returns bills that passed one chamber to the house
    of origin's Rules Committee "for third reading": awaiting that floor vote again."""
    returned = 0
    for bill, result in _openstates_bills(shared_data, "wa"):
        texts = " ".join(a.description for a in bill.actions).lower()
        if "returned to senate rules committee for third reading" in texts:
            returned += 1
            assert (result.stage, result.furthest) == ("passed_committee", "passed_one_chamber")
            assert result.reason.startswith("Returned to the Senate")
    assert returned >= 50


# ------------------------------------------------------------------ through ingest, pages, digest


def _this_week(bill: ScrapedBill, today: date) -> ScrapedBill:
    """The bill with its real actions moved to end yesterday (the digest reads this week)."""
    last = max(date.fromisoformat(a.date[:10]) for a in bill.actions)
    shift = today.toordinal() - 1 - last.toordinal()
    for a in bill.actions:
        a.date = date.fromordinal(date.fromisoformat(a.date[:10]).toordinal() + shift).isoformat()
    return bill


@pytest.mark.shared
def test_an_adopted_resolution_is_never_a_law_in_pages_digests_or_the_map(
    engine, shared_data, monkeypatch
):  # type: ignore[no-untyped-def]
    """MN SR 14 through the real path: ingest (introduced, then adopted) -> bill row, change
    row, digest and map. It reads "Adopted (resolution)" everywhere and counts as no law."""
    import tracker.understand as understand
    from tracker import digest, digest_render, subscriptions
    from tracker.ingest import ingest_bills
    from tracker.topics import TopicResult
    from tracker.web.data import bill_page
    from tracker.web.data.overview import MAP_RANK, furthest

    monkeypatch.setattr(  # the topic is another module's business: keep the bill in the digest
        understand, "classify_topic", lambda **kw: TopicResult("single-payer", True, 9.0, [])
    )
    today = date.today()
    tarball = shared_data / "openstates/windy_civi_2025/mn-data-pipeline_metadata.tar.gz"
    sr14 = next(
        b
        for b in iter_openstates([tarball])
        if isinstance(b, ScrapedBill)
        and b.identifier == "SR 14"
        and b.legislative_session == "2025-2026"
    )
    sr14 = _this_week(sr14, today)
    introduced = sr14.model_copy(update={"actions": sr14.actions[:1]})
    ingest_bills(engine, [introduced], source="import:openstates", kind="import")
    ingest_bills(engine, [sr14], source="import:openstates", kind="import")
    with engine.connect() as conn:
        row = conn.execute(
            sql("SELECT id, stage, furthest_stage FROM bill WHERE identifier = 'SR 14'")
        ).one()
        assert (row.stage, row.furthest_stage) == ("adopted", "adopted")
        page = bill_page(conn, row.id)
        week = digest.load_week(conn, period=digest.format_period(today))
    bar = page["stage_bar"]
    assert [s["stage"] for s in bar["steps"]][-1] == "adopted"
    assert "enacted" not in [s["stage"] for s in bar["steps"]]
    item = next(b for b in week.bills.values() if b.identifier == "SR 14")
    assert (item.headline, item.enacted) == ("Adopted (resolution)", False)
    out = digest_render.DigestRenderer(week).render(
        subscriptions.make_preferences(states=["mn"]),
        email="a@example.org",
        manage_url="https://t.example/m",
        unsubscribe_url="https://t.example/u",
    )
    assert "Adopted (resolution) (was Introduced)" in out.text
    summary = next(line for line in out.text.splitlines() if " changed" in line)
    assert "Enacted" not in out.text and "enacted" not in summary
    # on the map a bill that passed a chamber outranks an adopted resolution
    assert furthest(["adopted", "passed_one_chamber"]) == "passed_one_chamber"
    assert furthest(["adopted", "in_committee"]) == "adopted"
    assert MAP_RANK["adopted"] < MAP_RANK["sent_to_governor"] < MAP_RANK["enacted"]


@pytest.mark.shared
def test_a_dead_bill_page_shows_the_furthest_stage(engine, real_html):  # type: ignore[no-untyped-def]
    """NY S434 ingested from its saved page (its 2015-16 session is over): the bill page shows
    "Died (furthest: passed one chamber)" and the ladder marks the steps it reached."""
    from scrapers.engine import bill_from_pages
    from tracker.ingest import ingest_bills
    from tracker.web.data import bill_page

    config = load_state_config("ny")
    page = (real_html / "ny" / "lbdc_2015_S434_bill_status_20180510.html").read_bytes()
    bill = bill_from_pages(config, {"lbdc": (page, None)})
    ingest_bills(engine, [bill], source="scrape:ny", kind="scrape")
    with engine.connect() as conn:
        row = conn.execute(sql("SELECT id, stage, furthest_stage FROM bill")).one()
        bar = bill_page(conn, row.id)["stage_bar"]
    assert row.furthest_stage == "passed_one_chamber"
    assert row.stage in ("dead", "passed_one_chamber")
    if row.stage == "dead":
        assert bar["label"] == "Died (furthest: passed one chamber)"
        assert bar["terminal"] == "dead"
    done = [s["stage"] for s in bar["steps"] if s["done"]]
    assert done[-1] == "passed_one_chamber"


def test_migration_rewrites_stored_enacted_resolutions_as_adopted(tmp_path):  # type: ignore[no-untyped-def]
    """Rows stored before 0007: a resolution saved as "enacted" becomes "adopted" (so the next
    ingest reports no change nobody made); progress stages become their own furthest."""
    from tracker.db import make_engine, upgrade

    eng = make_engine(f"sqlite:///{tmp_path / 'old.db'}")
    for head in ("0003_subscriptions", "0004_scheduler", "0005_sources", "0006_search_speed"):
        upgrade(eng, head)
    insert = sql(
        "INSERT INTO bill (state, session, identifier, title, identifier_norm, classification,"
        " subjects, abstracts, other_titles, other_identifiers, related_bills, sources, extras,"
        " primary_source, stage, stage_reason, topic_evidence, topic_pinned, relevant)"
        " VALUES ('mn', '2025-2026', :i, 't', :n, :k, '[]', '[]', '[]', '[]', '[]', '[]', '{}',"
        " 'x', :s, '{}', '[]', 0, 0)"
    )
    rows = [
        ("SR 14", "SR14", '["resolution"]', "enacted"),
        ("HR 3", "HR3", '["bill"]', "enacted"),  # a scraper's default "bill": prefix decides
        ("SF 1", "SF1", '["bill"]', "enacted"),
        ("SF 2", "SF2", '["bill"]', "in_committee"),
        ("SF 3", "SF3", '["bill"]', "dead"),
    ]
    with eng.begin() as conn:
        for identifier, norm, kinds, stage in rows:
            conn.execute(insert, {"i": identifier, "n": norm, "k": kinds, "s": stage})
    upgrade(eng)
    with eng.connect() as conn:
        got = dict(
            (r.identifier, (r.stage, r.furthest_stage))
            for r in conn.execute(sql("SELECT identifier, stage, furthest_stage FROM bill"))
        )
    eng.dispose()
    assert got == {
        "SR 14": ("adopted", "adopted"),
        "HR 3": ("adopted", "adopted"),
        "SF 1": ("enacted", "enacted"),
        "SF 2": ("in_committee", "in_committee"),
        "SF 3": ("dead", None),
    }


def test_same_day_introduction_goes_first_whatever_order_the_source_lists() -> None:
    # Open States' Colorado data lists a same-day postponement before the introduction.
    postponed = act("08-21", "House Committee Postpone Indefinitely", "lower", "committee-failure")
    introduced = act(
        "08-21",
        "Introduced In House - Assigned to Health",
        "lower",
        "introduction",
        "referral-committee",
    )
    result = compute_stage([postponed, introduced], bill_chamber="lower")
    assert result.stage == "failed"
    assert compute_stage([introduced, postponed], bill_chamber="lower").stage == "failed"


def test_our_rules_add_to_a_source_that_labels_half_of_an_action() -> None:
    from tracker.understand import classified_actions

    bill = ScrapedBill(
        state="wa",
        legislative_session="2025-2026",
        identifier="SB 5300",
        title="synthetic: a bill whose source labels readings only",
        chamber="upper",
        actions=[
            {"date": "2025-01-13", "description": "First reading, referred to Environment.",
             "chamber": "upper", "classification": ["reading-1"]},
            {"date": "2025-03-04", "description": "Third reading, passed; yeas, 48; nays, 0.",
             "chamber": "upper", "classification": ["reading-3"]},
        ],
    )  # fmt: skip
    rows = classified_actions(bill)
    assert rows[0]["classification"][0] == "reading-1"  # the source's own label comes first
    assert "referral-committee" in rows[0]["classification"]
    assert {"reading-3", "passage"} <= set(rows[1]["classification"])
    assert compute_stage(rows, bill_chamber="upper").stage == "passed_one_chamber"


def test_reason_of_a_step_overtaken_and_of_a_dead_bill() -> None:
    """The reason is written from the deciding action only (steps keep the action's text):
    the same words whichever steps came before it."""
    actions = [
        {"date": "2025-01-05", "description": "Introduced", "classification": ["introduction"]},
        {
            "date": "2025-01-08",
            "description": "  Referred   to\nHealth ",
            "classification": ["referral-committee"],
        },
    ]
    result = compute_stage(actions, session_end="2025-06-01", today=date(2026, 1, 1))
    assert result.stage == "dead"
    assert result.reason == (
        "Session ended on 2025-06-01 without enactment; last step: "
        "Referred to committee on 2025-01-08: 'Referred to Health'"
    )
    long = [{"date": "", "description": "x" * 200, "classification": ["introduction"]}]
    assert compute_stage(long).reason == "Introduced on an unknown date: '" + "x" * 159 + "…'"
