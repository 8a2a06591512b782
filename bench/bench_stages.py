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
from tracker.vocab import LAW_STAGES, TERMINAL_STAGES  # noqa: E402

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


# Naive baseline, computed in the same run: the furthest step any action reached (forward only,
# no failure, revival, restart or resolution rule), "dead" when the session ended before both
# chambers passed it. What stage trackers without history rules show.
NAIVE_STEP = (
    ("executive-signature", "enacted"),
    ("became-law", "enacted"),
    ("executive-receipt", "sent_to_governor"),
    ("enrolled", "passed_both_chambers"),
    ("committee-passage", "passed_committee"),
    ("committee-passage-favorable", "passed_committee"),
    ("referral-committee", "in_committee"),
)
NAIVE_ORDER = list(TO_LEGISCAN)


def naive_stage(actions: list[dict], *, session_end: str | None, today: date) -> str:
    best, passed = "introduced", set()
    for a in actions:
        kinds = a["classification"]
        steps = [stage for kind, stage in NAIVE_STEP if kind in kinds]
        if "passage" in kinds:
            passed.add(a["chamber"] or len(passed))
            steps.append("passed_both_chambers" if len(passed) >= 2 else "passed_one_chamber")
        for stage in steps:
            best = max(best, stage, key=NAIVE_ORDER.index)
    over = session_end is not None and session_end < today.isoformat()
    if over and NAIVE_ORDER.index(best) < NAIVE_ORDER.index("passed_both_chambers"):
        return "dead"
    return best


def agrees(stage: str, theirs: str, before: str | None) -> bool:
    """LegiScan keeps the status a bill died in for some states (AZ): "dead" agrees with it."""
    return TO_LEGISCAN[stage] == theirs or (
        stage == "dead" and before is not None and TO_LEGISCAN[before] == theirs
    )


def evaluate(path: str, show: int, totals: dict[str, Counter]) -> None:
    state, session, bills, history = read_zip(path)
    rules = load_rules(state.lower())
    single_year = bool(re.match(r"^(\d{4})-\1_", session))
    last = max((r["date"] for rows in history.values() for r in rows), default=None)
    session_end = last if single_year else None
    today = snapshot_date(path) + timedelta(days=1)
    prepared = []
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
        prepared.append((bill, actions))
    t0 = time.perf_counter()
    results = [
        compute_stage(
            actions,
            bill_chamber=origin(bill["bill_number"]),
            session_end=session_end,
            today=today,
            bill_classification=bill_kind(bill["bill_number"]),
            identifier=bill["bill_number"],
        )
        for bill, actions in prepared
    ]
    totals[state]["seconds"] += time.perf_counter() - t0
    confusion: Counter[tuple[str, str]] = Counter()
    shown: list[str] = []
    counts = totals[state]
    session_agree = 0
    for (bill, actions), result in zip(prepared, results, strict=True):
        theirs = bill["status_desc"]
        before = None
        if result.stage == "dead":
            before = compute_stage(
                actions,
                bill_chamber=origin(bill["bill_number"]),
                bill_classification=bill_kind(bill["bill_number"]),
                identifier=bill["bill_number"],
            ).stage
        ok = agrees(result.stage, theirs, before)
        naive = naive_stage(actions, session_end=session_end, today=today)
        naive_before = naive_stage(actions, session_end=None, today=today)
        counts["bills"] += 1
        counts["actions"] += len(actions)
        counts["agree"] += ok
        session_agree += ok
        counts["naive"] += agrees(naive, theirs, naive_before)
        # a live bill standing lower than it once got (restarted, reconsidered)
        counts["fell_back"] += (
            result.stage not in TERMINAL_STAGES and result.stage != result.furthest
        )
        resolution = bill_kind(bill["bill_number"]) != ["bill"]
        counts["resolutions"] += resolution
        counts["resolutions_adopted"] += resolution and result.stage == "adopted"
        counts["resolutions_enacted"] += resolution and result.stage in LAW_STAGES
        counts["naive_resolutions_enacted"] += resolution and naive == "enacted"
        confusion[(theirs, result.stage)] += 1
        if not ok and len(shown) < show:
            shown.append(
                f"    {bill['bill_number']}: LegiScan {theirs}, ours {result.stage} "
                f"(furthest {result.furthest}; {result.reason[:140]})"
            )
    n = len(bills)
    print(
        f"{state} {session}: {n} bills, agreement {session_agree / n:.3f}"
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


def report(totals: dict[str, Counter]) -> None:
    print(
        "\nstate  bills  agreement  naive furthest-step  resolutions: adopted / enacted (naive)"
        "  fell back  actions/s"
    )
    for state, c in sorted(totals.items()):
        print(
            f"{state:5} {c['bills']:6}  {c['agree'] / c['bills']:9.3f}  {c['naive'] / c['bills']:19.3f}"
            f"  {c['resolutions_adopted']:13} / {c['resolutions_enacted']} "
            f"({c['naive_resolutions_enacted']:3})  {c['fell_back']:9}"
            f"  {c['actions'] / max(c['seconds'], 1e-9):9,.0f}"
        )
    all_c = sum(totals.values(), Counter())
    print(
        f"all   {all_c['bills']:6}  {all_c['agree'] / all_c['bills']:9.3f}"
        f"  {all_c['naive'] / all_c['bills']:19.3f}  {all_c['resolutions_adopted']:13} / "
        f"{all_c['resolutions_enacted']} ({all_c['naive_resolutions_enacted']:3})"
        f"  {all_c['fell_back']:9}  {all_c['actions'] / max(all_c['seconds'], 1e-9):9,.0f}"
    )


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
    totals: dict[str, Counter] = defaultdict(Counter)
    for path in sorted(glob.glob(str(shared / "data" / "legiscan" / "bulk_csv" / "*.zip"))):
        evaluate(path, args.show, totals)
    report(totals)
    print(f"({time.perf_counter() - t0:.1f}s in all)")


if __name__ == "__main__":
    main()
