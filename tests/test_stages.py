"""Stage of a bill from its classified actions (synthetic action lists; real wording)."""

from __future__ import annotations

import csv
import glob
import io
import zipfile
from dataclasses import dataclass, field
from datetime import date

import pytest

from tracker.actions import classify_action
from tracker.stages import StageResult, compute_stage
from tracker.vocab import ALL_STAGES


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


def test_resolutions():
    adopted = act("02-01", "Adopted.", "upper", "passage")
    assert compute_stage([adopted], bill_classification=["resolution"]).stage == "enacted"
    assert (
        compute_stage([adopted], bill_classification=["joint resolution"]).stage
        == "passed_one_chamber"
    )
    both = [adopted, act("03-01", "Adopted.", "lower", "passage")]
    assert compute_stage(both, bill_classification=["concurrent resolution"]).stage == "enacted"
    assert compute_stage([adopted], bill_classification=["bill"]).stage == "passed_one_chamber"


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
    to_legiscan = {"enacted": "Passed", "vetoed": "Vetoed", "failed": "Failed", "dead": "Failed"}
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
