"""Topic classifier: precision and recall for "relevant" (single-payer or its study/governance).

Usage:
    .venv/bin/python bench/bench_topics.py            # figures, every false positive/negative
    .venv/bin/python bench/bench_topics.py --with-pins   # let config/overrides.yaml pins count

Positives: ../shared/data/topics/health_bills_labelled.csv rows labelled single_payer_establish or
universal_plan_study_or_governance. Negatives: its other rows (near-misses, name collisions;
`uncertain` is reported apart) plus every other bill under ../shared/data: LegiScan bulk_csv and
archive zips (bills.csv title + description), Open States scraper JSON (Idaho) and Windy Civi
tarballs (title + abstracts + subjects), and the Alaska billy CSV (title + subjects).
By default curator pins are ignored, so the figures measure the rules alone.
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
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tracker.identifiers import normalize_identifier  # noqa: E402
from tracker.settings import get_settings  # noqa: E402
from tracker.topics import TopicClassifier, get_classifier  # noqa: E402

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


def run(bills: list[BillText], classifier: TopicClassifier, with_pins: bool) -> None:
    tp = fp = fn = tn = 0
    false_pos: list[tuple[BillText, object]] = []
    false_neg: list[tuple[BillText, object]] = []
    uncertain: list[tuple[BillText, object]] = []
    t0 = time.perf_counter()
    for bill in bills:
        result = classifier.classify(
            title=bill.title,
            description=bill.description,
            subjects=bill.subjects,
            state=bill.state.lower() if with_pins else None,
            session=bill.session,
            identifier=bill.identifier,
        )
        if bill.label == "uncertain":
            uncertain.append((bill, result))
            continue
        gold = bill.label in RELEVANT_LABELS
        if result.relevant and gold:
            tp += 1
        elif result.relevant:
            fp += 1
            false_pos.append((bill, result))
        elif gold:
            fn += 1
            false_neg.append((bill, result))
        else:
            tn += 1
    elapsed = time.perf_counter() - t0
    n_labelled = sum(1 for b in bills if b.source == "labelled")
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    print(
        f"bills: {len(bills):,} ({n_labelled} labelled, {len(bills) - n_labelled:,} other bills as negatives)"
    )
    print(f"relevant: precision {p:.3f}  recall {r:.3f}  (tp {tp}, fp {fp}, fn {fn}, tn {tn:,})")
    print(f"speed: {len(bills) / elapsed:,.0f} bills/s on one core ({elapsed:.2f}s)")
    _list("false positives", false_pos)
    _list("false negatives", false_neg)
    _list("uncertain (not scored)", uncertain)


def _list(name: str, rows: list[tuple[BillText, object]]) -> None:
    print(f"\n{name}: {len(rows)}")
    for bill, result in rows:
        evidence = "; ".join(f"{e['phrase']}({e['weight']:+g})" for e in result.evidence)[:160]  # type: ignore[attr-defined]
        print(
            f"  {bill.state} {bill.session[:12]} {bill.identifier} [{bill.label or bill.source}] "
            f"-> {result.topic} {result.score:g}: {bill.title[:110]!r}"
        )  # type: ignore[attr-defined]
        if evidence:
            print(f"      evidence: {evidence}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--with-pins", action="store_true", help="apply config/overrides.yaml pins")
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
    run(bills, get_classifier(), args.with_pins)


if __name__ == "__main__":
    main()
