"""Importers: Open States and LegiScan files -> ScrapedBill, on real shared data and on synthetic
broken inputs (tests/synthetic/ and archives built in tmp_path from small synthetic strings)."""

from __future__ import annotations

import gzip
import io
import json
import random
import tarfile
import zipfile
from pathlib import Path

import pytest

from scrapers.importers import (
    RecordError,
    detect_format,
    iter_legiscan,
    iter_openstates,
    legiscan_session_name,
)
from scrapers.importers.openstates import billy_classification
from tracker.scraped import ScrapedBill

SYNTHETIC = Path(__file__).parent / "synthetic"
OR_SPECIAL_2025 = (
    "OR_2025-2025_1st_Special_Session_CSV_20251009_708eb2835118140a97eb468afd76a4b0.zip"
)
AZ_SPECIAL_2010 = "AZ_2010-2010_Forty-ninth_Legislature_6th_Special_CSV_20100212_850e200124cf546e99a4b2ecdb847a90.zip"
ID_S1001 = (
    "openstates/scraper_output_id_2025/_data/id/bill_9ed87f54-6b70-11f0-a577-9a838052aea8.json"
)


@pytest.fixture(scope="module")
def data(shared_data: Path) -> Path:
    return shared_data


def split(results) -> tuple[list[ScrapedBill], list[RecordError]]:
    bills, errors = [], []
    for item in results:
        (errors if isinstance(item, RecordError) else bills).append(item)
    return bills, errors


def by_id(bills: list[ScrapedBill]) -> dict[str, ScrapedBill]:
    return {b.identifier: b for b in bills}


# --- Open States: real data -------------------------------------------------------------------


def test_pupa_bill_file(data: Path) -> None:
    bills, errors = split(iter_openstates([data / ID_S1001]))
    assert errors == []
    (bill,) = bills
    assert (bill.state, bill.legislative_session, bill.identifier) == ("id", "2025", "S 1001")
    assert bill.title.startswith("UNIFORM PUBLIC EXPRESSION PROTECTION ACT")
    assert bill.chamber == "upper"
    assert len(bill.actions) == 27
    first, last = bill.actions[0], bill.actions[-1]
    assert (first.date, first.chamber, first.classification) == (
        "2025-01-14",
        "upper",
        ["introduction"],
    )
    assert last.classification == ["executive-signature"]
    assert bill.actions[5].chamber == "lower"  # received in the House
    (sponsor,) = bill.sponsorships
    assert (sponsor.name, sponsor.primary, sponsor.entity_type, sponsor.chamber) == (
        "JUDICIARY AND RULES COMMITTEE", True, "organization", "upper",
    )  # fmt: skip
    assert bill.other_titles[0].title == "Public expression protection"
    assert bill.extras["citations"][0]["citation"] == "Chapter 17"
    assert "_id" not in bill.extras and "scraped_at" not in bill.extras


def test_pupa_folder_reads_only_bills(data: Path) -> None:
    progress: list[tuple[str, int]] = []
    folder = data / "openstates/scraper_output_id_2025"
    bills, errors = split(iter_openstates([folder], progress=lambda n, b: progress.append((n, b))))
    assert errors == []
    assert len(bills) == 790  # 39 organization_*.json and the jurisdiction file are skipped
    assert sum(len(b.actions) for b in bills) == 9011
    assert len(progress) == 790 and all(b > 0 for _, b in progress)
    assert {b.state for b in bills} == {"id"}


def test_windy_civi_samples_folder(data: Path) -> None:
    bills, errors = split(iter_openstates([data / "openstates/windy_civi_2025/samples"]))
    assert errors == []
    assert len(bills) == 24
    assert {(b.state, b.legislative_session) for b in bills} == {
        ("ma", "194th"), ("mn", "2025-2026"), ("vt", "2025-2026"), ("wa", "2025-2026"),
    }  # fmt: skip
    s860 = by_id(bills)["S860"]
    assert s860.title == "An Act establishing medicare for all in Massachusetts"
    assert len(s860.actions) == 3
    assert s860.actions[0].committee == "committee on Health Care Financing"
    assert s860.actions[0].classification == ["referral-committee"]
    assert len(s860.sponsorships) == 23
    assert (s860.sponsorships[0].name, s860.sponsorships[0].primary) == ("James B. Eldridge", True)
    hf27 = by_id(bills)["HF 27"]
    assert hf27.actions[0].classification == ["introduction", "referral-committee"]
    assert hf27.related_bills[0].identifier == "SF 1267"


def test_windy_civi_tarball(data: Path) -> None:
    progress: list[str] = []
    path = data / "openstates/windy_civi_2025/or-data-pipeline_metadata.tar.gz"
    bills, errors = split(iter_openstates([path], progress=lambda n, b: progress.append(n)))
    assert errors == []
    assert sorted(b.identifier for b in bills) == ["HB3991", "HB3992", "HCR51"]
    assert all(n.startswith(f"{path}!country:us/state:or/") for n in progress)
    hb3991 = by_id(bills)["HB3991"]
    assert (hb3991.state, hb3991.legislative_session, hb3991.chamber) == ("or", "2025S1", "lower")
    assert len(hb3991.actions) == 23
    # Open States dates with a time and offset stay ISO
    assert hb3991.actions[0].date == "2025-08-30T03:28:53+00:00"
    assert hb3991.actions[0].classification == ["introduction", "reading-1", "referral-committee"]
    assert [s.name for s in by_id(bills)["HCR51"].sponsorships] == ["Julie Fahey"]


def test_billy_csv_folder(data: Path) -> None:
    bills, errors = split(iter_openstates([data / "openstates/billy_csv_ak_27"]))
    assert errors == []
    assert len(bills) == 1499
    assert sum(len(b.actions) for b in bills) == 27903
    hb1 = next(b for b in bills if b.identifier == "HB 1" and b.legislative_session == "27")
    assert hb1.state == "ak" and hb1.chamber == "lower"
    assert hb1.title.startswith(
        "An Act stating a public policy that allows a person"
    )  # quotes gone
    assert hb1.subject[0] == "Health"
    assert (hb1.actions[0].date, hb1.actions[0].description) == ("2011-01-07", "Prefile released")
    assert hb1.actions[0].classification == []  # billy "other"
    assert hb1.actions[1].classification == ["introduction", "reading-1"]
    assert hb1.actions[2].classification == ["referral-committee"]
    assert [(s.name, s.primary) for s in hb1.sponsorships[:2]] == [("GATTO", True), ("LYNN", False)]


def test_billy_files_named_explicitly_import_once(data: Path) -> None:
    folder = data / "openstates/billy_csv_ak_27"
    names = ["ak_bills.csv", "ak_bill_actions.csv", "ak_bill_sponsors.csv"]
    bills, errors = split(iter_openstates([folder / n for n in names]))
    assert errors == [] and len(bills) == 1499


def test_billy_vocabulary() -> None:
    assert billy_classification("bill:introduced|bill:reading:1") == ["introduction", "reading-1"]
    assert billy_classification("committee:passed") == ["committee-passage"]
    assert billy_classification("governor:signed") == ["executive-signature"]
    assert billy_classification("governor:received") == ["executive-receipt"]
    assert billy_classification("committee:failed") == ["committee-failure"]
    assert billy_classification("bill:passed") == ["passage"]
    assert billy_classification("other") == []
    assert billy_classification("no:such:type") == []


# --- LegiScan: real data ----------------------------------------------------------------------


def test_legiscan_csv_zip(data: Path) -> None:
    path = data / "legiscan/archive" / OR_SPECIAL_2025
    progress: list[tuple[str, int]] = []
    bills, errors = split(iter_legiscan([path], progress=lambda n, b: progress.append((n, b))))
    assert errors == []
    assert progress == [(str(path), path.stat().st_size)]
    assert sorted(b.identifier for b in bills) == ["HB3991", "HB3992", "HCR51", "SB1221"]
    hb = by_id(bills)["HB3991"]
    assert (hb.state, hb.legislative_session, hb.chamber) == ("or", "2025S1", "lower")
    assert len(hb.actions) == 23
    assert (hb.actions[0].date, hb.actions[0].chamber) == ("2025-08-29", "lower")
    assert hb.actions[0].description == "First reading. Referred to Speaker's desk."
    (sponsor,) = hb.sponsorships
    assert (sponsor.name, sponsor.primary, sponsor.classification) == (
        "Transportation Funding",
        True,
        "primary",
    )
    assert len(hb.versions) == 4 and hb.versions[0].note == "Introduced"
    assert hb.versions[0].links[0].media_type == "application/pdf"
    assert hb.versions[0].links[1].url.startswith("https://legiscan.com/OR/text/HB3991/")
    assert len(hb.documents) == 35
    vote = hb.votes[0]
    assert (vote.date, vote.chamber, vote.yes, vote.no, vote.other) == (
        "2025-08-31",
        "lower",
        7,
        5,
        0,
    )
    legiscan = hb.extras["legiscan"]
    assert (legiscan["bill_id"], legiscan["status"], legiscan["status_desc"]) == (
        2042950,
        3,
        "Enrolled",
    )
    assert legiscan["status_date"] == "2025-09-29"
    assert [s.note for s in hb.sources] == ["state", "LegiScan"]


def test_legiscan_and_openstates_agree_on_session_and_actions(data: Path) -> None:
    legiscan = by_id(split(iter_legiscan([data / "legiscan/archive" / OR_SPECIAL_2025]))[0])
    tarball = data / "openstates/windy_civi_2025/or-data-pipeline_metadata.tar.gz"
    openstates = by_id(split(iter_openstates([tarball]))[0])
    for ident in ("HB3991", "HB3992", "HCR51"):
        assert (
            legiscan[ident].legislative_session == openstates[ident].legislative_session == "2025S1"
        )
        assert len(legiscan[ident].actions) == len(openstates[ident].actions)


def test_legiscan_old_dataset_without_sponsor_order(data: Path) -> None:
    bills, errors = split(iter_legiscan([data / "legiscan/archive" / AZ_SPECIAL_2010]))
    assert errors == []
    assert len(bills) == 11
    sb = by_id(bills)["SB1001"]
    assert (sb.legislative_session, sb.chamber, len(sb.actions)) == (
        "49th-6th-special",
        "upper",
        28,
    )
    assert sb.actions[0].date == "2010-02-01" and sb.actions[0].chamber is None  # no chamber column
    # position 0 everywhere in 2010 data: rank unknown, so nobody is marked primary
    assert [(s.name, s.classification, s.primary) for s in sb.sponsorships[:2]] == [
        ("Stephen Pierce", "sponsor", False), ("Linda Gray", "sponsor", False),
    ]  # fmt: skip
    assert sb.extras["legiscan"]["status_desc"] == "Passed"


def test_legiscan_api_json_folder(data: Path) -> None:
    bills, errors = split(iter_legiscan([data / "legiscan/api_json"]))
    assert errors == []  # people/, vote/ and text/ payloads are not bills: skipped in a folder
    assert sorted(b.identifier for b in bills) == [
        "HB1",
        "HB1044",
        "HB1045",
        "HB1046",
        "HB2",
        "HB3",
    ]
    hb1 = by_id(bills)["HB1"]
    assert (hb1.state, hb1.legislative_session, hb1.chamber) == ("ak", "27", "lower")
    assert hb1.title == "Policy For Securing Health Care Services"
    assert hb1.abstracts[0].abstract.startswith("An Act stating a public policy")
    assert len(hb1.actions) == 27
    assert (hb1.actions[0].date, hb1.actions[0].description) == (
        "2011-01-18",
        "PREFILE RELEASED 1/7/11",
    )
    assert [s.name for s in hb1.sponsorships[:2]] == ["Carl Gatto", "Robert Lynn"]
    assert hb1.sponsorships[0].chamber == "lower"
    assert hb1.subject == [
        "Attorney General",
        "Insurance",
        "Intergovernmental Relations",
        "Medical Care",
    ]
    assert hb1.versions[0].date == "2011-01-18" and hb1.versions[0].note == "Introduced"
    extras = hb1.extras["legiscan"]
    assert extras["change_hash"] == "38558907f12c02a238b1cd43d2a37393"
    assert extras["progress"][0] == {"date": "2011-01-18", "event": 1}
    assert extras["status"] == 2 and extras["status_desc"] == "Engrossed"
    ar = by_id(bills)["HB1044"]
    assert (ar.state, ar.legislative_session) == ("ar", "2012F")
    assert (ar.sponsorships[0].name, ar.sponsorships[0].entity_type) == (
        "Joint Budget Committee",
        "organization",
    )
    vote = ar.votes[0]
    assert (vote.result, vote.yes, vote.no, vote.chamber) == ("pass", 94, 0, "lower")


def test_legiscan_json_dataset_zip(data: Path, tmp_path: Path) -> None:
    archive = (
        tmp_path / "AK_27th_synthetic_JSON.zip"
    )  # LegiScan's JSON dataset layout, real payloads
    with zipfile.ZipFile(archive, "w") as zf:
        for kind, name in (("bill", "HB1.json"), ("bill", "HB2.json"), ("people", "8630.json")):
            src = data / "legiscan/api_json" / ("people" if kind == "people" else "bill") / name
            zf.write(src, f"AK/2011-2012_27th_Legislature/{kind}/{name}")
        zf.write(
            data / "legiscan/api_json/vote/154366.json",
            "AK/2011-2012_27th_Legislature/bill/vote.json",
        )
    bills, errors = split(iter_legiscan([archive]))
    assert errors == []  # a roll_call payload among the bills is skipped, not yielded as None
    assert sorted(b.identifier for b in bills) == ["HB1", "HB2"]


def test_legiscan_non_bill_payload_named_explicitly(data: Path) -> None:
    _, errors = split(iter_legiscan([data / "legiscan/api_json/people/8630.json"]))
    assert len(errors) == 1 and "not a LegiScan getBill record" in errors[0].message


def test_same_ak_session_from_billy_and_legiscan(data: Path) -> None:
    api = by_id(split(iter_legiscan([data / "legiscan/api_json/bill/HB1.json"]))[0])["HB1"]
    billy = split(iter_openstates([data / "openstates/billy_csv_ak_27/ak_bills.csv"]))[0]
    hb1 = next(b for b in billy if b.identifier == "HB 1" and b.legislative_session == "27")
    assert api.legislative_session == hb1.legislative_session == "27"
    assert api.abstracts[0].abstract == hb1.title


def test_detect_format(data: Path, tmp_path: Path) -> None:
    assert detect_format(data / ID_S1001) == "openstates"
    assert (
        detect_format(data / "openstates/windy_civi_2025/or-data-pipeline_metadata.tar.gz")
        == "openstates"
    )
    assert detect_format(data / "openstates/billy_csv_ak_27") == "openstates"
    assert detect_format(data / "legiscan/archive" / OR_SPECIAL_2025) == "legiscan"
    assert detect_format(data / "legiscan/api_json/bill/HB1.json") == "legiscan"
    assert detect_format(data / "legiscan/bulk_csv") == "legiscan"
    unknown = tmp_path / "synthetic_notes.txt"
    unknown.write_text("SYNTHETIC - not a bill format")
    assert detect_format(unknown) is None
    assert detect_format(tmp_path / "synthetic_missing.json") is None


# --- session names ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("state", "title", "ys", "ye", "special", "expected"),
    [
        ("mn", "94th Legislature", 2025, 2026, 0, "2025-2026"),
        ("mn", "94th Legislature 1st Special Session", 2025, 2025, 0, "2025s1"),
        ("ks", "Regular Session", 2025, 2026, 0, "2025-2026"),
        ("id", "Regular Session", 2025, 2025, 0, "2025"),
        ("wy", "2nd Special Session", 2021, 2021, 1, "2021S2"),
        ("ar", "88th General Assembly Fiscal", 2012, 2012, 0, "2012F"),
        ("ar", "89th General Assembly First Extraordinary", 2013, 2013, 1, "2013S1"),
        ("ak", "27th Legislature", 2011, 2012, 0, "27"),
        ("az", "Fifty-seventh Legislature 1st Regular", 2025, 2025, 0, "57th-1st-regular"),
        ("az", "Forty-ninth Legislature 6th Special", 2010, 2010, 0, "49th-6th-special"),
        ("az", "Fiftieth Legislature 2nd Regular", 2012, 2012, 0, "50th-2nd-regular"),
        ("co", "Regular Session", 2025, 2025, 0, "2025A"),
        ("co", "1st Special Session", 2025, 2025, 0, "2025B"),
        ("ga", "Regular Session", 2025, 2026, 0, "2025_26"),
        ("ga", "Special Session", 2023, 2023, 1, "2023_ss"),
        ("ma", "194th General Court", 2025, 2026, 0, "194th"),
        ("or", "Regular Session", 2025, 2025, 0, "2025R1"),
        ("or", "1st Special Session", 2025, 2025, 0, "2025S1"),
        ("or", "Regular Session", 2019, 2019, 0, "2019 Regular Session"),
        ("or", "1st Special Session", 2018, 2018, 0, "2018 Special Session"),
    ],
)
def test_legiscan_session_name(
    state: str, title: str, ys: int, ye: int, special: int, expected: str
) -> None:
    assert legiscan_session_name(state, title, ys, ye, special) == expected


# --- synthetic broken inputs ------------------------------------------------------------------


def test_openstates_synthetic_folder_reports_and_continues() -> None:
    bills, errors = split(iter_openstates([SYNTHETIC / "openstates"]))
    # organization_synthetic_skipped.json unread; an unknown key is kept, not fatal
    assert [b.identifier for b in bills] == ["H 9001", "H 9003"]
    assert bills[0].state == "id" and bills[0].chamber == "lower"
    assert bills[1].extras["unknown_fields"] == {"chamber_typo": "lower"}
    messages = {Path(e.path).name: e for e in errors}
    assert set(messages) == {
        "bill_synthetic_bad_date.json", "bill_synthetic_broken.json", "bill_synthetic_unknown_key.json",
    }  # fmt: skip
    broken = messages["bill_synthetic_broken.json"]
    assert broken.line == 4 and "broken JSON" in broken.message
    assert str(broken) == f"{broken.path}:4: {broken.message}"
    unknown = messages["bill_synthetic_unknown_key.json"]
    assert unknown.severity == "warning" and "chamber_typo" in unknown.message
    bad_date = messages["bill_synthetic_bad_date.json"]
    assert "actions.0.date" in bad_date.message and "H 9004" in bad_date.message
    assert str(bad_date) == f"{bad_date.path}: {bad_date.message}"  # no line for a whole-file error


def test_openstates_zip_with_a_corrupt_member(tmp_path: Path) -> None:
    ok = (SYNTHETIC / "openstates/bill_synthetic_ok.json").read_bytes()
    archive = tmp_path / "synthetic_bills.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_STORED) as zf:
        zf.writestr("a/bill_synthetic_1.json", ok)
        zf.writestr("b/bill_synthetic_2.json", ok.replace(b"H 9001", b"H 9005"))
    raw = bytearray(archive.read_bytes())
    at = raw.find(b"H 9001")
    raw[at : at + 6] = b"X 0000"  # stored bytes no longer match the CRC
    archive.write_bytes(bytes(raw))
    bills, errors = split(iter_openstates([archive]))
    assert bills == []  # whole or nothing: the sound member waits for a sound archive
    (error,) = errors
    assert error.path == f"{archive}!a/bill_synthetic_1.json"
    assert "archive not imported: damaged member" in error.message


def test_openstates_truncated_tarball(tmp_path: Path) -> None:
    ok = (SYNTHETIC / "openstates/bill_synthetic_ok.json").read_bytes()
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        for i in range(3):
            body = ok.replace(b"H 9001", f"H 91{i:02d}".encode())
            info = tarfile.TarInfo(
                f"country:us/state:id/sessions/2025/bills/H91{i:02d}/metadata.json"
            )
            info.size = len(body)
            tf.addfile(info, io.BytesIO(body))
    whole = gzip.decompress(buf.getvalue())
    archive = tmp_path / "synthetic_truncated.tar.gz"
    cut = whole.index(b"H9102/metadata.json") + 512 + 100  # inside the third member's data
    archive.write_bytes(gzip.compress(whole[:cut]))
    bills, errors = split(iter_openstates([archive]))
    assert bills == []  # whole or nothing
    assert len(errors) == 1 and errors[0].path.startswith(str(archive))
    assert "archive not imported: truncated" in errors[0].message


def _billy_folder(tmp_path: Path, actions: list[str]) -> Path:
    folder = tmp_path / "billy"
    folder.mkdir()
    (folder / "zz_bills.csv").write_text(
        "state,session,chamber,bill_id,title,created_at,updated_at,type,subjects\n"
        'ak,1,lower,HB 1,"""SYNTHETIC one""",,,bill,Health\n'
        "ak,1,lower,HB 2,SYNTHETIC two,,,bill,\n"
        "ak,1,upper,SB 1,SYNTHETIC three,,,resolution,\n"
    )
    (folder / "zz_bill_actions.csv").write_text(
        "state,session,chamber,bill_id,date,action,actor,type\n" + "".join(actions)
    )
    (folder / "zz_bill_sponsors.csv").write_text(
        "state,session,chamber,bill_id,type,name,leg_id\nak,1,lower,HB 1,primary,SYNTHETIC SMITH,X1\n"
    )
    return folder


BILLY_ACTIONS = [
    "ak,1,lower,HB 1,2011-01-01 00:00:00,Filed,lower,bill:filed\n",
    "ak,1,lower,HB 1,2011-01-02 00:00:00,Read first time,lower,bill:introduced|bill:reading:1\n",
    "ak,1,upper,SB 1,2011-01-03 00:00:00,Referred,upper,committee:referred\n",
    "ak,1,upper,SB 1,2011-01-04 00:00:00,Signed,governor,governor:signed\n",
]


@pytest.mark.parametrize("shuffle", [False, True], ids=["in-order", "shuffled"])
def test_billy_join_in_order_and_shuffled(tmp_path: Path, shuffle: bool) -> None:
    actions = list(BILLY_ACTIONS)
    if shuffle:
        random.Random(4).shuffle(actions)
        assert actions != BILLY_ACTIONS
    bills, errors = split(iter_openstates([_billy_folder(tmp_path, actions)]))
    assert errors == []
    got = {b.identifier: b for b in bills}
    assert got["HB 1"].title == "SYNTHETIC one"
    assert sorted(a.date for a in got["HB 1"].actions) == ["2011-01-01", "2011-01-02"]
    assert got["HB 2"].actions == []
    assert {a.chamber for a in got["SB 1"].actions} == {"upper", "executive"}
    assert got["HB 1"].sponsorships[0].name == "SYNTHETIC SMITH"


def test_billy_orphan_and_short_rows(tmp_path: Path) -> None:
    actions = [
        *BILLY_ACTIONS,
        "ak,1,lower,HB 9,2011-01-05 00:00:00,Orphan,lower,other\n",
        "ak,1,lower,HB 2,2011-01-06 00:00:00\n",
    ]
    bills, errors = split(iter_openstates([_billy_folder(tmp_path, actions)]))
    assert len(bills) == 3
    assert [(Path(e.path).name, e.line) for e in errors] == [
        ("zz_bill_actions.csv", 7), ("zz_bill_actions.csv", 6),
    ]  # fmt: skip
    assert "expected 8 columns, got 5" in errors[0].message
    assert "1 bill(s) not in the bills file" in errors[1].message and "HB 9" in errors[1].message


LEGISCAN_CSV = {
    "bills.csv": (
        "bill_id,session_id,bill_number,status,status_desc,status_date,title,description,committee_id,"
        "committee,last_action_date,last_action,url,state_link\n"
        "1,9,HF1,1,Introduced,2025-06-01,SYNTHETIC one,SYNTHETIC one long,0,,,,https://legiscan.invalid/1,\n"
        "2,9,HF2,1,Introduced,2025-06-01,SYNTHETIC two short row\n"
        "3,9,SF3,4,Passed,2025-06-09,SYNTHETIC three,SYNTHETIC three,0,,,,,\n"
    ),
    "history.csv": (
        "bill_id,date,chamber,sequence,action\n"
        "1,2025-06-02,House,2,Second\n"
        "1,2025-06-01,House,1,First\n"
        "3,2025-06-03,Senate,1,Introduced\n"
        "3,2025-06-04,Senate\n"
        "3,2025-06-05,Senate,3,\n"
        "7,2025-06-05,Senate,1,Orphan\n"
    ),
    "sponsors.csv": "bill_id,people_id,position\n1,100,2\n1,101,1\n3,999,1\n",
    "people.csv": (
        "people_id,name,first_name,middle_name,last_name,suffix,nickname,party_id,party,role_id,role,"
        "district,followthemoney_eid,votesmart_id,opensecrets_id,ballotpedia,knowwho_pid,committee_id\n"
        "100,SYNTHETIC Cosponsor,,,,,,1,D,1,Rep,HD-1,,,,,,0\n"
        "101,SYNTHETIC Author,,,,,,1,D,1,Rep,HD-2,,,,,,0\n"
    ),
    "documents.csv": (
        "bill_id,document_id,document_type,document_size,document_mime,document_desc,url,state_link\n"
        "1,5,text,10,application/pdf,Introduced,https://legiscan.invalid/t5,https://state.invalid/t5.pdf\n"
    ),
    "rollcalls.csv": (
        "bill_id,roll_call_id,date,chamber,description,yea,nay,nv,absent,total\n"
        "3,8,2025-06-09,Senate,Third reading,60,5,1,1,67\n"
    ),
}


def _legiscan_zip(tmp_path: Path, files: dict[str, str]) -> Path:
    archive = tmp_path / "MN_2025-2025_94th_Legislature_1st_Special_Session_CSV_synthetic.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for name, text in files.items():
            zf.writestr(f"MN/2025-2025_94th_Legislature_1st_Special_Session/csv/{name}", text)
    return archive


def test_legiscan_synthetic_zip_reports_rows_and_continues(tmp_path: Path) -> None:
    archive = _legiscan_zip(tmp_path, LEGISCAN_CSV)
    bills, errors = split(iter_legiscan([archive]))
    got = by_id(bills)
    assert sorted(got) == ["HF1", "SF3"]
    hf1 = got["HF1"]
    assert (hf1.state, hf1.legislative_session, hf1.chamber) == ("mn", "2025s1", "lower")
    assert [a.description for a in hf1.actions] == ["First", "Second"]  # ordered by sequence
    assert [(s.name, s.primary) for s in hf1.sponsorships] == [
        ("SYNTHETIC Author", True), ("SYNTHETIC Cosponsor", False),
    ]  # fmt: skip
    assert hf1.versions[0].links[0].url == "https://state.invalid/t5.pdf"
    assert hf1.abstracts[0].abstract == "SYNTHETIC one long"
    sf3 = got["SF3"]
    assert [a.description for a in sf3.actions] == ["Introduced"]  # the empty-text row is dropped
    assert (sf3.votes[0].yes, sf3.votes[0].no, sf3.votes[0].other) == (60, 5, 2)
    assert sf3.abstracts == []  # description equals title
    prefix = f"{archive}!MN/2025-2025_94th_Legislature_1st_Special_Session/csv/"
    where = sorted((e.path.removeprefix(prefix), e.line, e.message.split(":")[0]) for e in errors)
    assert where == [
        ("bills.csv", 3, "expected 14 columns, got 7"),
        ("history.csv", 5, "expected 5 columns, got 3"),
        ("history.csv", 7, "history rows for 1 bill(s) not in the bills file (first"),
        ("sponsors.csv", 4, "SF3"),
    ]


def test_legiscan_extracted_csv_folder(tmp_path: Path) -> None:
    with zipfile.ZipFile(_legiscan_zip(tmp_path, LEGISCAN_CSV)) as zf:
        zf.extractall(tmp_path / "extracted")
    bills, errors = split(iter_legiscan([tmp_path / "extracted"]))
    assert sorted(b.identifier for b in bills) == ["HF1", "SF3"]
    assert {b.legislative_session for b in bills} == {"2025s1"}
    assert len(errors) == 4 and all("/csv/" in e.path and "!" not in e.path for e in errors)


def test_legiscan_missing_member_and_bad_header(tmp_path: Path) -> None:
    files = dict(LEGISCAN_CSV)
    del files["history.csv"]
    files["documents.csv"] = "bill_id,url\n1,https://legiscan.invalid/x\n"
    bills, errors = split(iter_legiscan([_legiscan_zip(tmp_path, files)]))
    assert sorted(b.identifier for b in bills) == ["HF1", "SF3"]
    assert all(b.actions == [] and b.versions == [] for b in bills)
    messages = [e.message for e in errors]
    assert any(m.startswith("missing; bills imported without history") for m in messages)
    assert any(m.startswith("missing column(s) document_type") for m in messages)


def test_legiscan_api_error_payload_and_broken_json(tmp_path: Path) -> None:
    error_payload = tmp_path / "synthetic_error.json"
    error_payload.write_text(
        json.dumps({"status": "ERROR", "alert": {"message": "Unknown bill id"}})
    )
    broken = tmp_path / "synthetic_broken.json"
    broken.write_text('{"status": "OK",\n "bill": {\n')
    bills, errors = split(iter_legiscan([error_payload, broken]))
    assert bills == []
    assert errors[0].message == "LegiScan API status 'ERROR': Unknown bill id"
    assert (
        errors[1].path == str(broken) and errors[1].line == 3 and "broken JSON" in errors[1].message
    )


def test_unknown_inputs_are_reported(tmp_path: Path) -> None:
    notes = tmp_path / "synthetic_notes.txt"
    notes.write_text("SYNTHETIC")
    for iterate in (iter_openstates, iter_legiscan):
        _, errors = split(iterate([notes, tmp_path / "synthetic_missing.zip"]))
        assert [e.path for e in errors] == [str(notes), str(tmp_path / "synthetic_missing.zip")]
