"""Topic classifier: precision and recall for "relevant" (single-payer or its study/governance).

Usage:
    .venv/bin/python bench/bench_topics.py --cache /tmp/topics.pkl   # figures, errors
    .venv/bin/python bench/bench_topics.py --verbose                 # also list `possible`

Three judges in one run: the rules in-sample (every curator pin), the rules leave-one-state-out
(each state's bills judged with that state's pins left out; the rules name no state, and the
examples in config/topics.yaml are checked by tests, never used to classify) and a naive baseline
of seven plain regexes. Figures: recall and precision of `yes` for relevant bills (single-payer or
single-payer-study), recall of `yes` + `possible`, and the size of `possible` (count and share of
all bills). "strict" counts every unlabelled bill as a negative; "adjudicated" counts the few
unlabelled bills whose own title says they are single-payer (UNLABELLED_RELEVANT, with reasons)
as relevant.

Positives: ../shared/data/topics/health_bills_labelled.csv rows labelled single_payer_establish or
universal_plan_study_or_governance. Negatives: its other rows (near-misses, name collisions;
`uncertain` is reported apart) plus every other bill under ../shared/data: LegiScan bulk_csv and
archive zips (bills.csv title + description), Open States scraper JSON (Idaho) and Windy Civi
tarballs (title + abstracts + subjects), and the Alaska billy CSV (title + subjects).
In-sample uses every curator pin in config/overrides.yaml; leave-one-state-out drops the
held-out state's pins, so its figures measure the shared rules alone.
"""

from __future__ import annotations

import argparse
import csv
import glob
import io
import json
import pickle
import re
import sys
import tarfile
import time
import zipfile
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tracker.identifiers import normalize_identifier  # noqa: E402
from tracker.settings import get_settings  # noqa: E402
from tracker.topics import NameLineage, TopicClassifier, get_classifier, load_pins  # noqa: E402

RELEVANT_LABELS = {"single_payer_establish", "universal_plan_study_or_governance"}
csv.field_size_limit(10_000_000)


@dataclass
class BillText:
    source: str
    state: str
    session: str
    identifier: str
    title: str
    description: str = ""
    subjects: list[str] = field(default_factory=list)
    label: str = ""  # "" for an unlabelled bill (a negative)

    def key(self) -> tuple[str, str, str]:
        return (self.state.lower(), normalize_identifier(self.identifier), _norm(self.title)[:60])


def _norm(text: str) -> str:
    return " ".join(re.findall(r"[a-z0-9]+", (text or "").lower()))


def shared_data() -> Path:
    shared = get_settings().resolved_shared_dir()
    if shared is None:
        sys.exit("../shared not found: set TRACKER_SHARED_DIR")
    return shared / "data"


def labelled(data: Path) -> list[BillText]:
    with (data / "topics" / "health_bills_labelled.csv").open(encoding="utf-8", newline="") as fh:
        return [
            BillText(
                "labelled",
                r["state"],
                r["session"],
                r["bill"],
                r["title"],
                r["description"] if r["description"] != r["title"] else "",
                [],
                r["label"],
            )
            for r in csv.DictReader(fh)
        ]


def legiscan(data: Path) -> Iterator[BillText]:
    zips = sorted(glob.glob(str(data / "legiscan" / "bulk_csv" / "*.zip")))
    zips += sorted(glob.glob(str(data / "legiscan" / "archive" / "*.zip")))
    for path in zips:
        with zipfile.ZipFile(path) as zf:
            for name in zf.namelist():
                if not name.endswith("/bills.csv"):
                    continue
                state, session = name.split("/")[0], name.split("/")[1]
                with zf.open(name) as raw:
                    for row in csv.DictReader(io.TextIOWrapper(raw, encoding="utf-8")):
                        desc = row["description"] if row["description"] != row["title"] else ""
                        yield BillText(
                            "legiscan", state, session, row["bill_number"], row["title"], desc
                        )


def _openstates_bill(obj: dict, source: str, state: str) -> BillText:
    abstracts = " ".join(a.get("abstract", "") for a in obj.get("abstracts") or [])
    return BillText(
        source,
        state,
        obj.get("legislative_session", ""),
        obj.get("identifier", ""),
        obj.get("title", ""),
        abstracts,
        list(obj.get("subject") or []),
    )


def openstates(data: Path) -> Iterator[BillText]:
    for path in sorted((data / "openstates" / "scraper_output_id_2025").rglob("bill_*.json")):
        yield _openstates_bill(json.loads(path.read_text(encoding="utf-8")), "openstates-id", "ID")
    for path in sorted((data / "openstates" / "windy_civi_2025").glob("*.tar.gz")):
        state = path.name[:2].upper()
        with tarfile.open(path) as tar:
            for member in tar:
                if member.isfile() and member.name.endswith("metadata.json"):
                    fh = tar.extractfile(member)
                    if fh is not None:
                        yield _openstates_bill(json.load(fh), "windy-civi", state)
    ak = data / "openstates" / "billy_csv_ak_27" / "ak_bills.csv"
    with ak.open(encoding="utf-8", newline="") as fh:
        for row in csv.DictReader(fh):
            yield BillText(
                "billy-ak",
                "AK",
                row["session"],
                row["bill_id"],
                row["title"].strip('"'),
                "",
                [s for s in row["subjects"].split("|") if s],
            )


def corpus(data: Path) -> list[BillText]:
    """Labelled bills first, then every other bill once (same state, number and title = same bill)."""
    bills = labelled(data)
    seen = {b.key() for b in bills}
    seen_ids = {(b.state.lower(), normalize_identifier(b.identifier)) for b in bills}
    for bill in [*legiscan(data), *openstates(data)]:
        key = bill.key()
        if key in seen:
            continue
        # the labelled file's copy of a bill may carry a shorter title than the bulk data
        if (key[0], key[1]) in seen_ids and _overlaps(bill, bills):
            continue
        seen.add(key)
        bills.append(bill)
    return bills


def _overlaps(bill: BillText, labelled_bills: list[BillText]) -> bool:
    words = set(_norm(bill.title).split())
    for other in labelled_bills:
        if other.state.lower() == bill.state.lower() and normalize_identifier(
            other.identifier
        ) == normalize_identifier(bill.identifier):
            theirs = set(_norm(other.title).split())
            if theirs and len(words & theirs) / len(theirs) >= 0.6:
                return True
    return False


# Bills under ../shared/data that are not in the labelled file but whose own title says they are
# single-payer or its study (read by hand; the strict figures still count them as negatives).
UNLABELLED_RELEVANT = {
    (
        "GA",
        "2025",
        "SR344",
    ): "creates a Senate study committee on a single-payer healthcare program",
    (
        "MN",
        "2009",
        "SF118",
    ): "'Minnesota Health Act' of 2009, the Senate's universal health plan bill",
    ("MN", "2009", "SF416"): "same title as SF118, 'Minnesota Health Act'",
    ("MN", "2009", "SF417"): "same title as SF118, 'Minnesota Health Act'",
    ("MN", "2009", "SF418"): "same title as SF118, 'Minnesota Health Act'",
    ("MN", "2009", "SF419"): "same title as SF118, 'Minnesota Health Act'",
    ("MN", "2009", "SF420"): "same title as SF118, 'Minnesota Health Act'",
    (
        "MN",
        "2009",
        "HF174",
    ): "creates a 'Minnesota health security program': 'health care access for all adults ensured'",
    (
        "OR",
        "2020",
        "SB1551",
    ): "extends the Task Force on Universal Health Care (as labelled SB428 does)",
}

# the naive baseline: seven plain regexes on title and description, no weights, no negatives
BASELINE = [
    re.compile(p, re.IGNORECASE)
    for p in (
        r"single[\s-]*pay",
        r"medicare for all",
        r"universal health",
        r"health care for all",
        r"health security act",
        r"\bhealth (care )?(plan|act|trust)\b",
        r"guaranteed health",
    )
]

Judge = Callable[[BillText], tuple[str, object]]


@dataclass
class Score:
    tp: int = 0
    fp: int = 0
    fn: int = 0
    possible: int = 0
    possible_pos: int = 0  # relevant bills decided `possible`
    total: int = 0
    false_pos: list[tuple[BillText, object]] = field(default_factory=list)
    false_neg: list[tuple[BillText, object]] = field(default_factory=list)

    def add(self, bill: BillText, decision: str, result: object, gold: bool) -> None:
        self.total += 1
        if decision == "possible":
            self.possible += 1
            self.possible_pos += gold
        if decision == "yes" and gold:
            self.tp += 1
        elif decision == "yes":
            self.fp += 1
            self.false_pos.append((bill, result))
        elif gold:
            self.fn += 1
            self.false_neg.append((bill, result))

    def row(self) -> str:
        p = self.tp / (self.tp + self.fp) if self.tp + self.fp else 0.0
        r = self.tp / (self.tp + self.fn) if self.tp + self.fn else 0.0
        wide = (self.tp + self.possible_pos) / (self.tp + self.fn) if self.tp + self.fn else 0.0
        share = self.possible / self.total if self.total else 0.0
        return (
            f"{r:6.3f} {p:6.3f} {wide:8.3f} {self.possible:6d} {share:7.3%}"
            f"   tp {self.tp} fp {self.fp} fn {self.fn}"
        )


def is_gold(bill: BillText, adjudicated: bool) -> bool:
    if bill.label:
        return bill.label in RELEVANT_LABELS
    key = (
        bill.state.upper(),
        bill.session[:4],
        normalize_identifier(bill.identifier).replace(" ", "").upper(),
    )
    return adjudicated and key in UNLABELLED_RELEVANT


def rules_judge(
    bills: list[BillText], classifiers: dict[str, TopicClassifier], default: TopicClassifier
) -> Judge:
    """Decisions of the rules, in two passes as `tracker topics classify` makes them: programme
    names learned from each state's `yes` bills (NameLineage) turn its other bills naming them
    into `possible`. Only the rules' decisions are used, never a label."""
    first = {}
    lineage = NameLineage(default)
    for bill in bills:
        classifier = classifiers.get(bill.state.lower(), default)
        result = classifier.classify(
            title=bill.title,
            description=bill.description,
            subjects=bill.subjects,
            state=bill.state.lower(),
            session=bill.session,
            identifier=bill.identifier,
        )
        lineage.learn(state=bill.state, identifier=bill.identifier, title=bill.title, result=result)
        first[id(bill)] = result

    def judge(bill: BillText) -> tuple[str, object]:
        result = lineage.apply(state=bill.state, title=bill.title, result=first[id(bill)])
        return result.decision, result

    return judge


def baseline_judge(bill: BillText) -> tuple[str, object]:
    text = f"{bill.title} {bill.description}"
    hit = next((rx.pattern for rx in BASELINE if rx.search(text)), None)
    return ("yes" if hit else "no"), hit


def evaluate(bills: list[BillText], judge: Judge, adjudicated: bool) -> dict[str, Score]:
    """Scores overall ("ALL") and per state; `uncertain` labels are not scored."""
    scores: dict[str, Score] = defaultdict(Score)
    for bill in bills:
        if bill.label == "uncertain":
            continue
        decision, result = judge(bill)
        gold = is_gold(bill, adjudicated)
        for key in ("ALL", bill.state.upper()):
            scores[key].add(bill, decision, result, gold)
    return scores


def loso_classifiers(bills: list[BillText]) -> dict[str, TopicClassifier]:
    """For each state, the rules with that state's curator pins left out (the rules and their
    examples name no state; examples are checked by tests, never used to classify)."""
    config = get_classifier().config
    pins = load_pins(Path(get_settings().resolved_config_dir) / "overrides.yaml")
    states = {b.state.lower() for b in bills}
    return {st: TopicClassifier(config, [p for p in pins if p.state != st]) for st in states}


def run(bills: list[BillText], verbose: bool) -> None:
    n_labelled = sum(1 for b in bills if b.source == "labelled")
    print(
        f"bills: {len(bills):,} ({n_labelled} labelled, {len(bills) - n_labelled:,} other bills "
        "as negatives); relevant = single-payer + single-payer-study decided `yes`"
    )
    config = get_classifier().config
    pins = load_pins(Path(get_settings().resolved_config_dir) / "overrides.yaml")
    in_sample = TopicClassifier(config, pins)
    loso = loso_classifiers(bills)
    t0 = time.perf_counter()
    in_judge, loso_judge = rules_judge(bills, {}, in_sample), rules_judge(bills, loso, in_sample)
    results = {}
    for adjudicated in (False, True):
        results[("in-sample", adjudicated)] = evaluate(bills, in_judge, adjudicated)
        results[("leave-one-state-out", adjudicated)] = evaluate(bills, loso_judge, adjudicated)
        results[("baseline: 7 plain regexes", adjudicated)] = evaluate(
            bills, baseline_judge, adjudicated
        )
    elapsed = time.perf_counter() - t0
    header = f"{'':40} {'recall':>6} {'prec.':>6} {'rec.y+p':>8} {'poss.':>6} {'poss.%':>7}"
    for adjudicated in (False, True):
        what = (
            "adjudicated (unlabelled bills read as relevant count as relevant)"
            if adjudicated
            else "strict (every unlabelled bill is a negative)"
        )
        print(f"\n{what}\n{header}")
        for (name, adj), scores in results.items():
            if adj == adjudicated:
                print(f"{name:40} {scores['ALL'].row()}")
    print("\nleave-one-state-out by state (adjudicated)\n" + header)
    loso_scores = results[("leave-one-state-out", True)]
    for state in sorted(k for k in loso_scores if k != "ALL"):
        sc = loso_scores[state]
        if sc.tp + sc.fn + sc.fp + sc.possible:
            print(f"{state:40} {sc.row()}")
    print(
        f"\nspeed: {6 * len(bills) / elapsed:,.0f} bills/s on one core (6 passes, {elapsed:.1f}s)"
    )
    strict = results[("leave-one-state-out", False)]["ALL"]
    _list("false positives (leave-one-state-out, strict)", strict.false_pos)
    _list("false negatives (leave-one-state-out)", strict.false_neg)
    if verbose:
        possible = [(b, r) for b in bills for d, r in [loso_judge(b)] if d == "possible"]
        _list("possible (the curator queue)", possible)
    print("\nunlabelled bills read as relevant (adjudicated figures):")
    for (state, year, bill), why in UNLABELLED_RELEVANT.items():
        print(f"  {state} {year} {bill}: {why}")


def _list(name: str, rows: list[tuple[BillText, object]]) -> None:
    print(f"\n{name}: {len(rows)}")
    for bill, result in rows:
        evidence = "; ".join(f"{e['phrase']}({e['weight']:+g})" for e in result.evidence)[:160]  # type: ignore[attr-defined]
        print(
            f"  {bill.state} {bill.session[:12]} {bill.identifier} [{bill.label or bill.source}] "
            f"-> {result.topic} {result.score:g}: {bill.title[:110]!r}"  # type: ignore[attr-defined]
        )
        if evidence:
            print(f"      evidence: {evidence}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--verbose", action="store_true", help="also list every `possible` bill")
    parser.add_argument(
        "--cache",
        type=Path,
        help="pickle the loaded bills here and reuse them (reading "
        "every zip takes minutes on a slow disk)",
    )
    args = parser.parse_args()
    t0 = time.perf_counter()
    if args.cache and args.cache.is_file():
        bills = pickle.loads(args.cache.read_bytes())
    else:
        bills = corpus(shared_data())
        if args.cache:
            args.cache.write_bytes(pickle.dumps(bills))
    print(f"loaded in {time.perf_counter() - t0:.1f}s")
    run(bills, args.verbose)


if __name__ == "__main__":
    main()
