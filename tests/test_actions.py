"""Action rules: the engine, every rule's examples, per-state files, the CLI contract."""

from __future__ import annotations

import csv
import gzip
import itertools
import re
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from tracker.actions import (
    RuleError,
    RuleSet,
    ScanThenMatch,
    analyse_regex,
    analyse_search,
    classify_action,
    clear_cache,
    compile_pattern,
    load_rules,
    parse_rules,
    required_literals,
    split_alternatives,
    triggers_for,
)
from tracker.paths import config_dir
from tracker.settings import reset_settings


@pytest.fixture(autouse=True)
def _fresh_rules():
    clear_cache()
    yield
    clear_cache()


def _rule_files() -> list[Path]:
    cfg = config_dir()
    files = [cfg / "actions.yaml", *sorted((cfg / "action_rules").glob("*.yaml"))]
    return files + sorted((cfg / "states").glob("*.yaml"))


def _examples() -> list[tuple[str, str | None, int, dict]]:
    """(file, state, index, rule) for every rule that has examples, defaults and per-state."""
    out = []
    for path in _rule_files():
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        if path.name == "actions.yaml":
            rules, state = data["rules"], None
        elif path.parent.name == "action_rules":
            rules, state = (data.get("rules") if isinstance(data, dict) else data), path.stem
        else:
            rules, state = data.get("action_rules") or [], path.stem
        for index, rule in enumerate(rules or []):
            out.append((path.name, state, index, rule))
    return out


@pytest.mark.parametrize(
    ("file", "state", "index", "rule"),
    _examples(),
    ids=[f"{f}#{i}-{r.get('id', '')}" for f, _s, i, r in _examples()],
)
def test_every_rule_example_classifies_into_its_classes(file, state, index, rule):
    for example in rule.get("examples") or []:
        got = classify_action(example, rule.get("actor"), state)
        missing = set(rule["classifications"]) - set(got)
        assert not missing, (
            f"{file} rule {index} ({rule.get('id')}): {example!r} -> {got}, missing {missing}"
        )


def test_default_rules_have_ids_and_examples():
    data = yaml.safe_load((config_dir() / "actions.yaml").read_text(encoding="utf-8"))
    ids = [r.get("id") for r in data["rules"]]
    assert all(ids) and len(ids) == len(set(ids)), "every default rule needs a unique id"
    assert all(r.get("examples") for r in data["rules"]), "every default rule needs examples"


@pytest.mark.parametrize(
    ("text", "chamber", "expected"),
    [
        (
            "Introduced, read first time, referred to JRA for Printing",
            "lower",
            ["introduction", "reading-1"],
        ),
        (
            "Referred to the committee on Health Care Financing",
            "legislature",
            ["referral-committee"],
        ),
        (
            "Third reading, passed; yeas, 95; nays, 0; absent, 0; excused, 3.",
            "lower",
            ["reading-3", "passage"],
        ),
        ("Governor signed.", "executive", ["executive-signature"]),
        ("Governor vetoed.", "executive", ["executive-veto"]),
        ("Governor partially vetoed.", "executive", ["executive-veto-line-item"]),
        ("Effective date 7/27/2025.", None, ["became-law"]),
        ("Amendment 3 (Tarr) adopted", "upper", ["amendment-passage"]),
        ("Committee amendment not adopted.", "lower", ["amendment-failure"]),
        ("Passed to Rules Committee for second reading.", "upper", []),
        ("Hearing scheduled for 03/04/2025 from 01:00 PM-05:00 PM in A-1", "legislature", []),
        ("House Committee of the Whole - Be passed as amended", "lower", []),
        ("House majority caucus: Do pass", "lower", []),
        ("Withdrawn by sponsor", "upper", ["withdrawal"]),
        ("House Withdrawn, Recommitted", "lower", ["referral-committee"]),
        ("Died in Assembly", "lower", ["failure"]),
        ("Chaptered by Secretary of State", None, ["became-law"]),
        ("Rpt. out of cmte. w/ rec. to pass as amended", "upper", ["committee-passage-favorable"]),
        ("", None, []),
    ],
)
def test_default_rules_on_wording_from_many_states(text, chamber, expected):
    assert classify_action(text, chamber, None) == expected


# Real phrasings of legislatures outside the shared data (CA, NY, NJ, PA, VA, NC, TX, FL, WI, MD,
# HI, TN, LA, SC, ND, NE, SD, UT, MI), scored on the key classes only: what an unseen state gets.
_KEY = {
    "introduction",
    "referral-committee",
    "committee-passage",
    "committee-passage-favorable",
    "committee-passage-unfavorable",
    "passage",
    "failure",
    "executive-signature",
    "executive-veto",
    "became-law",
    "withdrawal",
}


# a favorable or unfavorable report is also a committee passage; compare the family
_FAMILY = {c: "committee-passage" for c in _KEY if c.startswith("committee-passage")}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # committee reports, with or without "do pass"
        ("REPORTED AND COMMITTED TO FINANCE", {"committee-passage", "referral-committee"}),
        ("reported referred to ways and means", {"committee-passage", "referral-committee"}),
        ("Reported as amended", {"committee-passage"}),
        ("Re-reported as committed from APPROPRIATIONS", {"committee-passage"}),
        (
            "Reported from Health, Welfare and Institutions with substitute (22-Y 0-N)",
            {"committee-passage"},
        ),
        (
            "Reported and Referred to Assembly Appropriations Committee",
            {"committee-passage", "referral-committee"},
        ),
        (
            "From committee: Do pass and re-refer to Com. on APPR. (Ayes 11. Noes 3.)",
            {"committee-passage-favorable", "referral-committee"},
        ),
        ("Reptd Fav, Re-ref to Finance", {"committee-passage-favorable", "referral-committee"}),
        (
            "Report passage recommended by Committee on Health, Ayes 10, Noes 5",
            {"committee-passage-favorable"},
        ),
        ("Favorable with Amendments Report by Finance", {"committee-passage-favorable"}),
        ("Unfavorable Report by Judicial Proceedings", {"committee-passage-unfavorable"}),
        ("Do pass failed", set()),
        ("Passed by indefinitely in Health, Welfare and Institutions (8-Y 0-N)", set()),
        # floor passage named inside a longer phrase
        ("Third consideration and final passage (195-6)", {"passage"}),
        ("Read third time. Passed. Ordered to the Assembly.", {"passage"}),
        ("Read a third time and passed, Ayes 60, Noes 35", {"passage"}),
        ("Read third time and sent to Senate", {"passage"}),
        ("Passed 3rd Reading", {"passage"}),
        ("Third Reading - Short Debate - Passed 111-000-000", {"passage"}),
        ("Passed Senate (40-Y 0-N)", {"passage"}),
        ("passed assembly", {"passage"}),
        ("CS passed; YEAS 38 NAYS 0", {"passage"}),
        ("Resolution adopted", {"passage"}),
        ("Senate Conference Committee Report was adopted; Yea: 30 Nay: 9", {"passage"}),
        # ... and what only looks like passage
        ("Passed 2nd Reading", set()),
        ("Passed to engrossment", set()),
        ("Read by title, amended, passed to 3rd reading.", set()),
        ("Passed by for the day", set()),
        (
            "Passed Second Reading as amended in HD 1 and referred to the committee(s) on FIN",
            {"referral-committee"},
        ),
        ("House Floor Amendment No. 2 Adopted", set()),
        ("HOUSE ADOPTED HOUSE AMENDMENT SCHEDULE A", set()),
        ("Motion to refer to Committee on Rules failed", set()),
        ("Committee Substitute Adopted", set()),
        # failure, withdrawal, the governor, the law
        ("Read third time. Refused passage.", {"failure"}),
        ("Died pursuant to Art. IV, Sec. 10(c) of the Constitution.", {"failure"}),
        ("Stricken at request of Patron in Health (22-Y 0-N)", {"withdrawal"}),
        ("Presented to the Governor for approval", set()),
        ("Signed by Gov. 6/21/2023", {"executive-signature"}),
        ("SIGNED CHAP.123", {"executive-signature"}),
        ("Approved P.L.2023, c.12.", {"executive-signature"}),
        ("Pocket Veto", {"executive-veto"}),
        ("Passed notwithstanding the objections of the Governor", set()),
        ("Ch. SL 2023-45", {"became-law"}),
        ("Pub. Ch. 123", {"became-law"}),
        ("Intro., P1C.", {"introduction"}),
        ("Ref To Com On Rules, Calendar, and Operations of the House", {"referral-committee"}),
        ("Conf Report Adopted", {"passage"}),
        ("House read and passed", {"passage"}),
        ("Concurred in, Ayes 60, Noes 35", {"passage"}),
        ("Withdrawn From Com", set()),
        ("Laid on Table, refer to HB 123", set()),
        ("Placed on Calendar Order of 3rd Reading May 14, 2019", set()),
        ("Reported Duly Enrolled S Rules Committee", set()),
        ("Reported to the Senate and First Read", set()),
        ("Public Law 123", {"became-law"}),
    ],
)
def test_default_rules_read_legislatures_outside_the_shared_data(text, expected):
    got = {_FAMILY.get(c, c) for c in classify_action(text, None, None)} & _KEY
    assert got == {_FAMILY.get(c, c) for c in expected}


def _bench():
    """bench/bench_actions.py as a module (bench/ is scripts, not a package)."""
    import importlib.util

    path = Path(__file__).resolve().parent.parent / "bench" / "bench_actions.py"
    spec = importlib.util.spec_from_file_location("bench_actions_under_test", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_leave_one_state_out_leaves_the_states_own_rules_out(tmp_path, monkeypatch):
    """The bench's LOSO run judges a state by the shared rules alone (synthetic rules and rows)."""
    cfg = tmp_path / "config"
    (cfg / "action_rules").mkdir(parents=True)
    (cfg / "actions.yaml").write_text(
        yaml.safe_dump(
            {"rules": [{"id": "p", "pattern": r"\bpassed\b", "classifications": ["passage"]}]}
        )
    )
    (cfg / "action_rules" / "zz.yaml").write_text(
        yaml.safe_dump({"rules": [{"pattern": "^zed vote", "classifications": ["passage"]}]})
    )
    monkeypatch.setenv("TRACKER_CONFIG_DIR", str(cfg))
    reset_settings()
    bench = _bench()
    rows = [
        {"state": "ZZ", "description": "Zed vote 3-1", "actor": "", "classification": "passage"},
        {"state": "ZZ", "description": "Bill passed", "actor": "", "classification": "passage"},
        {"state": "YY", "description": "Passed", "actor": "", "classification": ""},
        {"state": "YY", "description": "Bill introduced", "actor": "", "classification": ""},
    ]
    own = bench.count(rows, bench.predict_all(rows, bench.in_sample), classes=bench.KEY)
    loso = bench.count(rows, bench.predict_all(rows, bench.leave_state_out), classes=bench.KEY)
    assert own["ZZ"]["passage"] == [2, 0, 0]
    assert loso["ZZ"]["passage"] == [1, 0, 1]  # the state's own idiom is not credited
    assert bench.micro_f1(own["ZZ"]) == 1.0
    assert bench.micro_f1(loso["ZZ"]) == pytest.approx(2 / 3)
    # YY labels a plain "Passed" nothing: raw counts it, adjusted sets the documented pattern aside
    assert loso["YY"]["passage"] == [0, 1, 0]
    adjusted = bench.count(
        rows, bench.predict_all(rows, bench.leave_state_out), classes=bench.KEY, adjusted=True
    )
    assert adjusted["YY"]["passage"] == [0, 0, 0]
    naive = bench.count(rows, bench.predict_all(rows, bench.naive), classes=bench.KEY)
    assert naive["YY"]["introduction"] == [0, 1, 0]
    assert bench.micro_f1(bench.total(loso)) == pytest.approx(2 / 4)


def test_output_is_ordered_and_deduplicated():
    rules = load_rules(
        None,
        extra=[
            {"pattern": "passed", "classifications": ["passage", "reading-3"]},
            {"pattern": "third", "classifications": ["reading-3"]},
        ],
    )
    assert rules.classify("Third reading, passed") == ["passage", "reading-3"]


def test_stop_ends_classification_and_explain_says_so():
    rules = load_rules(
        None,
        extra=[
            {
                "id": "first",
                "pattern": "^amendment\\b.*adopted",
                "classifications": ["amendment-passage"],
                "stop": True,
            },
        ],
    )
    assert rules.classify("Amendment 3 adopted") == ["amendment-passage"]
    matches = rules.explain("Amendment 3 adopted")
    assert [m.rule_id for m in matches] == ["first"]
    assert (
        matches[0].stop
        and matches[0].file == "<extra>"
        and matches[0].matched == "Amendment 3 adopted"
    )


def test_actor_limits_a_rule_to_one_chamber():
    rules = load_rules(
        None,
        extra=[
            {
                "pattern": "^adopted\\.?$",
                "classifications": ["passage"],
                "actor": "upper",
                "stop": True,
            },
            {"pattern": "^adopted\\.?$", "classifications": [], "stop": True},
        ],
    )
    assert rules.classify("Adopted.", "upper") == ["passage"]
    assert rules.classify("Adopted.", "lower") == []


def test_literal_space_means_any_whitespace_and_case_is_ignored():
    regex = compile_pattern("read second time")
    assert regex.search("READ   second\ntime")
    assert compile_pattern("[a ]b").fullmatch(" b")
    assert compile_pattern("[a ]b").fullmatch("+b") is None  # no "\\s+" rewriting inside a class


def test_triggers_are_literals_every_match_contains():
    assert triggers_for(r"\bgovernor\b[^;]*\bsigned\b") == frozenset({"governor"})
    assert triggers_for(r"(passed|adopted) bill") == frozenset({"passed", "adopted"})
    assert triggers_for(r"(vetoed|veto overridden)") == frozenset({"veto"})  # common prefix
    assert triggers_for(r"\w+") is None
    assert required_literals(r"(third|final) reading\b[^;]*passed") == [
        frozenset({"third", "final"}),
        frozenset({"reading"}),
        frozenset({"passed"}),
    ]
    assert split_alternatives(r"a(b|c)|[|]d|e\|f") == ["a(b|c)", "[|]d", r"e\|f"]


def test_triggers_come_from_the_regex_that_is_matched():
    """A branch's requirements are derived from its own regex (lower-cased, spaces flexible), the
    one the fast path searches, not from the pattern as written."""
    [rule] = parse_rules(
        [{"pattern": "^(PASSED SENATE|passed assembly)$|[Ff]irst reading", "classifications": []}],
        file="x.yaml",
    )
    first, second = rule.branches
    assert first.regex_source == r"^(passed\s+senate|passed\s+assembly)$"
    # lower-cased, both alternatives start with "passed" (the parser factors it out)
    assert first.requires == (frozenset({"passed"}), frozenset({"senate", "assembly"}))
    assert first.triggers == frozenset({"passed"})
    # "[Ff]" is the literal "f" in lower-cased text
    assert second.requires == (frozenset({"first"}), frozenset({"reading"}))
    assert first.regex.search("passed  assembly") and not first.regex.search("passed house")


def test_analysed_regex_matches_like_re_compile():
    source = r"^(?:third|final)\s+reading\b[^;]*(passed|adopted)(?!\w)"
    regex, required = analyse_regex(source)
    assert required == required_literals(source)
    expected = re.compile(source)
    for text in ["third reading, passed", "final reading; passed", "third readings passed", ""]:
        found, wanted = regex.search(text), expected.search(text)
        assert (found and (found.span(), found.groups())) == (
            wanted and (wanted.span(), wanted.groups())
        )
    with pytest.raises(re.error):
        analyse_regex("(")


def test_whole_pattern_is_compiled_only_for_explain():
    rule = {
        "id": "x",
        "pattern": "^Amendment \\d+ ADOPTED",
        "classifications": ["amendment-passage"],
        "stop": True,
    }
    rules = load_rules(None, extra=[rule])
    compiled = rules.rules[0]
    assert "regex" not in vars(compiled)  # not compiled by loading
    assert rules.classify("Amendment 3 adopted") == ["amendment-passage"]
    assert "regex" not in vars(compiled)  # nor by the fast path
    # explain matches the text as written, case-insensitively, and shows it unchanged
    [match] = rules.explain("AMENDMENT  3 adopted, as amended")
    assert match.rule_id == "x" and match.matched == "AMENDMENT  3 adopted"
    assert compiled.regex.flags & re.IGNORECASE


def test_a_branch_that_cannot_stand_alone_is_a_rule_error():
    # the whole pattern compiles (group 1 exists), the second alternative alone does not
    compile_pattern(r"(adopted)|\1")
    with pytest.raises(
        RuleError,
        match=r"x\.yaml: rule 1 \(br\) is invalid: pattern: .*alternative '\\\\1' is not a valid "
        r"regular expression on its own.*invalid group reference",
    ):
        parse_rules(
            [
                {"pattern": "a", "classifications": []},
                {"id": "br", "pattern": r"(adopted)|\1", "classifications": []},
            ],
            file="x.yaml",
        )


@pytest.mark.parametrize(
    ("pattern", "error"),
    [
        ("passed|(?i)adopted", "global flags not at the start"),  # each alternative compiles
        ("(passed|adopted", "missing \\), unterminated subpattern"),
        ("passed|*adopted", "nothing to repeat"),
        ("(?<=a+)passed", "look-behind requires fixed-width pattern"),  # from the compiler
    ],
)
def test_an_invalid_pattern_is_rejected_at_load_time(pattern, error):
    with pytest.raises(
        RuleError,
        match=rf"x\.yaml: rule 0 is invalid: pattern: pattern .* is not a valid "
        rf"regular expression: {error}",
    ):
        parse_rules([{"pattern": pattern, "classifications": []}], file="x.yaml")


def test_trigger_prefilter_never_changes_the_answer():
    """Every default rule tried by brute force gives the same classes as the fast path."""
    rules = load_rules(None)
    texts = [ex for c in rules.rules for ex in c.rule.examples]
    texts += [
        "Read third time and passed in concurrence",
        "Senate concurred",
        "Referred to Rules 2 Review.",
    ]
    for text, chamber in itertools.product(texts, [None, "upper", "lower", "executive"]):
        slow: dict[str, None] = {}
        for c in rules.rules:
            if c.rule.actor not in (None, chamber) or not c.regex.search(text):
                continue
            slow.update(dict.fromkeys(c.rule.classifications))
            if c.rule.stop:
                break
        assert rules.classify(text, chamber) == list(slow), text


def test_state_rules_come_first_and_can_replace_defaults(tmp_path, monkeypatch):
    cfg = tmp_path / "config"
    (cfg / "states").mkdir(parents=True)
    (cfg / "action_rules").mkdir()
    (cfg / "actions.yaml").write_text(
        yaml.safe_dump(
            {
                "rules": [
                    {
                        "id": "d",
                        "pattern": "passed",
                        "classifications": ["passage"],
                        "examples": ["passed"],
                    }
                ]
            }
        )
    )
    (cfg / "states" / "zz.yaml").write_text(
        yaml.safe_dump(
            {
                "name": "Zed",
                "action_rules": [
                    {"id": "z", "pattern": "passed to rules", "classifications": [], "stop": True}
                ],
            }
        )
    )
    (cfg / "action_rules" / "yy.yaml").write_text(
        yaml.safe_dump(
            {
                "replace_defaults": True,
                "rules": [
                    {"id": "y", "pattern": "signed", "classifications": ["executive-signature"]}
                ],
            }
        )
    )
    monkeypatch.setenv("TRACKER_CONFIG_DIR", str(cfg))
    reset_settings()
    assert classify_action("Passed to Rules", None, "zz") == []
    assert classify_action("Bill passed", None, "zz") == ["passage"]
    assert classify_action("Bill passed", None, "yy") == []  # defaults replaced
    assert classify_action("Governor signed", None, "YY") == ["executive-signature"]
    assert classify_action("Bill passed", None, None) == ["passage"]


def test_bad_rules_name_the_file_and_rule(tmp_path, monkeypatch):
    with pytest.raises(
        RuleError, match=r"x\.yaml: rule 1 \(bad\) is invalid.*unknown classification"
    ):
        parse_rules(
            [
                {"pattern": "a", "classifications": ["passage"]},
                {"id": "bad", "pattern": "b", "classifications": ["passed"]},
            ],
            file="x.yaml",
        )
    with pytest.raises(
        RuleError, match=r"x\.yaml: rule 0 is invalid.*not a valid regular expression"
    ):
        parse_rules([{"pattern": "(", "classifications": []}], file="x.yaml")
    with pytest.raises(RuleError, match="must be a list"):
        parse_rules({"pattern": "a"}, file="x.yaml")
    cfg = tmp_path / "config"
    (cfg / "states").mkdir(parents=True)
    (cfg / "actions.yaml").write_text("rules: []\n")
    (cfg / "states" / "qq.yaml").write_text(
        "action_rules:\n  - {pattern: 'x', classifications: [nope]}\n"
    )
    monkeypatch.setenv("TRACKER_CONFIG_DIR", str(cfg))
    reset_settings()
    with pytest.raises(RuleError, match=r"qq\.yaml: rule 0"):
        load_rules("qq")


# --- CLI ---------------------------------------------------------------------------------------


def _app():
    from tracker.cli.actions import app

    return app


def test_cli_classify_passes_columns_through_and_adds_classification(tmp_path):
    src = tmp_path / "actions_synthetic.csv"
    src.write_text(
        "bill,state,description,actor,note\n"
        'HB 1,wa,"Third reading, passed; yeas, 95; nays, 0",lower,"keep, me"\n'
        "HB 1,wa,Governor signed.,executive,\n"
        "S 2,vt,Read first time and referred to the Committee on Health Care,upper,x\n"
        "S 3,,Hearing scheduled for 03/04/2025,,y\n",
        encoding="utf-8",
    )
    out = tmp_path / "out_synthetic.csv"
    result = CliRunner().invoke(_app(), ["classify", "--input", str(src), "--output", str(out)])
    assert result.exit_code == 0, result.output
    rows = list(csv.reader(out.open(encoding="utf-8")))
    assert rows[0] == ["bill", "state", "description", "actor", "note", "classification"]
    assert rows[1] == [
        "HB 1",
        "wa",
        "Third reading, passed; yeas, 95; nays, 0",
        "lower",
        "keep, me",
        "reading-3|passage",
    ]
    assert rows[2][-1] == "executive-signature"
    assert rows[3][-1] == "introduction|reading-1|referral-committee"
    assert rows[4][-1] == ""


def test_cli_classify_names_file_and_line_of_bad_input(tmp_path):
    src = tmp_path / "bad_synthetic.csv"
    src.write_text("state,description\nwa,Introduced.\n", encoding="utf-8")
    result = CliRunner().invoke(
        _app(), ["classify", "--input", str(src), "--output", str(tmp_path / "o.csv")]
    )
    assert result.exit_code == 2
    assert f"{src}:1" in result.output and "actor" in result.output
    src.write_text("state,description,actor\nwa,Introduced.,lower\nwa,Adopted.\n", encoding="utf-8")
    out = tmp_path / "o.csv"
    result = CliRunner().invoke(_app(), ["classify", "--input", str(src), "--output", str(out)])
    assert result.exit_code == 2
    assert f"{src}:3" in result.output and "missing actor" in result.output
    assert not out.exists(), "no half-written output"


def test_cli_explain_shows_matching_rules():
    result = CliRunner().invoke(
        _app(), ["explain", "Third reading, passed; yeas, 95", "--state", "wa"]
    )
    assert result.exit_code == 0, result.output
    assert (
        "passage-floor-vote" in result.output
        and "classification: reading-3|passage" in result.output
    )
    result = CliRunner().invoke(_app(), ["explain", "Author added Smith"])
    assert "no rule matched" in result.output
    # a pattern's "[hs]" or "[a-z]" is shown as written, not eaten as console markup
    result = CliRunner().invoke(_app(), ["explain", "Ordered enrolled"])
    assert result.exit_code == 0, result.output
    assert "enrolled" in result.output and "[a-z]+" in result.output


def test_cli_classify_on_real_labelled_actions(tmp_path, shared_data):
    """A slice of Open States' labelled actions runs through the contract command unchanged."""
    src = tmp_path / "real_sample.csv"
    with gzip.open(
        shared_data / "openstates" / "actions_labelled.csv.gz", "rt", encoding="utf-8"
    ) as fh:
        reader = csv.reader(fh)
        rows = [next(reader)] + [row for row in itertools.islice(reader, 0, 84_000, 400)]
    with src.open("w", encoding="utf-8", newline="") as fh:
        csv.writer(fh).writerows(rows)
    out = tmp_path / "out.csv"
    result = CliRunner().invoke(_app(), ["classify", "--input", str(src), "--output", str(out)])
    assert result.exit_code == 0, result.output
    got = list(csv.reader(out.open(encoding="utf-8")))
    # the input already has a classification column (Open States' labels): it is replaced in place
    assert got[0] == rows[0]
    assert [r[:-1] for r in got[1:]] == [r[:-1] for r in rows[1:]]
    agree = sum(
        1
        for a, b in zip(got[1:], rows[1:], strict=True)
        if set(a[-1].split("|")) == set(b[-1].split("|"))
    )
    assert agree / (len(rows) - 1) > 0.6


def test_a_branch_opening_with_assertions_is_searched_by_scanning_for_what_follows():
    """``\\b``, ``\\B`` and look-behinds at the start keep ``re`` from skipping ahead to a
    literal; such a branch is a ScanThenMatch, which finds exactly what ``re.search`` finds:
    the same span and groups, the assertions judged on the text before the place (so "xthird"
    and "for third reading" are not matches), the leftmost place first, pos and endpos kept."""
    sources = [
        r"\b(third|final|3rd)\s+(reading|passage)\b[^;]*\b(passed|adopted)\b",
        r"(?<!for\s)(?<!to\s)\b(second|2nd)\s+reading\b(?!,?\s+cal(endar|\.|\b))",
        r"\bread\s+(a\s+|the\s+)?third\s+time\b",
        r"\Bing\b",
    ]
    texts = [
        "third reading, passed",
        "xthird reading; passed",
        "for third reading: third reading, adopted",
        "ordered to second reading; second reading, calendar; 2nd reading",
        "moved to second reading and second reading passed",
        "read the third time, passed; read a third time",
        "reading ring kingdom",
        "",
        "third reading; passed",
    ]
    for source in sources:
        searcher, required = analyse_search(source)
        regex, same = analyse_regex(source)
        assert isinstance(searcher, ScanThenMatch) and required == same
        expected = re.compile(source)
        for text in texts:
            for pos, endpos in ((0, len(text)), (3, len(text)), (0, max(0, len(text) - 6))):
                found = searcher.search(text, pos, endpos)
                wanted = expected.search(text, pos, endpos)
                assert (found and (found.span(), found.groups())) == (
                    wanted and (wanted.span(), wanted.groups())
                ), (source, text, pos, endpos)
    # nothing to scan for after the opening, or no opening: the compiled regex itself
    for source in (r"\b\w+ing", r"third\s+reading", r"^\bthird"):
        assert not isinstance(analyse_search(source)[0], ScanThenMatch), source


def test_rule_branches_that_open_with_a_word_boundary_scan_and_classify_as_before():
    rules = parse_rules(
        [
            {
                "id": "third",
                "pattern": r"\bthird reading\b[^;]*\bpassed\b|(?<!for\s)\bfinal passage",
                "classifications": ["passage"],
            }
        ],
        file="<test>",
    )
    assert all(isinstance(b.regex, ScanThenMatch) for b in rules[0].branches)
    ruleset = RuleSet(rules)
    assert ruleset.classify("Third reading, PASSED") == ["passage"]
    assert ruleset.classify("Xthird reading, passed") == []
    assert ruleset.classify("held for final passage") == []
    assert ruleset.classify("Final passage") == ["passage"]
