"""Our stage (from our action rules) vs LegiScan's per-bill status, per state.

Usage:
    .venv/bin/python bench/bench_stages.py            # agreement and a confusion table per session
    .venv/bin/python bench/bench_stages.py --show 10  # also list 10 disagreements per session

Reads ../shared/data/legiscan/bulk_csv/*.zip directly: bills.csv (status_desc) and history.csv
(date, chamber, action). Each history action is classified by tracker.actions for that state (none
of these sessions' wording was used to label anything), then tracker.stages computes the stage.

Our stage maps to LegiScan's status: introduced / in_committee / passed_committee -> Introduced;
passed_one_chamber -> Engrossed; passed_both_chambers / sent_to_governor -> Enrolled; enacted ->
Passed; vetoed -> Vetoed; failed / dead / withdrawn -> Failed. LegiScan marks a bill Failed when a
session ends without it in some states (OR, CO) and leaves it Introduced in others (AZ), so the
session end is given only for single-year sessions that had ended by the snapshot (we take the last
recorded action date), and "dead" also counts as agreeing when LegiScan kept the bill's last status.
"""

from __future__ import annotations

import argparse
import csv
import glob
import io
import re
import sys
import time
import zipfile
from collections import Counter, defaultdict
from datetime import date, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tracker.actions import load_rules  # noqa: E402
from tracker.settings import get_settings  # noqa: E402
from tracker.stages import compute_stage  # noqa: E402

TO_LEGISCAN = {
    "introduced": "Introduced",
    "in_committee": "Introduced",
    "passed_committee": "Introduced",
    "passed_one_chamber": "Engrossed",
    "passed_both_chambers": "Enrolled",
    "sent_to_governor": "Enrolled",
    "adopted": "Passed",
    "enacted": "Passed",
    "vetoed": "Vetoed",
    "failed": "Failed",
    "dead": "Failed",
    "withdrawn": "Failed",
}
CHAMBERS = {"House": "lower", "Senate": "upper", "Assembly": "lower"}
KINDS = [  # identifier prefix -> Open States bill classification
    (re.compile(r"^[HSA]JR\d"), "joint resolution"),
    (re.compile(r"^[HSA]C[RM]\d"), "concurrent resolution"),
    (re.compile(r"^[HSA]JM\d"), "joint memorial"),
    (re.compile(r"^[HSA]R\d"), "resolution"),
    (re.compile(r"^[HSA]M\d"), "memorial"),
]


def bill_kind(number: str) -> list[str]:
    for regex, kind in KINDS:
        if regex.match(number):
            return [kind]
    return ["bill"]


def origin(number: str) -> str | None:
    return {"H": "lower", "A": "lower", "S": "upper"}.get(number[:1])


def read_zip(path: str) -> tuple[str, str, list[dict], dict[str, list[dict]]]:
    with zipfile.ZipFile(path) as zf:
        names = zf.namelist()
        bills_name = next(n for n in names if n.endswith("/bills.csv"))
        hist_name = next(n for n in names if n.endswith("/history.csv"))
        state, session = bills_name.split("/")[0], bills_name.split("/")[1]
        bills = list(csv.DictReader(io.TextIOWrapper(zf.open(bills_name), encoding="utf-8")))
        history: dict[str, list[dict]] = defaultdict(list)
        for row in csv.DictReader(io.TextIOWrapper(zf.open(hist_name), encoding="utf-8")):
            history[row["bill_id"]].append(row)
    return state, session, bills, history


def snapshot_date(path: str) -> date:
    found = re.search(r"_CSV_(\d{4})(\d{2})(\d{2})_", path)
    return (
        date(int(found.group(1)), int(found.group(2)), int(found.group(3)))
        if found
        else date.today()
    )


def evaluate(path: str, show: int) -> tuple[str, int, int]:
    state, session, bills, history = read_zip(path)
    rules = load_rules(state.lower())
    single_year = bool(re.match(r"^(\d{4})-\1_", session))
    last = max((r["date"] for rows in history.values() for r in rows), default=None)
    session_end = last if single_year else None
    today = snapshot_date(path) + timedelta(days=1)
    confusion: Counter[tuple[str, str]] = Counter()
    agree = 0
    shown: list[str] = []
    for bill in bills:
        rows = sorted(
            history.get(bill["bill_id"], []), key=lambda r: (r["date"], int(r["sequence"] or 0))
        )
        actions = []
        for r in rows:
            chamber = CHAMBERS.get(r["chamber"])
            actions.append(
                {
                    "date": r["date"],
                    "description": r["action"],
                    "chamber": chamber,
                    "classification": rules.classify(r["action"], chamber),
                }
            )
        result = compute_stage(
            actions,
            bill_chamber=origin(bill["bill_number"]),
            session_end=session_end,
            today=today,
            bill_classification=bill_kind(bill["bill_number"]),
        )
        ours = TO_LEGISCAN[result.stage]
        theirs = bill["status_desc"]
        ok = ours == theirs
        if not ok and result.stage == "dead":
            # LegiScan kept the status the bill died in (AZ does this for every dead bill)
            before = compute_stage(
                actions,
                bill_chamber=origin(bill["bill_number"]),
                bill_classification=bill_kind(bill["bill_number"]),
            )
            ok = TO_LEGISCAN[before.stage] == theirs
        agree += ok
        confusion[(theirs, result.stage)] += 1
        if not ok and len(shown) < show:
            shown.append(
                f"    {bill['bill_number']}: LegiScan {theirs}, ours {result.stage} ({result.reason[:150]})"
            )
    n = len(bills)
    print(
        f"{state} {session}: {n} bills, agreement {agree / n:.3f}"
        f"{' (session end ' + str(session_end) + ')' if session_end else ' (session still open)'}"
    )
    for theirs in ("Introduced", "Engrossed", "Enrolled", "Passed", "Vetoed", "Failed"):
        cells = {s: c for (t, s), c in confusion.items() if t == theirs}
        if cells:
            print(
                f"    LegiScan {theirs:10} -> "
                + ", ".join(f"{s} {c}" for s, c in sorted(cells.items(), key=lambda x: -x[1]))
            )
    for line in shown:
        print(line)
    return state, agree, n


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--show", type=int, default=0, help="list this many disagreements per session"
    )
    args = parser.parse_args()
    shared = get_settings().resolved_shared_dir()
    if shared is None:
        sys.exit("../shared not found: set TRACKER_SHARED_DIR")
    t0 = time.perf_counter()
    totals: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for path in sorted(glob.glob(str(shared / "data" / "legiscan" / "bulk_csv" / "*.zip"))):
        state, agree, n = evaluate(path, args.show)
        totals[state][0] += agree
        totals[state][1] += n
    print(
        "\nper state: "
        + ", ".join(f"{s} {a / n:.3f} ({n})" for s, (a, n) in sorted(totals.items()))
    )
    all_agree = sum(a for a, _ in totals.values())
    all_n = sum(n for _, n in totals.values())
    print(f"all: {all_agree / all_n:.3f} of {all_n} bills in {time.perf_counter() - t0:.1f}s")


if __name__ == "__main__":
    main()
