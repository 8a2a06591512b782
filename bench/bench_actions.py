"""Action rules vs Open States' labels: leave-one-state-out, in-sample, a naive baseline; speed.

Usage:
    .venv/bin/python bench/bench_actions.py                 # figures
    .venv/bin/python bench/bench_actions.py --errors WA passage   # top disagreements (LOSO)

Reads ../shared/data/openstates/actions_labelled.csv.gz (84k real actions labelled by Open States'
per-state rules; an empty label means their rules matched nothing). The committee-passage family
(committee-passage, -favorable, -unfavorable) is scored as one class, because states use the three
labels for the same report wording ("Committee report, to adopt" is plain committee-passage in MN,
"Reported favorably" is -favorable in VT).

The headline is LEAVE-ONE-STATE-OUT: each state judged with only the shared rules
(config/actions.yaml), its own rules (config/action_rules/<st>.yaml, `action_rules` in
config/states/<st>.yaml) left out. That is what a state we have never seen gets, so it is the number
every rule change is judged by; the in-sample score (own rules included) and a naive baseline (one
plain regex per key class) are computed in the same run beside it. Scores are micro-F1 over the
KEY classes, raw (Open States' labels as they are) and adjusted (the documented label
disagreements below left out, pattern by pattern, never row by row).
"""

from __future__ import annotations

import argparse
import csv
import gzip
import re
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tracker.actions import clear_cache, load_rules  # noqa: E402
from tracker.settings import get_settings  # noqa: E402

# the classes that decide a bill's stage, scored as one micro-F1
KEY = (
    "introduction",
    "referral-committee",
    "committee-passage*",
    "passage",
    "failure",
    "executive-signature",
    "executive-veto",
)
# the per-class table adds the rarer decisive classes
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
        r"\b(re-?)?(referred|assigned|refer|recommitted|discharged) to\b"
        r"(?![^;]*\b(printing|enrolling|engrossing)\b)(?! (the )?(governor|calendar|second|third))"
        r"|\brecommitted\b",
        "the text says referred/assigned to a committee; their rule left the class off (first readings)",
    ),
    (
        "passage",
        "fp",
        r"^((house|senate)( message)?:? )?((house|senate) )?(read (and|&) )?(adopted|passed|repassed)\b"
        r"(?! (to|on) (first|second|third|1st|2nd|3rd|engross))"
        r"|\b(third|3rd|final) (reading|read|passage)\b[^;]*\b(passed|adopted)\b"
        r"|\bread (\w+ )?(third|3rd) time\b[^;]*\b(passed|adopted)\b"
        r"|\bread in full\b[^;]*\b(passed|adopted)\b"
        r"|\b(conference committee|committee of conference) report\b[^;]*\badopted\b|\badopted [^;]*\b(conference|cc|hcc) (committee )?report"
        r"|\brepassed\b|\b(adopted|passed) in concurrence\b",
        "the text records the chamber's passing vote (WA 'Third reading, passed', VT 'Read third "
        "time and passed', 'Adopted in concurrence', adoption of a conference report)",
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
        r"(?<!conference )\b(report(ed)?\b(?! (printed|enrolled|engrossed|signed|delivered|correctly|now))"
        r"|favorabl|do pass|ought to|recommend|refer (un)?amended)",
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
    (
        "introduction",
        "fn",
        r"^(committee bill )?read (the )?(first|1st) time",
        "VT records no 'Introduced' action and labels its first reading introduction (WA's "
        "'First reading' is not): a state convention, kept in config/action_rules/vt.yaml",
    ),
]
DISAGREE_RES = [(c, d, re.compile(p, re.I), why) for c, d, p, why in DISAGREEMENTS]

FAMILY = {
    "committee-passage": "committee-passage*",
    "committee-passage-favorable": "committee-passage*",
    "committee-passage-unfavorable": "committee-passage*",
}
# The naive baseline: one plain regex per key class, what anyone would write in five minutes.
NAIVE = {
    "introduction": re.compile(r"\bintroduced\b", re.I),
    "referral-committee": re.compile(r"\b(re-?)?referred to\b", re.I),
    "committee-passage*": re.compile(r"\breported\b|\bdo pass\b|\bfavorabl", re.I),
    "passage": re.compile(r"\bpassed\b|\badopted\b", re.I),
    "failure": re.compile(r"\bfailed\b", re.I),
    "executive-signature": re.compile(r"\bsigned by (the )?governor\b|\bgovernor signed\b", re.I),
    "executive-veto": re.compile(r"\bveto(ed)?\b", re.I),
}

Predictor = Callable[[dict[str, str]], set[str]]
Counts = dict[str, dict[str, list[int]]]  # state -> class -> [tp, fp, fn]


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


def gold(row: dict[str, str]) -> set[str]:
    return family(set(filter(None, row["classification"].split("|"))))


def in_sample(row: dict[str, str]) -> set[str]:
    """The state's own rules, then the shared ones: what the tracker runs for a known state."""
    rules = load_rules(row["state"].lower())
    return family(set(rules.classify(row["description"], row["actor"] or None)))


def leave_state_out(row: dict[str, str]) -> set[str]:
    """The shared rules alone: the state's own rule files left out, as for an unseen state."""
    rules = load_rules(None)
    return family(set(rules.classify(row["description"], row["actor"] or None)))


def naive(row: dict[str, str]) -> set[str]:
    return {cls for cls, regex in NAIVE.items() if regex.search(row["description"])}


def predict_all(rows: list[dict[str, str]], predictor: Predictor) -> list[set[str]]:
    return [predictor(row) for row in rows]


def disputed(cls: str, direction: str, text: str) -> bool:
    return any(c == cls and d == direction and r.search(text) for c, d, r, _ in DISAGREE_RES)


def count(
    rows: list[dict[str, str]],
    predicted: list[set[str]],
    *,
    classes: tuple[str, ...] = DECISIVE,
    adjusted: bool = False,
) -> Counts:
    """[tp, fp, fn] per state and class; `adjusted` leaves out documented label disagreements."""
    out: Counts = defaultdict(lambda: {c: [0, 0, 0] for c in classes})
    for row, pred_classes in zip(rows, predicted, strict=True):
        cells = out[row["state"]]
        labels = gold(row)
        for cls in classes:
            is_gold, is_pred = cls in labels, cls in pred_classes
            if is_gold == is_pred:
                cells[cls][0] += is_gold
                continue
            direction = "fp" if is_pred else "fn"
            if adjusted and disputed(cls, direction, row["description"]):
                continue
            cells[cls][1 if is_pred else 2] += 1
    return out


def micro_f1(cells: dict[str, list[int]], classes: tuple[str, ...] = KEY) -> float | None:
    tp = sum(cells[c][0] for c in classes)
    fp = sum(cells[c][1] for c in classes)
    fn = sum(cells[c][2] for c in classes)
    return f1(tp, fp, fn)[2]


def total(counts: Counts) -> dict[str, list[int]]:
    """Counts summed over states (the 'all' row)."""
    out: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    for cells in counts.values():
        for cls, (tp, fp, fn) in cells.items():
            cell = out[cls]
            cell[0], cell[1], cell[2] = cell[0] + tp, cell[1] + fp, cell[2] + fn
    return out


def f1(tp: int, fp: int, fn: int) -> tuple[float | None, float | None, float | None]:
    p = tp / (tp + fp) if tp + fp else None
    r = tp / (tp + fn) if tp + fn else None
    f = 2 * p * r / (p + r) if p and r else (0.0 if (p is not None and r is not None) else None)
    return p, r, f


def fmt(x: float | None) -> str:
    return "  -  " if x is None else f"{x:5.2f}"


def headline(rows: list[dict[str, str]], runs: dict[str, list[set[str]]]) -> None:
    """Key-class micro-F1 per state: LOSO, in-sample and naive, raw and adjusted."""
    print(f"\nKEY-CLASS MICRO-F1 ({', '.join(KEY)})")
    print("LOSO = shared rules only, the state's own rule files left out (an unseen state)")
    names = list(runs)
    print(
        f"{'state':5} {'n':>6}  " + "  ".join(f"{n + ' raw':>13} {n + ' adj':>13}" for n in names)
    )
    tables = {
        name: (count(rows, pred, classes=KEY), count(rows, pred, classes=KEY, adjusted=True))
        for name, pred in runs.items()
    }
    sizes = Counter(row["state"] for row in rows)
    for state in [*sorted(sizes), "all"]:
        cells = []
        for raw, adj in tables.values():
            pick = (lambda c: total(c)) if state == "all" else (lambda c: c[state])  # noqa: B023
            cells.append(f"{fmt(micro_f1(pick(raw))):>13} {fmt(micro_f1(pick(adj))):>13}")
        n = len(rows) if state == "all" else sizes[state]
        print(f"{state:5} {n:6d}  " + "  ".join(cells))


def report(
    rows: list[dict[str, str]], predicted: list[set[str]], *, title: str, adjusted: bool
) -> None:
    """Per-state, per-class precision, recall and F1 over the decisive classes."""
    print(
        f"\n{title}, {'ADJUSTED (documented label disagreements left out)' if adjusted else 'RAW'}"
    )
    counts = count(rows, predicted, adjusted=adjusted)
    print(f"{'state':5} {'n':>6}   " + "  ".join(f"{c[:14]:>14}" for c in DECISIVE))
    print(" " * 15 + "  ".join(f"{'P    R    F1':>14}" for _ in DECISIVE))
    sizes = Counter(row["state"] for row in rows)
    worst: list[tuple[float, str, str]] = []
    for state in sorted(counts):
        cells = []
        for cls in DECISIVE:
            tp, fp, fn = counts[state][cls]
            p, r, f = f1(tp, fp, fn)
            if f is not None and tp + fn >= 5:
                worst.append((f, state, cls))
            cells.append(f"{fmt(p)}{fmt(r)}{fmt(f)}" if tp + fp + fn else f"{'(none)':>14}")
        print(f"{state:5} {sizes[state]:6d}   " + " ".join(cells))
    worst.sort()
    below = [f"{s} {c} {f:.2f}" for f, s, c in worst if f < 0.9]
    print(f"classes with >=5 labels and F1 < 0.90: {len(below)}")
    for line in below:
        print("   ", line)


def disagreement_counts(rows: list[dict[str, str]], predicted: list[set[str]]) -> None:
    """How many actions each documented disagreement sets aside, per state."""
    print("\ndocumented label disagreements (LOSO), actions set aside per state:")
    states = sorted({row["state"] for row in rows})
    print(f"    {'class':20} dir  " + " ".join(f"{s:>5}" for s in states) + "  pattern: why")
    for cls, direction, pattern, why in DISAGREEMENTS:
        regex = re.compile(pattern, re.I)
        per_state: Counter[str] = Counter()
        for row, pred in zip(rows, predicted, strict=True):
            is_gold, is_pred = cls in gold(row), cls in pred
            if is_gold != is_pred and (direction == "fp") == is_pred:
                if regex.search(row["description"]):
                    per_state[row["state"]] += 1
        print(
            f"    {cls:20} {direction}   "
            + " ".join(f"{per_state[s]:5d}" for s in states)
            + f"  /{pattern}/: {why}"
        )


def errors(rows: list[dict[str, str]], predicted: list[set[str]], state: str, cls: str) -> None:
    fps: Counter[str] = Counter()
    fns: Counter[str] = Counter()
    for i, row in enumerate(rows):
        if state.upper() not in (row["state"], "ALL"):
            continue
        is_gold = cls in gold(row)
        is_pred = cls in predicted[i]
        key = (
            f"{row['state']} "
            + re.sub(r"\d+", "#", row["description"])[:110]
            + f"   [{row['actor']}] gold={row['classification']}"
        )
        if is_pred and not is_gold:
            fps[key + f" disputed={disputed(cls, 'fp', row['description'])}"] += 1
        if is_gold and not is_pred:
            fns[key + f" ours={'|'.join(sorted(predicted[i]))}"] += 1
    print(f"--- {state} {cls}: false positives {sum(fps.values())}")
    for text, n in fps.most_common(30):
        print(f"{n:6d} {text}")
    print(f"--- {state} {cls}: false negatives {sum(fns.values())}")
    for text, n in fns.most_common(30):
        print(f"{n:6d} {text}")


def speed(rows: list[dict[str, str]], n: int = 100_000) -> None:
    sample = (rows * (n // len(rows) + 1))[:n]
    states = {row["state"] for row in rows}
    base = _time_naive(sample)
    clear_cache()
    t0 = time.perf_counter()
    rules = {s: load_rules(s.lower()) for s in states}
    load = time.perf_counter() - t0
    t0 = time.perf_counter()
    for row in sample:
        rules[row["state"]].classify(row["description"], row["actor"] or None)
    warm = time.perf_counter() - t0
    # every text distinct, so the cache never helps (the worst case, e.g. dated actions)
    clear_cache()
    rules = {s: load_rules(s.lower()) for s in states}
    texts = [(f"{row['description']} {k}", row["actor"] or None) for k, row in enumerate(sample)]
    t0 = time.perf_counter()
    for (text, actor), row in zip(texts, sample, strict=True):
        rules[row["state"]].classify(text, actor)
    cold = time.perf_counter() - t0
    print(
        f"\nspeed on {n:,} real actions, one core (rules for {len(states)} states loaded in "
        f"{load * 1000:.0f} ms): {n / warm:,.0f} actions/s with the cache (as ingest runs: real "
        f"text repeats), {n / cold:,.0f} actions/s with every text distinct; baseline in the "
        f"same run: the {len(NAIVE)} naive regexes, {n / base:,.0f} actions/s"
    )


def _time_naive(sample: list[dict[str, str]]) -> float:
    t0 = time.perf_counter()
    for row in sample:
        naive(row)
    return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--errors", nargs=2, metavar=("STATE", "CLASS"), help="list disagreements")
    parser.add_argument("--no-speed", action="store_true")
    parser.add_argument("--in-sample", action="store_true", help="--errors with own rules")
    args = parser.parse_args()
    rows = read_rows(labelled_file())
    if args.errors:
        errors(
            rows, predict_all(rows, in_sample if args.in_sample else leave_state_out), *args.errors
        )
        return
    runs = {
        "LOSO": predict_all(rows, leave_state_out),
        "in-sample": predict_all(rows, in_sample),
        "naive": predict_all(rows, naive),
    }
    headline(rows, runs)
    for name, predicted in runs.items():
        report(rows, predicted, title=f"{name}: per class", adjusted=False)
        report(rows, predicted, title=f"{name}: per class", adjusted=True)
    disagreement_counts(rows, runs["LOSO"])
    if not args.no_speed:
        speed(rows)


if __name__ == "__main__":
    main()
