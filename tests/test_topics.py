"""Topic rules: examples in config/topics.yaml, the known traps, pins, the CLI contract."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from tracker.paths import config_dir
from tracker.settings import reset_settings
from tracker.topics import (
    Example,
    TopicConfigError,
    TopicResult,
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
    assert (
        same_as_bill.topic == "none"
    )  # a title alone is weak evidence; the memorial's number decides


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
        "or,SB 1,Relating to health,Establishes a publicly funded universal health care system,d\n",
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
    ]
    assert [(r["topic"], r["relevant"]) for r in rows] == [
        ("single-payer", "true"),
        ("none", "false"),
        ("resolution", "false"),
        ("single-payer", "true"),
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
    assert "topic: none" in result.output and "-5" in result.output


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
