"""LegiScan data -> :class:`ScrapedBill`, streamed.

Reads:

- weekly **bulk CSV datasets**: a zip holding ``<ST>/<session>/csv/{bills,history,sponsors,
  people,documents,rollcalls}.csv`` (``votes.csv`` is per legislator and not used), or the same
  files extracted into a folder. One session is read at a time: its history, sponsors,
  documents and roll calls are indexed by ``bill_id`` as compact tuples, then ``bills.csv`` is
  streamed and each bill joined;
- **API / JSON dataset** ``getBill`` records, ``{"status": "OK", "bill": {...}}`` or the bare bill,
  as files, in folders, or under ``<ST>/<session>/bill/*.json`` in a LegiScan JSON dataset zip.
  Other payloads (``person``, ``roll_call``, ``text``) are not bills: skipped in folders,
  reported when named explicitly;
- folders of any of these, walked recursively in sorted order.

Mapping: ``bill_number`` is the identifier as given (``HB1044``; ingest normalises). Chambers:
``H``/``House``/``A``/``Assembly`` -> lower, ``S``/``Senate`` -> upper, ``J``/``Joint`` -> joint;
unicameral NE and DC -> legislature. Sponsors: CSV ``position`` 1 (API ``sponsor_type_id`` 1) is
the primary sponsor, higher positions are cosponsors, 0 (older datasets, no order recorded) is a
sponsor of unknown rank (``classification="sponsor"``, not primary); people with a
``committee_id`` are organisations. ``texts``/text documents -> versions, amendments and
supplements -> documents, roll calls -> votes (other = NV + absent), ``calendar`` -> hearings,
``sasts`` -> related bills. ``description`` (LegiScan's long title) becomes an abstract when it
differs from ``title``. History rows with no action text (125 in CO 2010, some dated 1969-12-31)
are dropped: an action without a description records nothing. A sponsor whose ``people_id`` is
missing from ``people.csv`` is skipped and reported (the bill still imports).

Each bill says which child lists it gives in full (``provided``, see :mod:`tracker.scraped`):
a CSV dataset gives the lists whose file is in it and was read without error (``history.csv``
-> actions, ``sponsors.csv`` with ``people.csv`` -> sponsors, ``documents.csv`` -> versions
and documents, ``rollcalls.csv`` -> votes; a bill with a sponsor missing from ``people.csv``
does not give its sponsors); an API record gives the lists whose key it has. A delivery
without ``history.csv`` is not LegiScan saying "no actions": stored ones stay.

LegiScan's own bookkeeping goes to ``extras["legiscan"]`` for the stage rules and the API source:
``bill_id``, ``session_id``, ``session_title``, ``status`` (1 Introduced .. 6 Failed),
``status_desc``, ``status_date``, ``url``, ``pending_committee`` and, from the API only,
``change_hash``, ``completed`` and ``progress`` (``[{"date", "event"}]``). API fields not listed
here (``state_id``, ``bill_type*``, ``body_id``, ``current_body*``, ``pending_committee_id``,
``referrals``, history ``importance``, sponsor third-party ids, ...) are ignored: we read by name.
A bill-level key that is not in LegiScan's documented getBill record at all (LegiScan adds
fields between API versions) is kept in ``extras["unknown_fields"]`` and reported once per run.

Session names follow Open States' identifiers where they are known, see
:func:`legiscan_session_name`.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from scrapers.importers.base import (
    ChildRows,
    FileSet,
    Progress,
    RawBill,
    RecordError,
    UnknownFields,
    as_paths,
    built,
    csv_records,
    file_size,
    index_csv,
    is_zip,
    iter_zip,
    load_json,
    open_zip,
    orphan_error,
    raw_bill,
    read_file,
    report,
    summarise,
    validate_bill,
    walk,
)
from tracker.scraped import ScrapedBill

Result = ScrapedBill | RecordError

STATUS_DESC = {
    0: "N/A",
    1: "Introduced",
    2: "Engrossed",
    3: "Enrolled",
    4: "Passed",
    5: "Vetoed",
    6: "Failed",
}
UNICAMERAL = frozenset({"ne", "dc"})
_ASSEMBLY_STATES = frozenset({"ca", "nj", "nv", "ny", "wi"})
_CHAMBER_WORDS = {
    "h": "lower",
    "house": "lower",
    "a": "lower",
    "assembly": "lower",
    "s": "upper",
    "senate": "upper",
    "j": "joint",
    "joint": "joint",
    "l": "legislature",
    "legislature": "legislature",
    "council": "legislature",
}
_ROLE_CHAMBER = {"rep": "lower", "asm": "lower", "del": "lower", "sen": "upper"}
_SPONSOR_TYPES = {0: "sponsor", 1: "primary", 2: "cosponsor", 3: "joint sponsor"}
_SAST_RELATIONS = {
    "same as": "companion",
    "crossfiled": "companion",
    "similar to": "related",
    "related": "related",
    "replaces": "replaces",
    "replaced by": "replaced-by",
    "carry over": "prior-session",
}

_BILL_COLS = (
    "bill_id",
    "session_id",
    "bill_number",
    "status",
    "status_desc",
    "status_date",
    "title",
    "description",
    "committee",
    "url",
    "state_link",
)
_CHILD_COLS = {
    "history": ("bill_id", "date", "chamber", "sequence", "action"),
    "sponsors": ("bill_id", "people_id", "position"),
    "documents": (
        "bill_id",
        "document_type",
        "document_desc",
        "document_mime",
        "url",
        "state_link",
    ),
    "rollcalls": ("bill_id", "date", "chamber", "description", "yea", "nay", "nv", "absent"),
}
_PEOPLE_COLS = ("people_id", "name", "role", "committee_id")
# ScrapedBill child lists each CSV file gives (sponsors also need people.csv).
_CSV_PROVIDES = {
    "history": ("actions",),
    "sponsors": ("sponsorships",),
    "documents": ("versions", "documents"),
    "rollcalls": ("votes",),
}
# ... and each getBill key.
_API_PROVIDES = {
    "history": ("actions",),
    "sponsors": ("sponsorships",),
    "texts": ("versions",),
    "votes": ("votes",),
    "calendar": ("hearings",),
}
_SESSION_DIR_RE = re.compile(r"^(\d{4})-(\d{4})_(.+)$")
_ZIP_NAME_RE = re.compile(r"^([A-Za-z]{2})_(\d{4}-\d{4}_.+?)_CSV_")
_TIME_RE = re.compile(r"^\d{1,2}:\d{2}")


def iter_legiscan(
    paths: Iterable[Path | str], progress: Progress | None = None, *, lazy: bool = False
) -> Iterator[Result | RawBill]:
    """Every bill (or :class:`RecordError`) in ``paths``: zips, folders, API JSON files.

    ``lazy=True`` yields :class:`RawBill` instead of ScrapedBill, for ``ingest_bills``: a
    re-import then skips validating unchanged bills."""
    items = summarise(_iter_paths(paths, progress))
    return items if lazy else built(items)


def _iter_paths(paths: Iterable[Path | str], progress: Progress | None) -> Iterator[Any]:
    for path in as_paths(paths):
        if path.is_dir():
            yield from _iter_folder(path, progress)
        elif is_zip(path):
            yield from _iter_zip(path, progress, strict=True)
        elif path.suffix.lower() == ".json":
            yield from _iter_json_file(path, progress, strict=True)
        elif path.name == "bills.csv":
            yield from _iter_csv_folder(path.parent, progress)
        elif not path.exists():
            yield RecordError(str(path), None, "no such file or folder")
        else:
            yield RecordError(
                str(path),
                None,
                "not a LegiScan input (expected a dataset .zip, a folder, getBill JSON or bills.csv)",
            )


def _iter_folder(root: Path, progress: Progress | None) -> Iterator[Result]:
    for path in walk(root):
        yield from _iter_folder_file(path, progress)


def _iter_folder_file(path: Path, progress: Progress | None) -> Iterator[Result]:
    """One file met while walking a folder (other files are not LegiScan's: skipped)."""
    if is_zip(path.name):
        yield from _iter_zip(path, progress, strict=False)
    elif path.suffix.lower() == ".json":
        yield from _iter_json_file(path, progress, strict=False)
    elif path.name == "bills.csv":
        yield from _iter_csv_folder(path.parent, progress)


def legiscan_units(paths: Iterable[Path | str]) -> list[tuple[Callable[..., Any], tuple[Any, ...]]]:
    """``iter_legiscan(paths, lazy=True)`` cut into independent pieces, one per file met:
    ``(function, args)``; ``function(*args, None)`` yields that piece's items. Run in order
    (in other processes, see :mod:`tracker.collect.parallel`) they yield the same items."""
    units: list[tuple[Callable[..., Any], tuple[Any, ...]]] = []
    for path in as_paths(paths):
        if path.is_dir():
            units += [(_iter_folder_file, (p,)) for p in walk(path)]
        else:
            units.append((_iter_paths, ([path],)))
    return units


# --- session names ----------------------------------------------------------------------------

_UNITS = {
    "first": 1,
    "second": 2,
    "third": 3,
    "fourth": 4,
    "fifth": 5,
    "sixth": 6,
    "seventh": 7,
    "eighth": 8,
    "ninth": 9,
}
_TEENS = {
    "tenth": 10,
    "eleventh": 11,
    "twelfth": 12,
    "thirteenth": 13,
    "fourteenth": 14,
    "fifteenth": 15,
    "sixteenth": 16,
    "seventeenth": 17,
    "eighteenth": 18,
    "nineteenth": 19,
}
_TENS = {
    "twenty": 20,
    "thirty": 30,
    "forty": 40,
    "fifty": 50,
    "sixty": 60,
    "seventy": 70,
    "eighty": 80,
    "ninety": 90,
}
_TENS_ORD = {k[:-1] + "ieth": v for k, v in _TENS.items()}
_SPECIAL_RE = re.compile(r"\b(special|extraordinary)\b", re.I)
_NTH_SESSION_RE = re.compile(
    r"\b(\d+(?:st|nd|rd|th)|[a-z]+)\s+(regular|special|extraordinary)\b", re.I
)
_BODY_RE = re.compile(
    r"\b(\d+(?:st|nd|rd|th)|[a-z]+(?:-[a-z]+)?)\s+(?:legislature|general court|general assembly)\b",
    re.I,
)


def _ordinal_value(token: str) -> int | None:
    """``6th`` -> 6, ``Sixth`` -> 6, ``Forty-ninth`` -> 49, ``Fiftieth`` -> 50."""
    token = token.lower()
    if m := re.fullmatch(r"(\d+)(?:st|nd|rd|th)", token):
        return int(m.group(1))
    if token in _UNITS or token in _TEENS or token in _TENS_ORD:
        return _UNITS.get(token) or _TEENS.get(token) or _TENS_ORD[token]
    tens, _, unit = token.partition("-")
    if tens in _TENS and unit in _UNITS:
        return _TENS[tens] + _UNITS[unit]
    return None


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def _body_number(title: str) -> int | None:
    """The legislature's number: ``27th Legislature`` -> 27, ``Forty-ninth Legislature`` -> 49."""
    m = _BODY_RE.search(title)
    return _ordinal_value(m.group(1)) if m else None


def _session_number(title: str, kind: str) -> int:
    """``6th Special`` -> 6, ``First Extraordinary`` -> 1; 1 when the title gives no number."""
    for m in _NTH_SESSION_RE.finditer(title):
        if m.group(2).lower() in kind and (n := _ordinal_value(m.group(1))):
            return n
    return 1


def _generic_session(title: str, ys: int, ye: int, special: int) -> str:
    if re.search(r"\bfiscal\b", title, re.I):
        return f"{ys}F"
    if special:
        return f"{ys}S{special}"
    return f"{ys}-{ye}" if ye != ys else f"{ys}"


def _az(title: str, ys: int, ye: int, special: int) -> str | None:
    body = _body_number(title)
    if body is None:
        return None
    kind = "special" if special else "regular"
    n = special or _session_number(title, "regular")
    return f"{_ordinal(body)}-{_ordinal(n)}-{kind}"


def _body_only(title: str, ys: int, ye: int, special: int) -> str | None:
    body = _body_number(title)
    return None if body is None else str(body)


def _ma(title: str, ys: int, ye: int, special: int) -> str | None:
    body = _body_number(title)
    return None if body is None else _ordinal(body)


def _co(title: str, ys: int, ye: int, special: int) -> str | None:
    return f"{ys}{chr(ord('A') + special)}"  # 2025A regular, 2025B first extraordinary


def _ga(title: str, ys: int, ye: int, special: int) -> str | None:
    if special:
        return f"{ys}_ss" if special == 1 else f"{ys}_ss{special}"
    return f"{ys}_{ye % 100:02d}"


def _mn(title: str, ys: int, ye: int, special: int) -> str | None:
    return f"{ys}s{special}" if special else None


def _or(title: str, ys: int, ye: int, special: int) -> str | None:
    if special:
        return f"{ys}S{special}" if ys >= 2020 else f"{ys} Special Session"
    return f"{ys}R1" if ys >= 2022 else f"{ys} Regular Session"


# Open States' session identifiers where they differ from the generic rule, as listed in
# openstates-scrapers scrapers/<st>/__init__.py. A rule returning None falls back to generic.
_STATE_RULES: dict[str, Callable[[str, int, int, int], str | None]] = {
    "ak": _body_only,
    "az": _az,
    "co": _co,
    "ga": _ga,
    "ma": _ma,
    "mn": _mn,
    "or": _or,
}


def legiscan_session_name(
    state: str,
    session_title: str,
    year_start: int | str,
    year_end: int | str | None = None,
    special: bool | int = False,
) -> str:
    """A session identifier for a LegiScan session, matching Open States' where known.

    Generic rule: a special session is ``<year>S<n>`` (``2025S1``; ``n`` read from "2nd Special"
    or "Second Extraordinary", else 1), a fiscal session ``<year>F`` (AR ``2012F``), a session
    spanning years ``<start>-<end>`` (MN ``2025-2026``), otherwise ``<year>`` (``2025``).
    Per-state rules: AK legislature number (``27``), AZ ``57th-1st-regular`` /
    ``49th-6th-special``, CO ``2025A`` / ``2025B`` (letter per extraordinary session), GA
    ``2025_26`` / ``2023_ss``, MA ``194th``, MN specials ``2025s1``, OR ``2025R1`` / ``2025S1``
    (before 2022/2020: ``2019 Regular Session`` / ``2018 Special Session``).
    """
    title = " ".join(str(session_title or "").replace("_", " ").split())
    ys = int(year_start)
    ye = int(year_end or ys)
    is_special = bool(int(special or 0)) or bool(_SPECIAL_RE.search(title))
    n = _session_number(title, "special extraordinary") if is_special else 0
    rule = _STATE_RULES.get(state.lower())
    return (rule(title, ys, ye, n) if rule else None) or _generic_session(title, ys, ye, n)


def session_from_folder(folder: str) -> tuple[int, int, str] | None:
    """``2025-2026_94th_Legislature`` -> ``(2025, 2026, "94th Legislature")``."""
    m = _SESSION_DIR_RE.match(folder)
    if not m:
        return None
    return int(m.group(1)), int(m.group(2)), m.group(3).replace("_", " ")


# --- bulk CSV ---------------------------------------------------------------------------------


def _iter_zip(path: Path, progress: Progress | None, *, strict: bool) -> Iterator[Result]:
    zf = open_zip(path, _is_read)
    if isinstance(zf, RecordError):
        yield zf
        return
    with zf:
        names = zf.namelist()
        bases = sorted(n[: -len("bills.csv")] for n in names if n.rsplit("/", 1)[-1] == "bills.csv")
        has_json = any(_is_api_member(n) for n in names)
        if not bases and not has_json:
            if strict:
                yield RecordError(
                    str(path), None, "no LegiScan dataset in zip (<ST>/<session>/csv/bills.csv)"
                )
            return
        if bases:
            report(progress, str(path), file_size(path))
        files = FileSet.zip(zf, str(path))
        for base in bases:
            where = files.where(base + "bills.csv")
            place = _place_from_prefix(base) or _place_from_zip_name(path.name)
            if place is None:
                yield RecordError(
                    where,
                    None,
                    "cannot tell state and session: expected <ST>/<YYYY-YYYY_title>/csv/",
                )
                continue
            yield from _iter_session(files, base, *place)
        for item in iter_zip(zf, str(path), _is_api_member, progress):
            result = (
                item if isinstance(item, RecordError) else _bill_from_api_bytes(item[1], item[0])
            )
            if result is not None:  # people/vote/text payloads are not bills
                yield result


_READ_CSV = frozenset({"bills.csv", "people.csv", *(f"{kind}.csv" for kind in _CHILD_COLS)})


def _is_read(name: str) -> bool:
    """A zip member this importer reads (checked whole before the import starts)."""
    return name.rsplit("/", 1)[-1] in _READ_CSV or _is_api_member(name)


def _is_api_member(name: str) -> bool:
    return "/bill/" in name and name.endswith(".json")


def _place_from_prefix(base: str) -> tuple[str, str, dict[str, Any]] | None:
    parts = [p for p in base.split("/") if p]
    if len(parts) >= 3 and parts[-1] == "csv":
        return _place(parts[-3], parts[-2])
    return None


def _place_from_zip_name(name: str) -> tuple[str, str, dict[str, Any]] | None:
    m = _ZIP_NAME_RE.match(name)
    return _place(m.group(1), m.group(2)) if m else None


def _place(state: str, folder: str) -> tuple[str, str, dict[str, Any]] | None:
    parsed = session_from_folder(folder)
    if parsed is None or len(state) != 2:
        return None
    ys, ye, title = parsed
    st = state.lower()
    return st, legiscan_session_name(st, title, ys, ye), {"session_title": title}


def _iter_csv_folder(folder: Path, progress: Progress | None) -> Iterator[Result]:
    """An extracted dataset: ``<ST>/<YYYY-YYYY_title>/csv/bills.csv`` and siblings."""
    files = FileSet.folder(folder)
    report(progress, str(folder), sum(files.sizes.values()))
    parts = folder.resolve().parts
    place = _place(parts[-3], parts[-2]) if len(parts) >= 3 and parts[-1] == "csv" else None
    if place is None:
        yield RecordError(
            str(folder / "bills.csv"),
            None,
            "cannot tell state and session: expected <ST>/<YYYY-YYYY_title>/csv/",
        )
        return
    yield from _iter_session(files, "", *place)


def _iter_session(
    files: FileSet, base: str, state: str, session: str, meta: dict[str, Any]
) -> Iterator[Result]:
    """One session's CSVs: index the children by bill_id, then stream bills.csv."""
    people: dict[str, tuple[str, ...]] = {}
    people_ok = base + "people.csv" in files.names
    if people_ok:
        for rec in csv_records(files, base + "people.csv", _PEOPLE_COLS):
            if isinstance(rec, RecordError):
                people_ok = False
                yield rec
            else:
                people[rec[1][0]] = rec[1][1:]  # name, role, committee_id
    children: dict[str, ChildRows] = {}
    provided: list[str] = []  # child lists read whole: a missing or damaged file gives none
    for kind, cols in _CHILD_COLS.items():
        name = base + f"{kind}.csv"
        index: dict[str, Any]
        if kind == "sponsors" and not people_ok:
            index = {}
            yield RecordError(
                files.where(base + "people.csv"),
                None,
                "missing or unreadable; bills imported without sponsors (stored ones kept)",
                severity="warning",
            )
        elif name in files.names:
            index, errors = index_csv(files, name, cols)
            yield from errors
            if not any(e.severity == "error" for e in errors):
                provided += _CSV_PROVIDES[kind]
        else:
            index = {}
            yield RecordError(
                files.where(name),
                None,
                f"missing; bills imported without {kind} (stored ones kept)",
                severity="warning",
            )
        children[kind] = ChildRows.indexed(index)
    where = files.where(base + "bills.csv")
    for rec in csv_records(files, base + "bills.csv", _BILL_COLS):
        if isinstance(rec, RecordError):
            yield rec
            continue
        line, row = rec
        problems: list[RecordError] = []
        bill_id = row[0]
        fields = _csv_bill(
            state,
            session,
            meta,
            row,
            {k: c.take(bill_id) for k, c in children.items()},
            people,
            problems,
            files.where(base + "sponsors.csv"),
        )
        # A sponsor skipped (not in people.csv) leaves the list short: it is not given whole.
        fields["provided"] = [p for p in provided if not (problems and p == "sponsorships")]
        yield raw_bill(fields, where, line)
        yield from problems
    for kind, child in children.items():
        if orphans := orphan_error(child, files.where(base + f"{kind}.csv"), f"{kind} rows"):
            yield orphans


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError, OverflowError):
        return None


@functools.lru_cache(maxsize=64)
def chamber_names(state: str) -> dict[str, str]:
    """LegiScan's chamber spellings (``H``, ``House``, ``Senate``, ...) -> our chambers, for one
    state: a plain dict so the per-action lookup is one ``get``."""
    out = {}
    for word, chamber in _CHAMBER_WORDS.items():
        value = "legislature" if state in UNICAMERAL else chamber
        out.update({word: value, word.upper(): value, word.capitalize(): value})
    return out


def _chamber(value: str | None, state: str) -> str | None:
    if not value:
        return None
    return chamber_names(state).get(value.strip())


def origin_chamber(bill_number: str, state: str) -> str | None:
    """The chamber a bill starts in, from its number's letter (CSV rows carry no body)."""
    if state in UNICAMERAL:
        return "legislature"
    head = bill_number[:1].upper()
    if head == "H" or (head == "A" and state in _ASSEMBLY_STATES):
        return "lower"
    return "upper" if head == "S" else None


def _links(state_link: str, url: str, mime: str) -> list[dict[str, str]]:
    links = []
    if state_link:
        links.append({"url": state_link, "media_type": mime or ""})
    if url:
        links.append({"url": url, "media_type": "text/html"})  # LegiScan's permalink page
    return links


def _sources(state_link: str | None, url: str | None) -> list[dict[str, str]]:
    return [{"url": u, "note": note} for u, note in ((state_link, "state"), (url, "LegiScan")) if u]


def _abstracts(title: str, description: str) -> list[dict[str, str]]:
    if description and description.strip() != title.strip():
        return [{"abstract": description, "note": "LegiScan description"}]
    return []


def _csv_bill(
    state: str,
    session: str,
    meta: dict[str, Any],
    row: tuple[str, ...],
    kids: dict[str, list[tuple[Any, ...]]],
    people: dict[str, tuple[str, ...]],
    problems: list[RecordError],
    sponsors_where: str,
) -> dict[str, Any]:
    (
        bill_id,
        session_id,
        number,
        status,
        status_desc,
        status_date,
        title,
        description,
        committee,
        url,
        state_link,
    ) = row
    history = sorted(kids["history"], key=lambda r: _int(r[4]) or 0)
    chambers = chamber_names(state)
    return {
        "state": state,
        "legislative_session": session,
        "identifier": number,
        "title": title or description,
        "chamber": origin_chamber(number, state),
        "abstracts": _abstracts(title, description),
        "actions": [
            {"date": date, "description": action, "chamber": chambers.get(chamber)}
            for _l, _b, date, chamber, _seq, action in history
            if action  # a few old rows have a date and no text (CO 2010): nothing to record
        ],
        "sponsorships": _csv_sponsors(kids["sponsors"], people, problems, sponsors_where, number),
        "versions": [_csv_document(d) for d in kids["documents"] if d[2] == "text"],
        "documents": [_csv_document(d) for d in kids["documents"] if d[2] != "text"],
        "votes": [
            {
                "date": date or None,
                "motion": desc,
                "chamber": chambers.get(chamber),
                "yes": _int(yea),
                "no": _int(nay),
                "other": (_int(nv) or 0) + (_int(absent) or 0),
            }
            for _l, _b, date, chamber, desc, yea, nay, nv, absent in kids["rollcalls"]
        ],
        "sources": _sources(state_link, url),
        "extras": {
            "legiscan": {
                "bill_id": _int(bill_id),
                "session_id": _int(session_id),
                **meta,
                "status": _int(status),
                "status_desc": status_desc,
                "status_date": status_date or None,
                "url": url,
                "pending_committee": committee or None,
            }
        },
    }


def _csv_sponsors(
    rows: list[tuple[Any, ...]],
    people: dict[str, tuple[str, ...]],
    problems: list[RecordError],
    where: str,
    number: str,
) -> list[dict[str, Any]]:
    out = []
    for line, _bill, people_id, position in sorted(rows, key=lambda r: _int(r[3]) or 0):
        person = people.get(people_id)
        if person is None:
            msg = f"{number}: sponsor people_id {people_id} is not in people.csv; sponsor skipped"
            problems.append(RecordError(where, line, msg, severity="warning"))
            continue
        name, role, committee_id = person
        rank = _int(position) or 0
        out.append(
            {
                "name": name,
                "primary": rank == 1,
                "classification": "sponsor"
                if rank == 0
                else "primary"
                if rank == 1
                else "cosponsor",
                "entity_type": "organization" if committee_id not in ("", "0") else "person",
                "chamber": _ROLE_CHAMBER.get(role.lower()),
            }
        )
    return out


def _csv_document(row: tuple[Any, ...]) -> dict[str, Any]:
    _line, _bill, kind, desc, mime, url, state_link = row
    return {
        "note": desc or kind,
        "classification": "" if kind == "text" else kind,
        "links": _links(state_link, url, mime),
    }


# --- API / JSON dataset bills -----------------------------------------------------------------


def _iter_json_file(path: Path, progress: Progress | None, *, strict: bool) -> Iterator[Result]:
    data = read_file(path, progress)
    if isinstance(data, RecordError):
        yield data
        return
    result = _bill_from_api_bytes(data, str(path), strict=strict)
    if result is not None:
        yield result


def _bill_from_api_bytes(raw: bytes, where: str, *, strict: bool = False) -> Result | None:
    data = load_json(raw, where)
    if isinstance(data, RecordError):
        return data
    return bill_from_api(data, where, strict=strict, lazy=True)


def bill_from_api(
    data: Any, where: str, *, strict: bool = True, lazy: bool = False
) -> Result | RawBill | None:
    """A getBill payload (``{"status": "OK", "bill": {...}}`` or the bill itself) -> ScrapedBill.

    Returns None for a non-bill payload when ``strict`` is false (folder walks)."""
    if isinstance(data, dict) and data.get("status") not in (None, "OK"):
        alert = (
            (data.get("alert") or {}).get("message", "")
            if isinstance(data.get("alert"), dict)
            else ""
        )
        return RecordError(
            where, None, f"LegiScan API status {data.get('status')!r}: {alert}".rstrip(": ")
        )
    bill = data.get("bill") if isinstance(data, dict) else None
    if bill is None and isinstance(data, dict) and {"bill_id", "bill_number"} <= data.keys():
        bill = data
    if not isinstance(bill, dict):
        if not strict:
            return None
        kind = ", ".join(sorted(data)[:3]) if isinstance(data, dict) else type(data).__name__
        return RecordError(where, None, f"not a LegiScan getBill record (found {kind})")
    try:
        fields = api_bill_fields(bill)
    except (KeyError, TypeError, ValueError, AttributeError, IndexError) as exc:
        return RecordError(
            where,
            None,
            f"bill {str(bill.get('bill_number', '?'))[:40]}: malformed LegiScan record ({exc!r:.200})",
        )
    except RecursionError:
        return RecordError(
            where, None, f"bill {str(bill.get('bill_number', '?'))[:40]}: nested too deeply"
        )
    return raw_bill(fields, where, None) if lazy else validate_bill(fields, where, None)


_API_BILL_KEYS = frozenset(
    {
        "bill_id", "change_hash", "session_id", "session", "url", "state_link", "completed",
        "status", "status_date", "progress", "state", "state_id", "bill_number", "bill_type",
        "bill_type_id", "body", "body_id", "current_body", "current_body_id", "title",
        "description", "pending_committee_id", "committee", "referrals", "history", "sponsors",
        "sasts", "subjects", "texts", "votes", "amendments", "supplements", "calendar",
    }
)  # fmt: skip


def api_bill_fields(b: dict[str, Any]) -> dict[str, Any]:
    """The ScrapedBill fields of a getBill ``bill`` object (not yet validated)."""
    unknown = UnknownFields()
    unknown.check(b, _API_BILL_KEYS, "")
    fields = _api_fields(b)
    unknown.keep(fields["extras"])
    return fields


def _api_fields(b: dict[str, Any]) -> dict[str, Any]:
    state = str(b["state"]).lower()
    s = b.get("session") or {}
    title = s.get("session_title") or s.get("session_name") or ""
    session = legiscan_session_name(
        state, title, s["year_start"], s.get("year_end"), s.get("special") or 0
    )
    committee = b.get("committee")
    provided = [name for key, names in _API_PROVIDES.items() if key in b for name in names]
    if "amendments" in b and "supplements" in b:
        provided.append("documents")
    return {
        "provided": provided,
        "state": state,
        "legislative_session": session,
        "identifier": b["bill_number"],
        "title": b.get("title") or b.get("description") or "",
        "chamber": _chamber(b.get("body"), state) or origin_chamber(b["bill_number"], state),
        "subject": [x["subject_name"] for x in b.get("subjects") or ()],
        "abstracts": _abstracts(b.get("title") or "", b.get("description") or ""),
        "actions": [
            {
                "date": h["date"],
                "description": h["action"],
                "chamber": _chamber(h.get("chamber"), state),
            }
            for h in b.get("history") or ()
        ],
        "sponsorships": [
            _api_sponsor(x)
            for x in sorted(b.get("sponsors") or (), key=lambda x: x.get("sponsor_order") or 0)
        ],
        "versions": [
            {
                "note": t.get("type") or "",
                "date": t.get("date") or None,
                "links": _links(t.get("state_link") or "", t.get("url") or "", t.get("mime") or ""),
            }
            for t in b.get("texts") or ()
        ],
        "documents": [_api_document(d, "amendment") for d in b.get("amendments") or ()]
        + [_api_document(d, "supplement") for d in b.get("supplements") or ()],
        "votes": [_api_vote(v, state) for v in b.get("votes") or ()],
        "hearings": [_api_hearing(c) for c in b.get("calendar") or ()],
        "related_bills": [
            {
                "identifier": x["sast_bill_number"],
                "relation_type": _SAST_RELATIONS.get(str(x.get("type", "")).lower(), "related"),
            }
            for x in b.get("sasts") or ()
        ],
        "sources": _sources(b.get("state_link"), b.get("url")),
        "extras": {
            "legiscan": {
                "bill_id": b.get("bill_id"),
                "session_id": b.get("session_id"),
                "session_title": title,
                "status": b.get("status"),
                "status_desc": STATUS_DESC.get(b.get("status") or 0, ""),
                "status_date": b.get("status_date") or None,
                "url": b.get("url"),
                "pending_committee": committee.get("name") if isinstance(committee, dict) else None,
                "change_hash": b.get("change_hash"),
                "completed": b.get("completed"),
                "progress": [
                    {"date": p.get("date"), "event": p.get("event")}
                    for p in b.get("progress") or ()
                ],
            }
        },
    }


def _api_sponsor(x: dict[str, Any]) -> dict[str, Any]:
    kind = _int(x.get("sponsor_type_id")) or 0
    return {
        "name": x["name"],
        "primary": kind == 1,
        "classification": _SPONSOR_TYPES.get(kind, "sponsor"),
        "entity_type": "organization" if x.get("committee_sponsor") else "person",
        "chamber": _ROLE_CHAMBER.get(str(x.get("role") or "").lower()),
    }


def _api_document(d: dict[str, Any], kind: str) -> dict[str, Any]:
    return {
        "note": d.get("title") or d.get("description") or d.get("type") or kind,
        "date": d.get("date") or None,
        "classification": kind if kind == "amendment" else (d.get("type") or kind),
        "links": _links(d.get("state_link") or "", d.get("url") or "", d.get("mime") or ""),
    }


def _api_vote(v: dict[str, Any], state: str) -> dict[str, Any]:
    passed = v.get("passed")
    return {
        "date": v.get("date") or None,
        "motion": v.get("desc") or "",
        "result": "pass" if passed == 1 else "fail" if passed == 0 else "",
        "chamber": _chamber(v.get("chamber"), state),
        "yes": _int(v.get("yea")),
        "no": _int(v.get("nay")),
        "other": (_int(v.get("nv")) or 0) + (_int(v.get("absent")) or 0),
    }


def _api_hearing(c: dict[str, Any]) -> dict[str, Any]:
    """A calendar entry (``type`` Hearing / Executive Session / ..., ``date``, ``time``,
    ``location``, ``description``) -> a hearing; the time joins the date when given."""
    time = str(c.get("time") or "")
    date = c.get("date") or ""
    desc = c.get("description") or ""
    kind = c.get("type") or ""
    if kind and kind.lower() != "hearing":
        desc = f"{kind}: {desc}" if desc else kind
    return {
        "date": f"{date}T{time[:5].zfill(5)}" if date and _TIME_RE.match(time) else date,
        "location": c.get("location") or None,
        "description": desc,
    }
