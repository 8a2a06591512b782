"""The config-driven engine: strict selectors, transforms, formats, assembly, config errors.

Pages here are small synthetic documents (the constants named SYNTHETIC_*); the real pages are
exercised by tests/test_scraper_configs.py.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest
import soupsieve
from bs4 import BeautifulSoup
from typer.testing import CliRunner

from scrapers import fastselect
from scrapers.config import ConfigError, json_schema, load_config, parse_config_text
from scrapers.engine import BillPages, ExtractionError, PageError, assemble_bill, parse_page
from scrapers.extract import decode
from tracker.collect.examples import parse_pages

ROOT = Path(__file__).resolve().parent.parent

HEAD = """\
state: zz
name: Synthetic
timezone: America/Denver
base_url: https://synthetic.example.org
sessions:
  - identifier: "2024"
    name: 2024 Regular Session
    end_date: 2024-06-30
    aliases: ["2024 Regular"]
    vars: {year: 2024}
"""

SYNTHETIC_BILL = b"""<html><body>
<h1 id="num">HB  12</h1><span class="session">2024 Regular</span>
<div class="title">  A  synthetic   act </div>
<ul class="sponsors"><li><a href="/m/1">Ann Lee</a></li><li><a href="/m/2">Bo Diaz</a></li></ul>
<table class="actions">
 <tr><th>Date</th><th>Where</th><th>What</th></tr>
 <tr><td>01/05/2024</td><td>House</td><td>Introduced</td></tr>
 <tr><td>02/07/2024</td><td>Senate</td><td>Passed <a href="/j">(journal)</a></td></tr>
</table>
<a class="pdf" href="text/HB12.pdf">PDF</a>
</body></html>"""


def cfg(pages: str, extra: str = ""):  # type: ignore[no-untyped-def]
    return parse_config_text(HEAD + textwrap.dedent(pages) + textwrap.dedent(extra), "zz.yaml")


BILL_PAGES = """\
pages:
  bill:
    role: bill
    fields:
      identifier: {selector: "#num", transforms: [identifier]}
      legislative_session: {selector: ".session", transforms: [session]}
      title: ".title"
      sponsorships:
        items: ".sponsors a"
        min_items: 1
        fields:
          name: "."
          primary: {index: true, transforms: [{equals: 0}]}
          classification: {index: true, transforms: [{map: {"0": primary, "*": cosponsor}}]}
      actions:
        items: "table.actions tr:has(td)"
        min_items: 1
        fields:
          date: {selector: "td:nth-of-type(1)", transforms: [{date: "%m/%d/%Y"}]}
          chamber: {selector: "td:nth-of-type(2)", transforms: [{map: {House: lower, Senate: upper}}]}
          description: "td:nth-of-type(3)"
      versions:
        items: "a.pdf"
        fields:
          note: {value: Introduced}
          links:
            fields:
              url: {selector: ".", attr: href}
              media_type: {value: application/pdf}
"""


# ----------------------------------------------------------------------------- extraction


def test_synthetic_bill_page_gives_a_full_bill() -> None:
    config = cfg(BILL_PAGES)
    bill = parse_pages(config, {"bill": SYNTHETIC_BILL}, url="https://synthetic.example.org/b/12")
    assert bill["identifier"] == "HB 12"
    assert bill["legislative_session"] == "2024"
    assert bill["title"] == "A synthetic act"
    assert [(s["name"], s["primary"], s["classification"]) for s in bill["sponsorships"]] == [
        ("Ann Lee", True, "primary"),
        ("Bo Diaz", False, "cosponsor"),
    ]
    assert [(a["date"], a["chamber"], a["description"]) for a in bill["actions"]] == [
        ("2024-01-05", "lower", "Introduced"),
        ("2024-02-07", "upper", "Passed (journal)"),
    ]
    # relative links resolve against the page URL; the page itself is a source
    assert bill["versions"][0]["links"][0]["url"] == "https://synthetic.example.org/b/text/HB12.pdf"
    assert bill["sources"] == [{"url": "https://synthetic.example.org/b/12", "note": ""}]
    assert bill["stage"]  # filled by the stage rules


def test_strict_selector_error_names_state_url_selector_and_count() -> None:
    config = cfg(BILL_PAGES.replace('title: ".title"', 'title: ".no-such-title"'))
    with pytest.raises(ExtractionError) as info:
        parse_page(config, "bill", SYNTHETIC_BILL, url="https://synthetic.example.org/b/12")
    message = str(info.value)
    assert "zz" in message and "https://synthetic.example.org/b/12" in message
    assert "'.no-such-title'" in message and "matched 0" in message and "'title'" in message
    assert info.value.selector and info.value.count == 0


def test_group_min_items_is_enforced() -> None:
    config = cfg(BILL_PAGES.replace('items: ".sponsors a"', 'items: ".cosponsors a"'))
    with pytest.raises(
        ExtractionError, match=r"'\.cosponsors a' matched 0: expected at least 1 items"
    ):
        parse_page(config, "bill", SYNTHETIC_BILL)


def test_optional_field_missing_gives_none_and_skips_transforms() -> None:
    config = cfg(
        BILL_PAGES.replace(
            'title: ".title"',
            'title: ".title"\n      extras.note: {selector: ".nope", required: false, transforms: [{regex: "x(\\\\d)"}]}',
        )
    )
    record = parse_page(config, "bill", SYNTHETIC_BILL).record
    assert record is not None and "note" not in record.get("extras", {})


def test_empty_required_match_is_an_error_not_a_blank_value() -> None:
    page = SYNTHETIC_BILL.replace(b"  A  synthetic   act ", b"   ")
    with pytest.raises(ExtractionError, match="the match is empty"):
        parse_page(cfg(BILL_PAGES), "bill", page)


SYNTHETIC_LIST = b"""<html><body><table id="r">
<tr><td><a href="/b?n=1">HB 1</a></td><td>First</td></tr>
<tr><td><a href="/b?n=2">HB 2</a></td><td>Second</td></tr>
</table><a id="next" href="/list?p=2">next</a></body></html>"""
SYNTHETIC_EMPTY_LIST = (
    b"<html><body><table id='r'><tr><td>No results found</td></tr></table></body></html>"
)

LIST_PAGES = """\
pages:
  list:
    role: list
    items: "#r tr:has(a)"
    empty_if: "#r td:-soup-contains('No results found')"
    bill_url: {selector: a, attr: href}
    next_page: {selector: "#next", attr: href, required: false}
    fields:
      identifier: {selector: a, transforms: [identifier]}
      title: "td:nth-of-type(2)"
"""


def test_list_page_items_urls_and_pagination() -> None:
    result = parse_page(
        cfg(LIST_PAGES), "list", SYNTHETIC_LIST, url="https://synthetic.example.org/list"
    )
    assert [(i["identifier"], i["title"], i["url"]) for i in result.items] == [
        ("HB 1", "First", "https://synthetic.example.org/b?n=1"),
        ("HB 2", "Second", "https://synthetic.example.org/b?n=2"),
    ]
    assert result.next_url == "https://synthetic.example.org/list?p=2"


def test_list_page_that_says_it_is_empty_gives_an_empty_list() -> None:
    result = parse_page(cfg(LIST_PAGES), "list", SYNTHETIC_EMPTY_LIST)
    assert result.items == [] and result.empty


def test_list_page_with_no_items_and_no_empty_marker_is_an_error() -> None:
    with pytest.raises(ExtractionError, match="no items on a list page"):
        parse_page(cfg(LIST_PAGES), "list", b"<html><body><p>layout changed</p></body></html>")


def test_error_page_marker_gives_a_clear_error() -> None:
    config = cfg(
        BILL_PAGES.replace(
            "    role: bill\n",
            "    role: bill\n    error_if: [{selector: 'h1', matches: 'HB', message: 'synthetic error page'}]\n",
        )
    )
    with pytest.raises(PageError, match="synthetic error page.*HB 12"):
        parse_page(config, "bill", SYNTHETIC_BILL)


def test_first_of_only_if_items_regex_items_from_and_scope() -> None:
    page = b"""<html><body><pre>
 01/02/24 Senate  Read first time
 01/09/24 House   Roll call Ayes-3 Nays-1
</pre><p class="by">By Ann, Bo and Cy</p>
<table><tr><th>Status</th></tr><tr><td>Referred</td></tr></table></body></html>"""
    config = cfg("""\
pages:
  bill:
    role: bill
    fields:
      identifier: {value: "HB 9"}
      legislative_session: {value: "2024"}
      title: {first_of: [{selector: ".missing"}, {selector: "p.by", transforms: [{regex: "^By (\\\\w+)"}]}]}
      _names: {selector: "p.by", transforms: [{regex: "^By (.*)"}, {split_regex: ",\\\\s*|\\\\s+and\\\\s+"}]}
      sponsorships:
        items_from: _names
        fields:
          name: "."
      extras.status: {selector: "th", scope: item, transforms: [{template: "{value}!"}]}
      extras.first_status: {selector: "tr:first-of-type", transforms: []}
      actions:
        text_selector: pre
        items_regex: "^ (\\\\d\\\\d/\\\\d\\\\d/\\\\d\\\\d) (Senate|House) +(.*)$"
        fields:
          date: {group: 1, transforms: [{date: "%m/%d/%y"}]}
          chamber: {group: 2, transforms: [{map: {Senate: upper, House: lower}}]}
          description: {group: 3}
      votes:
        text_selector: pre
        items_regex: "^ (\\\\d\\\\d/\\\\d\\\\d/\\\\d\\\\d) (Senate|House) +(.*)$"
        only_if: {field: motion, matches: "Roll call"}
        fields:
          motion: {group: 3}
          yes: {from: motion, transforms: [{regex: "Ayes-(\\\\d+)"}, int]}
          no: {from: motion, transforms: [{regex: "Nays-(\\\\d+)"}, int]}
""")
    record = parse_page(config, "bill", page).record
    assert record is not None
    assert record["title"] == "Ann"
    assert [s["name"] for s in record["sponsorships"]] == ["Ann", "Bo", "Cy"]
    assert [(a["date"], a["chamber"]) for a in record["actions"]] == [
        ("2024-01-02", "upper"),
        ("2024-01-09", "lower"),
    ]
    assert record["votes"] == [{"motion": "Roll call Ayes-3 Nays-1", "yes": 3, "no": 1}]


def test_after_before_windows_and_next_scope() -> None:
    page = b"""<html><body><span class="h">House Sponsors</span><a class="m">Ann</a> - <a class="m">Bo</a>
<span class="h">Senate Sponsors</span><a class="m">Cy</a><span class="h">Last Action</span><a class="m">Zed</a>
<table><tr><th><a>HB 1</a></th></tr><tr><td>Title of one</td></tr></table></body></html>"""
    config = cfg("""\
pages:
  bill:
    role: bill
    fields:
      identifier: {selector: "th a"}
      legislative_session: {value: "2024"}
      title: {selector: td, transforms: []}
      extras.house: {selector: a.m, many: true, after: "span.h:-soup-contains('House')", before: "span.h:-soup-contains('Senate')"}
      extras.all: {selector: a.m, many: true, after: "span.h:-soup-contains('Sponsors')", before: "span.h:-soup-contains('Last Action')"}
  list:
    role: list
    yields: bills
    items: "tr:has(> th)"
    fields:
      identifier: "th a"
      title: {selector: td, scope: next}
""")
    record = parse_page(config, "bill", page).record
    assert record is not None
    assert record["extras"] == {"house": ["Ann", "Bo"], "all": ["Ann", "Bo", "Cy"]}
    items = parse_page(config, "list", page).items
    assert items == [{"identifier": "HB 1", "title": "Title of one"}]


def test_json_paths_and_dict_values() -> None:
    doc = json.dumps(
        {
            "result": {
                "printNo": "S9",
                "session": 2024,
                "actions": {
                    "items": [{"date": "2024-01-03", "text": "REFERRED", "chamber": "SENATE"}]
                },
                "amendments": {"items": {"": {"printNo": "S9"}, "A": {"printNo": "S9A"}}},
            }
        }
    ).encode()
    config = cfg("""\
pages:
  api:
    role: bill
    format: json
    fields:
      identifier: {path: result.printNo, transforms: [identifier]}
      legislative_session: {path: result.session, transforms: [session]}
      other_identifiers: {path: "result.amendments.items.*.printNo", many: true}
      actions:
        items: "result.actions.items[*]"
        fields:
          date: {path: date, transforms: [{date: "%Y-%m-%d"}]}
          description: {path: text}
          chamber: {path: chamber, transforms: [{map: {SENATE: upper}}]}
""")
    record = parse_page(config, "api", doc).record
    assert record == {
        "identifier": "S 9",
        "legislative_session": "2024",
        "other_identifiers": ["S9", "S9A"],
        "actions": [{"date": "2024-01-03", "description": "REFERRED", "chamber": "upper"}],
    }


def test_xml_namespaces_are_dropped_for_selectors() -> None:
    doc = b"""<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body>
<R xmlns="http://x/" xmlns:a="http://x/data/"><a:Number>7</a:Number><a:Type>HB</a:Type>
<a:Caption>Synthetic caption</a:Caption><a:Nil xmlns:i="http://w3/i" i:nil="true"/></R></s:Body></s:Envelope>"""
    config = cfg("""\
pages:
  soap:
    role: bill
    format: xml
    fields:
      _type: "R > Type"
      _number: "R > Number"
      identifier: {value: "{_type} {_number}"}
      legislative_session: {value: "2024"}
      title: Caption
      extras.nil: {selector: Nil, attr: nil}
""")
    record = parse_page(config, "soap", doc).record
    assert record is not None
    assert (record["identifier"], record["title"], record["extras"]["nil"]) == (
        "HB 7",
        "Synthetic caption",
        "true",
    )


def test_delimited_columns_and_index_join() -> None:
    measures = "Prefix\xe4Number\xe4Title\nHB\xe42\xe4Relating to tests.\nSB\xe45\xe4Relating to more.\n".encode(
        "latin-1"
    )
    history = "Prefix\xe4Number\xe4Date\xe4Text\nHB\xe42\xe401/02/2024\xe4First reading.\n".encode(
        "latin-1"
    )
    config = cfg("""\
pages:
  measures:
    role: list
    format: delimited
    delimiter: "\\xe4"
    encoding: latin-1
    yields: bills
    fields:
      identifier: {value: "{_p} {_n}"}
      _p: {column: Prefix}
      _n: {column: Number}
      legislative_session: {from: session}
      title: {column: Title}
  history:
    role: index
    format: delimited
    delimiter: "\\xe4"
    encoding: latin-1
    key: {value: "{_p} {_n}"}
    fields:
      _p: {column: Prefix}
      _n: {column: Number}
      actions:
        fields:
          date: {column: Date, transforms: [{date: "%m/%d/%Y"}]}
          description: {column: Text}
""")
    with pytest.raises(ExtractionError, match=r"needs \{_p\}, which is not known here"):
        parse_pages(config, {"measures": measures})  # fields run in order: _p is not known yet
    config = cfg("""\
pages:
  measures:
    role: list
    format: delimited
    delimiter: "\\xe4"
    encoding: latin-1
    yields: bills
    fields:
      _p: {column: Prefix}
      _n: {column: Number}
      identifier: {value: "{_p} {_n}"}
      legislative_session: {from: session}
      title: {column: Title}
  history:
    role: index
    format: delimited
    delimiter: "\\xe4"
    encoding: latin-1
    key: {value: "{_p} {_n}"}
    fields:
      _p: {column: Prefix}
      _n: {column: Number}
      actions:
        fields:
          date: {column: Date, transforms: [{date: "%m/%d/%Y"}]}
          description: {column: Text}
""")
    bills = parse_pages(config, {"measures": measures, "history": history}, session="2024")
    assert [(b["identifier"], len(b["actions"])) for b in bills] == [("HB 2", 1), ("SB 5", 0)]
    with pytest.raises(ExtractionError, match="no column 'Nope'"):
        bad = cfg(
            LIST_PAGES.replace(
                "pages:",
                "pages:\n  x:\n    role: list\n    format: delimited\n    yields: bills\n    fields: {title: {column: Nope}}\n",
            )
        )
        parse_page(bad, "x", b"A,B\n1,2\n")


# ----------------------------------------------------------------------------- transforms


@pytest.mark.parametrize(
    ("steps", "value", "expected"),
    [
        ('[{regex: "(\\\\d+)"}]', "HB 12", "12"),
        ('[{regex: {pattern: "x(\\\\d)", missing: none}}]', "HB", "none"),
        ('[{regex: {pattern: "(\\\\w+) (\\\\d+)", template: "{2}-{1}"}}]', "HB 12", "12-HB"),
        ('[{regex: {pattern: "\\\\d", all: true}}, {join: "+"}]', "a1b2", "1+2"),
        ('[{date: ["%m/%d/%Y", "%m/%d/%y"]}]', "2/7/24", "2024-02-07"),
        ('[{date: {formats: ["%b. %d"], year: "{year}"}}]', "Feb. 28", "2024-02-28"),
        ('[{date: "%m/%d/%Y %I:%M %p"}]', "01/16/2023 01:30 PM", "2023-01-16T13:30"),
        ('[{split: ","}, last]', "a, b ,c", "c"),
        ('[{sub: ["\\\\s*\\\\(H\\\\)", ""]}, upper]', "read (H)", "READ"),
        ('[{replace: ["-", "/"]}, {template: "<{value}>"}]', "a-b", "<a/b>"),
        ("[int]", "1,234", "1234"),
        ('[{map: {H: lower, "*": other}}]', "Z", "other"),
        ("[session]", "2024 Regular", "2024"),
        ("[identifier]", "*H.B. 0012", "HB 12"),
        ('[{matches: "^Pass"}]', "Passed", "True"),
        ("[absolute]", "../x.pdf", "https://synthetic.example.org/x.pdf"),
    ],
)
def test_transforms(steps: str, value: str, expected: str) -> None:
    config = cfg(f"""\
pages:
  bill:
    role: bill
    fields:
      identifier: {{value: "HB 1"}}
      legislative_session: {{value: "2024"}}
      title: {{value: {json.dumps(value)}, transforms: {steps}}}
""")
    record = parse_page(
        config, "bill", b"<html></html>", url="https://synthetic.example.org/a/b", session="2024"
    ).record
    assert record is not None and str(record["title"]) == expected


@pytest.mark.parametrize(
    ("steps", "value", "message"),
    [
        ("[{map: {H: lower}}]", "X", "value 'X' is not in the map"),
        ('[{date: "%m/%d/%Y"}]', "yesterday", "date 'yesterday' matches none of the formats"),
        ('[{regex: "(\\\\d+)"}]', "none here", "regex .* found nothing"),
        ("[session]", "1999 Regular", "session '1999 Regular' is not in the config"),
        ("[int]", "twelve", "'twelve' is not a whole number"),
        ('[{template: "{nope}"}]', "x", r"template '\{nope\}' needs \{nope\}"),
    ],
)
def test_transform_errors_name_the_value(steps: str, value: str, message: str) -> None:
    config = cfg(f"""\
pages:
  bill:
    role: bill
    fields:
      identifier: {{value: "HB 1"}}
      legislative_session: {{value: "2024"}}
      title: {{value: {json.dumps(value)}, transforms: {steps}}}
""")
    with pytest.raises(ExtractionError, match=message):
        parse_page(config, "bill", b"<html></html>", url="https://synthetic.example.org/p")


# ----------------------------------------------------------------------------- assembly


def _assemble(records: list[dict], **kw):  # type: ignore[no-untyped-def]
    pages = BillPages()
    for r in records:
        pages.add(r, url="https://synthetic.example.org/p", kind="bill")
    return assemble_bill(cfg(BILL_PAGES), pages, **kw)


def test_assembly_merges_pages_and_dedupes_people_and_versions() -> None:
    bill = _assemble(
        [
            {
                "identifier": "HB 1",
                "legislative_session": "2024",
                "sponsorships": [
                    {"name": "Hoskins, Denny", "primary": True, "classification": "primary"}
                ],
                "versions": [{"note": "Intro", "links": [{"url": "u.html"}]}],
            },
            {
                "title": "Later page title",
                "sponsorships": [{"name": "HOSKINS", "chamber": "lower"}, {"name": "Allen"}],
                "versions": [{"note": "Intro", "links": [{"url": "u.pdf"}]}],
            },
        ]
    )
    assert bill.title == "Later page title"
    assert [(s.name, s.primary, s.chamber) for s in bill.sponsorships] == [
        ("Hoskins, Denny", True, "lower"),
        ("Allen", False, None),
    ]
    assert [link.url for link in bill.versions[0].links] == ["u.html", "u.pdf"]


def test_assembly_refuses_a_bill_without_identifier_or_from_another_session() -> None:
    with pytest.raises(ExtractionError, match="no bill identifier"):
        _assemble([{"legislative_session": "2024", "title": "x"}])
    with pytest.raises(ExtractionError, match="from session '2024', the scrape is for '2023'"):
        _assemble([{"identifier": "HB 1", "legislative_session": "2024"}], session="2023")
    with pytest.raises(ExtractionError, match="field 'actions.0.date'"):
        _assemble(
            [
                {
                    "identifier": "HB 1",
                    "legislative_session": "2024",
                    "actions": [{"description": "Dateless", "date": None}],
                }
            ]
        )


# ----------------------------------------------------------------------------- config errors


def test_config_errors_name_file_line_and_key(tmp_path: Path) -> None:
    text = HEAD + textwrap.dedent(BILL_PAGES).replace(
        '      title: ".title"\n', "      title: {selectr: .title}\n"
    )
    path = tmp_path / "zz.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    line = text.splitlines().index("      title: {selectr: .title}") + 1
    message = str(info.value)
    assert (
        f"{path}:{line}: pages.bill.fields.title.selectr: Extra inputs are not permitted" in message
    )


@pytest.mark.parametrize(
    ("snippet", "where", "message"),
    [
        ("      titel: .x\n", "pages.bill.fields.titel", "unknown field 'titel'"),
        ("      actions: .x\n", "pages.bill.fields.actions", "holds objects"),
        (
            "      title: {selector: .x, transforms: [{datee: x}]}\n",
            "pages.bill.fields.title.transforms.0",
            "",
        ),
        (
            "      title: {selector: .x, transforms: [{regex: '(('}]}\n",
            "pages.bill.fields.title.transforms.0",
            "does not compile",
        ),
        (
            "      title: {selector: .x, path: y}\n",
            "pages.bill.fields.title",
            "give one source per field",
        ),
    ],
)
def test_config_semantic_errors_point_at_the_key(snippet: str, where: str, message: str) -> None:
    text = HEAD + "pages:\n  bill:\n    role: bill\n    fields:\n      identifier: h1\n" + snippet
    line = text.splitlines().index(snippet.rstrip("\n")) + 1
    with pytest.raises(ConfigError) as info:
        parse_config_text(text, "zz.yaml")
    problems = "\n".join(info.value.problems)
    assert f"zz.yaml:{line}: {where}" in problems and message in problems


def test_yaml_12_scalars_keep_yes_no_keys_and_underscored_ids() -> None:
    config = cfg(BILL_PAGES, "").model_copy()
    text = (
        HEAD.replace('identifier: "2024"', "identifier: 2011_12")
        + """\
pages:
  bill:
    role: bill
    fields:
      identifier: h1
      votes:
        items: tr
        fields:
          yes: td
          no: th
"""
    )
    config = parse_config_text(text, "zz.yaml")
    assert config.sessions[0].identifier == "2011_12"
    assert set(config.pages["bill"].fields["votes"].fields) == {"yes", "no"}  # type: ignore[union-attr]


def test_file_name_must_match_state(tmp_path: Path) -> None:
    path = tmp_path / "yy.yaml"
    path.write_text(HEAD + BILL_PAGES)
    with pytest.raises(ConfigError, match="does not match the file name"):
        load_config(path)


def test_committed_schema_is_generated_from_the_model() -> None:
    committed = json.loads((ROOT / "config" / "state.schema.json").read_text())
    assert committed == json.loads(json.dumps(json_schema())), "run: tracker scrapers schema"


# ----------------------------------------------------------------------------- fast selectors


@pytest.mark.parametrize(
    "selector",
    [
        "td:nth-of-type(2)",
        "tr:has(> td > a[href^='/b'])",
        "#r tr:has(a)",
        "a[href*='n=2'], #next",
        "td:-soup-contains('Second')",
        "tr:not(:first-child) td",
        "table tr:first-of-type + tr td",
        "tr ~ tr a",
        "a:has(+ x)",
    ],
)
def test_fast_selector_agrees_with_soupsieve_synthetic(selector: str) -> None:
    soup = BeautifulSoup(SYNTHETIC_LIST, "lxml")
    compiled = fastselect.compile_selector(selector)
    expected = soupsieve.compile(selector, flags=soupsieve.NOSTRICT).select(soup)
    if compiled is None:
        pytest.skip(f"{selector} is left to soupsieve")
    assert [id(x) for x in fastselect.select(soup, compiled)] == [id(x) for x in expected]


def _selectors(obj):  # type: ignore[no-untyped-def]
    if isinstance(obj, dict):
        for k, v in obj.items():
            if k in (
                "selector",
                "items",
                "empty_if",
                "after",
                "before",
                "text_selector",
            ) and isinstance(v, str):
                yield v
            yield from _selectors(v)
    elif isinstance(obj, list):
        for v in obj:
            yield from _selectors(v)


@pytest.mark.shared
def test_fast_selector_agrees_with_soupsieve_on_every_config_selector(shared_dir: Path) -> None:
    from tracker.collect.examples import resolve_fixture
    from tracker.scraping import list_states, load_state_config

    checked = 0
    for st in list_states():
        config = load_state_config(st)
        for kind, page in config.pages.items():
            if page.format != "html":
                continue
            selectors = {s for s in _selectors(page.model_dump(by_alias=True)) if s.strip() != "."}
            for path in {p for ex in config.examples for k, p in ex.pages.items() if k == kind}:
                # the head of a big list page has the same structure and keeps soupsieve quick
                body = resolve_fixture(path).read_bytes()[:60_000]
                soup = BeautifulSoup(decode(body), "lxml")
                scopes = [soup, *soup.find_all("tr")[:5]]
                for selector in selectors:
                    compiled = fastselect.compile_selector(selector)
                    assert compiled is not None, f"{st}.{kind}: {selector} fell back to soupsieve"
                    css = soupsieve.compile(selector, flags=soupsieve.NOSTRICT)
                    for scope in scopes:
                        got = [id(x) for x in fastselect.select(scope, compiled)]
                        assert got == [id(x) for x in css.select(scope)], f"{st}.{kind}: {selector}"
                        checked += 1
    assert checked > 1000


# ----------------------------------------------------------------------------- CLI


def test_cli_parse_contract_prints_bill_json(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tracker.cli.scrapers import app

    states = tmp_path / "config" / "states"
    states.mkdir(parents=True)
    (states / "zz.yaml").write_text(HEAD + textwrap.dedent(BILL_PAGES))
    (tmp_path / "config" / "actions.yaml").write_text(
        (ROOT / "config" / "actions.yaml").read_text()
    )
    monkeypatch.setenv("TRACKER_CONFIG_DIR", str(tmp_path / "config"))
    from tracker.settings import reset_settings

    reset_settings()
    page = tmp_path / "synthetic_bill.html"
    page.write_bytes(SYNTHETIC_BILL)
    result = CliRunner().invoke(
        app, ["parse", "zz", "--page", f"bill={page}", "--url", "https://synthetic.example.org/b"]
    )
    assert result.exit_code == 0, result.output
    bill = json.loads(result.stdout)
    assert {
        "identifier",
        "legislative_session",
        "title",
        "classification",
        "subject",
        "abstracts",
        "actions",
        "sponsorships",
        "versions",
        "sources",
        "state",
        "stage",
    } <= set(bill)
    assert bill["actions"][0]["classification"] is not None
    bad = CliRunner().invoke(app, ["parse", "zz", "--page", f"nope={page}"])
    assert bad.exit_code == 1 and "no page kind 'nope'" in bad.output
    result = CliRunner().invoke(app, ["validate", "zz"])
    assert result.exit_code == 0 and "zz: ok" in result.stdout


def test_cli_new_writes_a_valid_commented_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tracker.cli.scrapers import app
    from tracker.settings import reset_settings

    (tmp_path / "config" / "states").mkdir(parents=True)
    monkeypatch.setenv("TRACKER_CONFIG_DIR", str(tmp_path / "config"))
    reset_settings()
    result = CliRunner().invoke(app, ["new", "vt"])
    assert result.exit_code == 0, result.output
    written = tmp_path / "config" / "states" / "vt.yaml"
    assert written.read_text().startswith("# Vermont")
    assert load_config(written).state == "vt"
    again = CliRunner().invoke(app, ["new", "vt"])
    assert again.exit_code == 1 and "exists" in again.output


@pytest.mark.shared
def test_cli_parse_real_nm_page(shared_dir: Path) -> None:
    from tracker.cli.scrapers import app

    page = shared_dir / "fixtures/real/html/nm/2019_SB11_legislation_detail.html"
    result = CliRunner().invoke(app, ["parse", "nm", "--page", f"bill={page}"])
    assert result.exit_code == 0, result.output
    bill = json.loads(result.stdout)
    assert (bill["identifier"], bill["legislative_session"], bill["stage"]) == (
        "SB 11",
        "2019",
        "enacted",
    )
    listing = CliRunner().invoke(
        app,
        [
            "parse",
            "nm",
            "--page",
            f"list={shared_dir / 'fixtures/real/html/nm/legislation_list_no_results.html'}",
        ],
    )
    assert listing.exit_code == 0 and json.loads(listing.stdout) == []
    error = CliRunner().invoke(
        app,
        [
            "parse",
            "mo",
            "--page",
            f"house_bill_2011={shared_dir / 'fixtures/real/html/mo/2011_house_HB246_invalid_bill_error_page.html'}",
        ],
    )
    assert error.exit_code == 1 and "No valid bill number selected" in error.output
