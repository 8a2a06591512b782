"""Action rules vs Open States' labels, per state, and classification speed.

Usage:
    .venv/bin/python bench/bench_actions.py                 # figures
    .venv/bin/python bench/bench_actions.py --errors WA passage   # top disagreements

Reads ../shared/data/openstates/actions_labelled.csv.gz (84k real actions labelled by Open States'
per-state rules; an empty label means their rules matched nothing). The committee-passage family
(committee-passage, -favorable, -unfavorable) is scored as one class, because states use the three
labels for the same report wording ("Committee report, to adopt" is plain committee-passage in MN,
"Reported favorably" is -favorable in VT).
"""

from __future__ import annotations

import argparse
import csv
import gzip
import re
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tracker.actions import clear_cache, load_rules  # noqa: E402
from tracker.settings import get_settings  # noqa: E402

DECISIVE = (
    "introduction",
    "referral-committee",
    "committee-passage*",
    "passage",
    "failure",
    "executive-signature",
    "executive-veto",
    "became-law",
    "withdrawal",
)
# Where Open States' per-state labels contradict the words of the action, the rules follow the
# words. These are the patterns of that disagreement, the same for every state (not a list of
# rows): "adjusted" figures leave such actions out of that class's count; raw figures keep them.
DISAGREEMENTS: list[tuple[str, str, str, str]] = [
    # (class, "fp" = we add the class / "fn" = they add it, pattern on the text, why)
    (
        "referral-committee",
        "fp",
        r"\b(re-?)?(referred|assigned|refer|recommitted|discharged) to\b|recommitted",
        "the text says referred/assigned to a committee; their rule left the class off (first readings)",
    ),
    (
        "passage",
        "fp",
        r"\b(passed|adopted|repassed|enacted)\b",
        "the text records a passing vote (e.g. WA 'Third reading, passed', VT 'Read third time and passed')",
    ),
    (
        "passage",
        "fp",
        r"signed by (the )?(speaker|president)|(speaker|president) signed",
        "the presiding officers' signatures: labelled passage in CO/OR/WA (CO not always), not in ID",
    ),
    (
        "passage",
        "fn",
        r"signed by (the )?(speaker|president)|(speaker|president) signed",
        "the presiding officers' signatures: labelled passage in CO/OR/WA (CO not always), not in ID",
    ),
    (
        "referral-committee",
        "fn",
        r"to (house |senate )?committee of the whole",
        "the committee of the whole is the floor, not a committee referral",
    ),
    (
        "passage",
        "fn",
        r"\bdelivered to the governor\b|\bmessaged to\b|^as passed by",
        "a delivery or a message, not a vote (VT)",
    ),
    (
        "failure",
        "fp",
        r"\bfailed\b|\blost\b|postponed",
        "the text records a failed vote or indefinite postponement",
    ),
    (
        "committee-passage*",
        "fp",
        r"\b(reported|report|favorabl|do pass|ought to|recommend|refer (un)?amended|be adopted)",
        "a committee report; their rule gave only substitution/amendment classes or none",
    ),
    (
        "executive-signature",
        "fp",
        r"governor approved|signed by (the )?governor|governor signed",
        "the text says the governor approved it",
    ),
    (
        "became-law",
        "fp",
        r"\bchapter\b|effective date",
        "a chapter number or effective date: the bill became law",
    ),
    (
        "introduction",
        "fn",
        r"^received from|^first reading\. referred to",
        "arrival in the second chamber, labelled introduction in MN and OR",
    ),
    ("executive-veto", "fp", r"\bveto", "a veto message their rule missed"),
]
DISAGREE_RES = [(c, d, re.compile(p, re.I), why) for c, d, p, why in DISAGREEMENTS]

FAMILY = {
    "committee-passage": "committee-passage*",
    "committee-passage-favorable": "committee-passage*",
    "committee-passage-unfavorable": "committee-passage*",
}


def labelled_file() -> Path:
    shared = get_settings().resolved_shared_dir()
    if shared is None:
        sys.exit("../shared not found: set TRACKER_SHARED_DIR")
    return shared / "data" / "openstates" / "actions_labelled.csv.gz"


def read_rows(path: Path) -> list[dict[str, str]]:
    with gzip.open(path, "rt", encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def family(classes: set[str]) -> set[str]:
    return {FAMILY.get(c, c) for c in classes}


def classify_all(rows: list[dict[str, str]]) -> list[set[str]]:
    out: list[set[str]] = []
    for row in rows:
        rules = load_rules(row["state"].lower())
        out.append(set(rules.classify(row["description"], row["actor"] or None)))
    return out


def f1(tp: int, fp: int, fn: int) -> tuple[float | None, float | None, float | None]:
    p = tp / (tp + fp) if tp + fp else None
    r = tp / (tp + fn) if tp + fn else None
    f = 2 * p * r / (p + r) if p and r else (0.0 if (p is not None and r is not None) else None)
    return p, r, f


def fmt(x: float | None) -> str:
    return "  -  " if x is None else f"{x:5.2f}"


def disputed(cls: str, direction: str, text: str) -> bool:
    return any(c == cls and d == direction and r.search(text) for c, d, r, _ in DISAGREE_RES)


def report(
    rows: list[dict[str, str]], predicted: list[set[str]], *, adjusted: bool = False
) -> None:
    title = (
        "ADJUSTED (documented label disagreements left out)"
        if adjusted
        else "RAW agreement with Open States labels"
    )
    print(f"\n{title}")
    by_state: dict[str, list[int]] = defaultdict(list)
    for i, row in enumerate(rows):
        by_state[row["state"]].append(i)
    print(f"{'state':5} {'n':>6} {'exact':>6}   " + "  ".join(f"{c[:14]:>14}" for c in DECISIVE))
    print(" " * 21 + "  ".join(f"{'P    R    F1':>14}" for _ in DECISIVE))
    worst: list[tuple[float, str, str]] = []
    for state in sorted(by_state):
        idx = by_state[state]
        exact = sum(
            1
            for i in idx
            if predicted[i] == set(filter(None, rows[i]["classification"].split("|")))
        )
        cells = []
        for cls in DECISIVE:
            tp = fp = fn = 0
            for i in idx:
                gold = cls in family(set(filter(None, rows[i]["classification"].split("|"))))
                pred = cls in family(predicted[i])
                if (
                    adjusted
                    and gold != pred
                    and disputed(cls, "fp" if pred else "fn", rows[i]["description"])
                ):
                    continue
                tp += gold and pred
                fp += pred and not gold
                fn += gold and not pred
            p, r, f = f1(tp, fp, fn)
            if f is not None and tp + fn >= 5:
                worst.append((f, state, cls))
            cells.append(f"{fmt(p)}{fmt(r)}{fmt(f)}" if tp + fp + fn else f"{'(none)':>14}")
        print(f"{state:5} {len(idx):6d} {exact / len(idx):6.2f}   " + " ".join(cells))
    worst.sort()
    below = [f"{s} {c} {f:.2f}" for f, s, c in worst if f < 0.9]
    print(f"\nclasses with >=5 labels and F1 < 0.90: {len(below)}")
    for line in below:
        print("   ", line)


def errors(rows: list[dict[str, str]], predicted: list[set[str]], state: str, cls: str) -> None:
    fps: Counter[str] = Counter()
    fns: Counter[str] = Counter()
    for i, row in enumerate(rows):
        if row["state"] != state.upper():
            continue
        gold = cls in family(set(filter(None, row["classification"].split("|"))))
        pred = cls in family(predicted[i])
        key = (
            re.sub(r"\d+", "#", row["description"])[:110]
            + f"   [{row['actor']}] gold={row['classification']}"
        )
        if pred and not gold:
            fps[key] += 1
        if gold and not pred:
            fns[key + f" ours={'|'.join(sorted(predicted[i]))}"] += 1
    print(f"--- {state} {cls}: false positives {sum(fps.values())}")
    for text, n in fps.most_common(25):
        print(f"{n:6d} {text}")
    print(f"--- {state} {cls}: false negatives {sum(fns.values())}")
    for text, n in fns.most_common(25):
        print(f"{n:6d} {text}")


def speed(rows: list[dict[str, str]], n: int = 100_000) -> None:
    sample = (rows * (n // len(rows) + 1))[:n]
    clear_cache()
    t0 = time.perf_counter()
    for row in sample:
        load_rules(row["state"].lower()).classify(row["description"], row["actor"] or None)
    warm = time.perf_counter() - t0
    # cold: every text distinct, so the cache never helps (the worst case, e.g. dated actions)
    clear_cache()
    rules = {s: load_rules(s.lower()) for s in {r["state"] for r in rows}}
    t0 = time.perf_counter()
    for k, row in enumerate(sample):
        rules[row["state"]]._classify_lower(
            f"{row['description'].lower()} {k}", row["actor"] or None
        )
    cold = time.perf_counter() - t0
    print(
        f"\nspeed on {n:,} real actions, one core: {n / warm:,.0f} actions/s with the cache "
        f"(as ingest runs), {n / cold:,.0f} actions/s with every text distinct (no cache)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--errors", nargs=2, metavar=("STATE", "CLASS"), help="list disagreements")
    parser.add_argument("--no-speed", action="store_true")
    args = parser.parse_args()
    rows = read_rows(labelled_file())
    predicted = classify_all(rows)
    if args.errors:
        errors(rows, predicted, *args.errors)
        return
    report(rows, predicted)
    report(rows, predicted, adjusted=True)
    print("\ndocumented disagreements (class, direction, pattern, why):")
    for cls, direction, pattern, why in DISAGREEMENTS:
        print(f"    {cls} {direction} /{pattern}/: {why}")
    if not args.no_speed:
        speed(rows)


if __name__ == "__main__":
    main()
