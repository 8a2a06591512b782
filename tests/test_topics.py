"""Topic rules: examples in config/topics.yaml, the known traps, pins, the CLI contract."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from tracker.actions import required_literals, triggers_for
from tracker.paths import config_dir
from tracker.settings import reset_settings
from tracker.topics import (
    Example,
    TopicClassifier,
    TopicConfigError,
    TopicResult,
    TopicsConfig,
    classify_topic,
    clear_cache,
    load_pins,
    load_topics_config,
)


@pytest.fixture(autouse=True)
def _fresh():
    clear_cache()
    yield
    clear_cache()


def _examples() -> list[tuple[str, Example]]:
    config = load_topics_config(config_dir() / "topics.yaml")
    out = []
    for topic, spec in config.topics.items():
        for ex in spec.examples:
            out.append((topic, ex if isinstance(ex, Example) else Example(title=ex)))
    return out


@pytest.mark.parametrize(
    ("topic", "example"), _examples(), ids=[f"{t}:{e.title[:40]}" for t, e in _examples()]
)
def test_every_example_title_classifies_to_its_topic(topic, example):
    result = classify_topic(
        title=example.title, description=example.description, identifier=example.identifier
    )
    assert result.topic == topic, (result.topic, result.score, result.evidence)


@pytest.mark.parametrize(
    ("title", "description"),
    [
        ("Provisions modification and definition requirement for calcareous fens", ""),
        (
            "Healthy Maryland Initiative",
            "Increasing the tax on cigarettes and other tobacco products",
        ),
        (
            "An act relating to Green Mountain Care Board authority to adjust a hospital's reimbursement rates",
            "",
        ),
        (
            "Minnesota Health Plan Market Rules provisions added, essential community provider designated",
            "",
        ),
        (
            "Relating to health; declaring an emergency.",
            "Requires Oregon Health Authority to report on publicly funded health programs.",
        ),
        ("Higher Education Student Health Trusts And Plans", ""),
        ("An Act relative to problem gambling and the public health trust fund", ""),
    ],
)
def test_traps_are_not_relevant(title, description):
    result = classify_topic(title=title, description=description)
    assert not result.relevant, result.evidence


def test_calcare_is_a_word_not_a_substring():
    assert classify_topic(title="California Guaranteed Health Care for All Act (CalCare)").relevant
    fens = classify_topic(title="Calcareous fens; definition required")
    assert fens.topic == "none" and fens.evidence == []


def test_evidence_explains_what_counted_including_negative_evidence():
    result = classify_topic(
        title="Federal health care reform conforming changes; Minnesota Health "
        "Insurance Exchange establishment; universal health coverage requirement"
    )
    phrases = {e["phrase"].lower(): e for e in result.evidence}
    assert phrases["universal health coverage"]["weight"] > 0
    assert phrases["insurance exchange"]["weight"] < 0
    assert all(set(e) >= {"phrase", "field", "weight", "topic"} for e in result.evidence)
    assert not result.relevant


def test_overlapping_phrases_count_once():
    result = classify_topic(title="Minnesota Health Plan establishment")
    assert [e["phrase"] for e in result.evidence] == ["Minnesota Health Plan establishment"]
    assert result.topic == "single-payer" and result.score == 3.5


def test_study_and_resolution_refine_single_payer():
    study = classify_topic(
        title="Relating to universal health care; and declaring an emergency.",
        description="Extends for one year sunset on Task Force on Universal Health Care.",
    )
    assert (study.topic, study.relevant) == ("single-payer-study", True)
    memorial = classify_topic(title="Concerning Universal Health Care.", identifier="SJM 8004")
    assert (memorial.topic, memorial.relevant) == ("resolution", False)
    same_as_bill = classify_topic(title="Concerning Universal Health Care.", identifier="SB 8004")
    # a bill (not a memorial) titled after universal health care is about a universal system
    assert (same_as_bill.topic, same_as_bill.decision) == ("single-payer", "yes")


def test_text_field_counts_with_lower_weight():
    body = (
        "A BILL to establish a single-payer health care system: a universal health care system "
        "for all residents of the state."
    )
    result = classify_topic(title="Relating to health care", text=body)
    assert result.topic == "single-payer"
    assert {e["field"] for e in result.evidence} == {"text"}


def test_pins_win_and_say_why(tmp_path, monkeypatch):
    cfg = tmp_path / "config"
    cfg.mkdir()
    (cfg / "topics.yaml").write_text(
        (config_dir() / "topics.yaml").read_text(encoding="utf-8"), encoding="utf-8"
    )
    (cfg / "overrides.yaml").write_text(
        yaml.safe_dump(
            {
                "pins": [
                    {
                        "state": "MN",
                        "session": "2025-2026",
                        "identifier": "SF 979",
                        "topic": "single-payer-study",
                        "reason": "curator test",
                    }
                ]
            }
        ),
        encoding="utf-8",
    )
    monkeypatch.setenv("TRACKER_CONFIG_DIR", str(cfg))
    reset_settings()
    title = "Provisions modification and definition requirement for calcareous fens"
    pinned = classify_topic(title=title, state="mn", session="2025-2026", identifier="SF979")
    assert isinstance(pinned, TopicResult)
    assert (pinned.topic, pinned.relevant) == ("single-payer-study", True)
    assert (
        pinned.evidence[0]["phrase"] == "pinned by curator: curator test"
        and pinned.evidence[0]["pinned"]
    )
    assert (
        classify_topic(title=title, state="mn", session="2023-2024", identifier="SF979").topic
        == "none"
    )


def test_shipped_pins_are_valid():
    for pin in load_pins(config_dir() / "overrides.yaml"):
        assert pin.reason.strip()


def test_bad_config_names_file_and_entry(tmp_path):
    bad = tmp_path / "topics.yaml"
    bad.write_text("field_weights: {title: 1}\ntopics:\n  single-payr: {}\n", encoding="utf-8")
    with pytest.raises(
        TopicConfigError, match=r"topics\.yaml: invalid topic rules: .*unknown topic"
    ):
        load_topics_config(bad)
    pins = tmp_path / "overrides.yaml"
    pins.write_text(
        "pins:\n  - {state: mn, session: x, identifier: SF 1, topic: single-payer}\n",
        encoding="utf-8",
    )
    with pytest.raises(TopicConfigError, match=r"overrides\.yaml: pin 0 is invalid: reason"):
        load_pins(pins)


def test_a_bad_phrase_names_file_topic_and_pattern():
    config = TopicsConfig.model_validate(
        {
            "field_weights": {"title": 1},
            "topics": {
                "single-payer": {
                    "phrases": [
                        {"pattern": "single payer", "weight": 3},
                        {"pattern": "medicare (for all", "weight": 3},
                    ]
                }
            },
        }
    )
    with pytest.raises(
        TopicConfigError,
        match=r"x/topics\.yaml: topic single-payer: bad pattern 'medicare \(for all': missing \)",
    ):
        TopicClassifier(config, source="x/topics.yaml")


def test_phrase_triggers_come_from_the_regex_that_is_searched():
    """One parse per phrase: the requirements of the compiled tree are those of its source."""
    classifier = TopicClassifier(load_topics_config(config_dir() / "topics.yaml"))
    phrases = [
        ph
        for name in classifier.specs
        for ph in classifier.phrases[name] + classifier.negatives[name]
    ]
    assert len(phrases) > 20
    for ph in phrases:
        assert ph.requires == tuple(required_literals(ph.regex_source)), ph.regex_source
        assert ph.triggers == triggers_for(ph.regex_source)
    config = TopicsConfig.model_validate(
        {
            "field_weights": {"title": 1},
            "topics": {"single-payer": {"phrases": [{"pattern": "[Ss]ingle PAYER", "weight": 3}]}},
        }
    )
    [phrase] = TopicClassifier(config).phrases["single-payer"]
    assert phrase.requires == (frozenset({"single"}), frozenset({"payer"}))
    assert phrase.regex.search("a single-payer system").group() == "single-payer"


def _app():
    from tracker.cli.topics import app

    return app


def test_cli_classify_contract(tmp_path):
    src = tmp_path / "bills_synthetic.csv"
    src.write_text(
        "state,bill,title,description,extra\n"
        "mn,SF 929,Minnesota Health Plan establishment,,a\n"
        "mn,SF 979,Provisions modification and definition requirement for calcareous fens,,b\n"
        'wa,SJM 8004,Concerning Universal Health Care.,"",c\n'
        "or,SB 1,Relating to health,Establishes a publicly funded universal health care system,d\n"
        "co,SB 168,Colorado Health Care Cooperative,,e\n",
        encoding="utf-8",
    )
    out = tmp_path / "out_synthetic.csv"
    result = CliRunner().invoke(_app(), ["classify", "--input", str(src), "--output", str(out)])
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(out.open(encoding="utf-8")))
    assert list(rows[0]) == [
        "state",
        "bill",
        "title",
        "description",
        "extra",
        "topic",
        "relevant",
        "score",
        "evidence",
        "decision",
    ]
    assert [(r["topic"], r["relevant"], r["decision"]) for r in rows] == [
        ("single-payer", "true", "yes"),
        ("none", "false", "no"),
        ("resolution", "false", "no"),
        ("single-payer", "true", "yes"),
        ("none", "false", "possible"),  # a cooperative may be a purchasing pool: a curator decides
    ]
    assert (
        rows[0]["evidence"] == "Minnesota Health Plan establishment" and rows[0]["score"] == "3.5"
    )
    assert rows[0]["extra"] == "a"


def test_cli_classify_requires_columns(tmp_path):
    src = tmp_path / "bad_synthetic.csv"
    src.write_text("state,title\nmn,x\n", encoding="utf-8")
    result = CliRunner().invoke(
        _app(), ["classify", "--input", str(src), "--output", str(tmp_path / "o.csv")]
    )
    assert result.exit_code == 2 and f"{src}:1" in result.output and "bill" in result.output


def test_cli_explain():
    result = CliRunner().invoke(
        _app(), ["explain", "--title", "Minnesota Health Plan Market Rules"]
    )
    assert result.exit_code == 0, result.output
    assert "topic: none" in result.output and "decision: no" in result.output
    assert "-5" in result.output


def test_labelled_bills(shared_data: Path):
    """The labelled file: every establish/study bill the rules find, no near-miss called relevant."""
    path = shared_data / "topics" / "health_bills_labelled.csv"
    rows = list(csv.DictReader(path.open(encoding="utf-8")))
    relevant = {"single_payer_establish", "universal_plan_study_or_governance"}
    tp = fp = fn = 0
    for r in rows:
        if r["label"] == "uncertain":
            continue
        got = classify_topic(
            title=r["title"],
            description=r["description"] if r["description"] != r["title"] else "",
            identifier=r["bill"],
        ).relevant
        gold = r["label"] in relevant
        tp += got and gold
        fp += got and not gold
        fn += gold and not got
    assert fp == 0
    assert tp / (tp + fn) >= 0.9


@pytest.mark.parametrize(
    "title",
    [
        "New York Health Act",
        "Healthy California Act",
        "Minnesota Health Security Act",
        "Health Security Act",
        "An Act establishing the Pennsylvania Health Care Plan",
        "Establishes the New Jersey Health Care Plan",
        "CalCare",
        "Developing the Washington health trust.",
        "Establishing a universal health care program",
        "Relating to universal health care.",
    ],
)
def test_programme_names_alone_are_single_payer(title):
    """Bills known only by the name of the programme they create, with no description: generic
    patterns ({state} Health Plan/Act/Trust, Healthy {state} Act, {statestem}Care), no bill list."""
    result = classify_topic(title=title)
    assert (result.topic, result.decision, result.relevant) == ("single-payer", "yes", True), (
        result.evidence
    )


@pytest.mark.parametrize(
    ("title", "decision"),
    [
        ("Healthy Michigan plan; modify eligibility", "possible"),  # Medicaid in some states
        ("Colorado Health Care Cooperative", "possible"),
        ("MinnesotaCare public option establishment", "no"),  # a public option, not a review
        ("Retiree health care trust fund; contributions", "no"),
        ("TennCare; dental benefits for adults", "no"),
        ("Universal newborn hearing screening", "no"),
        ("Universal health care coverage for children", "no"),
        ("Smile Healthy Minnesota 2016 grant program establishment", "no"),
    ],
)
def test_name_collisions_stay_out_of_yes(title, decision):
    result = classify_topic(title=title)
    assert result.decision == decision, (result.topic, result.score, result.evidence)
    assert not result.relevant


def test_bill_text_is_evidence():
    """A short title plus text that explains the programme: the text decides."""
    text = (
        "Section 1. There is established the Health Plan, which shall provide comprehensive "
        "health care for all residents of the state, with no premiums, deductibles or copayments."
    )
    title = "An act relating to the Health Plan"
    without = classify_topic(title=title)
    hinted = classify_topic(title=title, text=text)
    stated = classify_topic(title=title, text=text + " The Health Plan is a single-payer system.")
    assert without.decision == "no"
    assert hinted.decision == "possible"  # text counts at 0.6: hints go to a curator
    assert stated.decision == "yes" and {e["field"] for e in stated.evidence} == {"text"}


def test_pin_decides_yes_or_no(tmp_path, monkeypatch):
    config = tmp_path / "config"
    shutil.copytree(config_dir(), config)
    (config / "overrides.yaml").write_text(
        "pins:\n"
        "  - {state: co, session: '2011', identifier: SB 168, topic: single-payer, reason: r}\n"
        "  - {state: co, session: '2011', identifier: SB 169, topic: none, reason: r}\n",
        encoding="utf-8",
    )
    monkeypatch.setenv("TRACKER_CONFIG_DIR", str(config))
    reset_settings()
    title = "Colorado Health Care Cooperative"
    accepted = classify_topic(title=title, state="co", session="2011", identifier="SB168")
    rejected = classify_topic(title=title, state="co", session="2011", identifier="SB169")
    assert (accepted.decision, accepted.relevant) == ("yes", True)
    assert (rejected.decision, rejected.relevant) == ("no", False)


def _bill(state: str, identifier: str, title: str) -> dict:
    """A made-up bill (synthetic) in ScrapedBill shape."""
    return {
        "state": state,
        "legislative_session": "2011",
        "identifier": identifier,
        "title": title,
        "chamber": "upper",
        "actions": [{"date": "2011-01-12", "description": "Introduced", "chamber": "upper"}],
        "sources": [{"url": f"https://example.org/{identifier}"}],
    }


@pytest.fixture
def own_config(tmp_path, monkeypatch) -> Path:
    """A copy of config/ so reviews write their pins there, never into the repo."""
    config = tmp_path / "config"
    shutil.copytree(config_dir(), config)
    monkeypatch.setenv("TRACKER_CONFIG_DIR", str(config))
    reset_settings()
    clear_cache()
    return config


def test_review_queue_accept_and_reject(engine, own_config):
    from sqlmodel import Session, select

    from tracker.ingest import ingest_bills
    from tracker.models import Bill, Change
    from tracker.topic_review import ReviewError, apply_review, review_queue

    bills = [
        _bill("co", "SB 1", "Colorado Health Care Cooperative"),
        _bill("co", "SB 2", "Healthy Colorado plan; eligibility"),
        _bill("co", "SB 3", "Colorado Health Security Act"),
        _bill("co", "SB 4", "Concerning calcareous fens"),
    ]
    ingest_bills(engine, bills, source="test")
    with Session(engine) as session:
        decided = {b.identifier: b.topic_decision for b in session.exec(select(Bill))}
        assert decided == {"SB 1": "possible", "SB 2": "possible", "SB 3": "yes", "SB 4": "no"}
        assert [b.identifier for b in review_queue(session, state="co")] == ["SB 1", "SB 2"]
        with pytest.raises(ReviewError, match="reason"):
            apply_review(
                session, state="co", bill_session="2011", identifier="SB1", accept=True, reason=" "
            )
        with pytest.raises(ReviewError, match="no bill CO 2011 SB 9"):
            apply_review(
                session, state="co", bill_session="2011", identifier="SB 9", accept=True, reason="x"
            )
        outcome = apply_review(
            session,
            state="CO",
            bill_session="2011",
            identifier="SB1",
            accept=True,
            reason="a statewide cooperative covering every resident",
        )
        session.commit()
        assert [(c.kind, c.field, c.old, c.new) for c in outcome.changes] == [
            ("became_relevant", "topic", "none", "single-payer"),
            ("topic_changed", "topic_decision", "possible", "yes"),
        ]
        bill = session.exec(select(Bill).where(Bill.identifier == "SB 1")).one()
        assert (bill.topic, bill.relevant, bill.topic_decision, bill.topic_pinned) == (
            "single-payer",
            True,
            "yes",
            True,
        )
        assert "statewide cooperative" in bill.topic_evidence[0]["phrase"]
        assert [b.identifier for b in review_queue(session)] == ["SB 2"]
        stored = session.exec(select(Change).where(Change.source == "curator")).all()
        assert len(stored) == 2
    # the review is saved in the data folder (writable by a site), config/ is left as shipped
    from tracker.topics import curator_pins_path

    pins = load_pins(curator_pins_path())
    assert [(p.state, p.identifier, p.topic) for p in pins] == [("co", "SB 1", "single-payer")]
    assert curator_pins_path().read_text(encoding="utf-8").startswith("# Curator reviews")
    assert (own_config / "overrides.yaml").read_bytes() == (
        config_dir() / "overrides.yaml"
    ).read_bytes()
    # the pin holds when the bill comes back from a source with a new title
    ingest_bills(
        engine, [{**bills[0], "title": "Colorado Health Care Cooperative Act"}], source="test"
    )
    with Session(engine) as session:
        again = session.exec(select(Bill).where(Bill.identifier == "SB 1")).one()
        assert (again.title, again.topic_decision) == (
            "Colorado Health Care Cooperative Act",
            "yes",
        )


def test_review_cli(engine, db_url, own_config, monkeypatch):
    from sqlmodel import Session, select

    from tracker.ingest import ingest_bills
    from tracker.models import Bill

    monkeypatch.setenv("TRACKER_DATABASE_URL", db_url)
    reset_settings()
    ingest_bills(engine, [_bill("mi", "HB 5", "Healthy Michigan plan; eligibility")], source="t")
    listed = CliRunner().invoke(_app(), ["review", "--state", "mi"])
    assert listed.exit_code == 0, listed.output
    assert "HB 5" in listed.output and "1 bill(s) to review" in listed.output
    rejected = CliRunner().invoke(
        _app(), ["review", "reject", "mi", "2011", "HB5", "--reason", "the Medicaid expansion"]
    )
    assert rejected.exit_code == 0, rejected.output
    assert "MI 2011 HB 5: none (no), 1 change(s) recorded" in rejected.output
    with Session(engine) as session:
        bill = session.exec(select(Bill)).one()
        assert (bill.topic_decision, bill.topic_pinned) == ("no", True)
    assert "no bill is waiting" in CliRunner().invoke(_app(), ["review"]).output
    missing = CliRunner().invoke(
        _app(), ["review", "accept", "mi", "2011", "HB 6", "--reason", "x"]
    )
    assert missing.exit_code == 2 and "no bill MI 2011 HB 6" in missing.output


def test_cli_classify_learns_programme_names_per_state(tmp_path):
    """A programme named by a `yes` bill makes the same state's other bills naming it `possible`
    (never `yes`, and never the agency that runs it, nor another state's bill)."""
    src = tmp_path / "lineage_synthetic.csv"
    src.write_text(
        "state,bill,title\n"
        "zz,H 9,An act relating to incremental implementation of Prairie Health Care\n"
        "zz,H 1,Single-payer and unified health system (Prairie Health Care)\n"
        "zz,S 2,An act relating to the duties of the Prairie Health Care Board\n"
        "yy,H 3,An act relating to incremental implementation of Prairie Health Care\n",
        encoding="utf-8",
    )
    out = tmp_path / "lineage_out_synthetic.csv"
    result = CliRunner().invoke(_app(), ["classify", "--input", str(src), "--output", str(out)])
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(out.open(encoding="utf-8")))
    assert [(r["bill"], r["decision"]) for r in rows] == [
        ("H 9", "possible"),
        ("H 1", "yes"),
        ("S 2", "no"),
        ("H 3", "no"),
    ]
    assert rows[0]["evidence"] == "prairie health care (the programme H 1 created)"


def test_review_queue_learns_programme_names_from_stored_bills(engine, own_config):
    from sqlmodel import Session, select

    from tracker.ingest import ingest_bills
    from tracker.models import Bill, Change
    from tracker.topic_review import refresh_name_lineage, review_queue

    ingest_bills(
        engine,
        [
            _bill("vt", "H 1", "Single-payer and unified health system (Prairie Health Care)"),
            _bill(
                "vt", "H 9", "An act relating to incremental implementation of Prairie Health Care"
            ),
            _bill("vt", "S 2", "An act relating to the duties of the Prairie Health Care Board"),
            _bill(
                "nh", "H 3", "An act relating to incremental implementation of Prairie Health Care"
            ),
        ],
        source="test",
    )
    with Session(engine) as session:
        assert review_queue(session) == []
        marked = refresh_name_lineage(session)
        session.commit()
        assert [(b.state, b.identifier) for b in marked] == [("vt", "H 9")]
        assert [b.identifier for b in review_queue(session)] == ["H 9"]
        assert refresh_name_lineage(session) == []  # idempotent
        change = session.exec(select(Change).where(Change.source == "lineage")).one()
        assert (change.field, change.old, change.new) == ("topic_decision", "no", "possible")
        bill = session.exec(select(Bill).where(Bill.identifier == "H 9")).one()
        assert bill.topic_evidence[-1]["field"] == "lineage"
