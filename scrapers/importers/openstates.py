"""Open States data -> :class:`ScrapedBill`, streamed.

Reads:

- pupa / openstates-core **scrape output** bill JSON: ``bill_<uuid>.json`` files, Windy Civi's
  per-bill ``metadata.json`` (the same object plus ``_processing``), any single ``.json`` bill
  named explicitly;
- folders of those (walked recursively in sorted order; only ``bill_*.json`` and
  ``metadata.json`` are read, so ``jurisdiction_*``, ``organization_*`` and ``vote_event_*``
  files are skipped), and ``.tar.gz``/``.tgz``/``.zip`` archives of them (streamed, never
  extracted to disk);
- the old Open States "billy" bulk CSV: ``<st>_bills.csv`` + ``<st>_bill_actions.csv`` +
  ``<st>_bill_sponsors.csv`` in a folder or a zip, joined on (session, bill_id).

Field mapping from scrape JSON: the state comes from ``jurisdiction`` (``ocd-jurisdiction/
country:us/state:id/government``), else from a path like ``country:us/state:mn/sessions/...``,
else from a folder named for the state. Chambers come from the pseudo-ids
``~{"classification": "upper"}`` in ``from_organization`` / ``organization_id`` (for sponsors
``~{"chamber": "lower", ...}``). Action classifications are kept as given (already Open States'
vocabulary). An action's first ``related_entities`` organisation becomes its ``committee``.

Keys dropped on purpose: ``_id``, ``scraped_at``, ``_processing`` (scrape bookkeeping that changes
on every run and would look like a change to ingest), ``jurisdiction`` (used for the state),
sponsors' ``person_id`` / ``organization_id`` (unresolved pseudo-ids; the chamber is kept),
actions' ``related_entities`` other than the committee name, abstracts' ``date``, links' ``text``,
other_identifiers' ``scheme``/``note`` (the identifier string is kept), and children's
``extras``. ``citations`` go to ``extras["citations"]`` when present. Any other key (Open States
adds fields over time) is kept in ``extras["unknown_fields"]`` under its path (``updated_at``,
``actions[3].updated_at``) and reported once per run by :func:`~.base.summarise`: one new
upstream field must not stop an import. A known field of the wrong type stays an error for that
bill.

Each bill says which child lists it gives (``provided``, see :mod:`tracker.scraped`): a scrape
JSON bill the keys it has (``actions``, ``sponsorships``, ``versions``, ``documents``; votes
and events live in other files), a billy CSV bill the child files that are there. A list that
is not given leaves what is stored alone.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path, PurePosixPath
from typing import Any

from scrapers.importers.base import (
    BadRecord,
    ChildRows,
    FileSet,
    Progress,
    RawBill,
    RecordError,
    UnknownFields,
    as_paths,
    built,
    csv_records,
    in_parent_order,
    index_csv,
    is_tar,
    is_zip,
    iter_tar,
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
from tracker.vocab import CHAMBERS, STATE_NAMES

Result = ScrapedBill | RecordError

_BILL_KEYS = frozenset(
    {
        "legislative_session",
        "identifier",
        "title",
        "from_organization",
        "classification",
        "subject",
        "abstracts",
        "other_titles",
        "other_identifiers",
        "actions",
        "sponsorships",
        "related_bills",
        "versions",
        "documents",
        "citations",
        "sources",
        "extras",
        # read for the state, then dropped:
        "jurisdiction",
        "jurisdiction_id",
        # bookkeeping, dropped:
        "_id",
        "scraped_at",
        "_processing",
    }
)
_ACTION_KEYS = frozenset(
    {
        "description",
        "date",
        "organization_id",
        "classification",
        "related_entities",
        "extras",
        "_processing",
    }
)
_SPONSOR_KEYS = frozenset(
    {"name", "classification", "entity_type", "primary", "person_id", "organization_id", "extras"}
)
_DOC_KEYS = frozenset({"note", "date", "classification", "links", "extras"})
_LINK_KEYS = frozenset({"url", "media_type", "text"})
_STATE_RE = re.compile(r"state:([a-z]{2})\b")
_JSON_CHILDREN = ("actions", "sponsorships", "versions", "documents")


def iter_openstates(
    paths: Iterable[Path | str], progress: Progress | None = None, *, lazy: bool = False
) -> Iterator[Result | RawBill]:
    """Every bill (or :class:`RecordError`) in ``paths``: files, folders and archives.

    ``lazy=True`` yields :class:`RawBill` instead of ScrapedBill, for ``ingest_bills``: a
    re-import then skips validating unchanged bills."""
    items = summarise(_iter_paths(paths, progress))
    return items if lazy else built(items)


def _iter_paths(paths: Iterable[Path | str], progress: Progress | None) -> Iterator[Any]:
    billy_done: set[Path] = set()  # ak_bills.csv + ak_bill_actions.csv named together: once
    for path in as_paths(paths):
        if path.is_dir():
            yield from _iter_folder(path, progress)
        elif is_tar(path):
            yield from _iter_tar(path, progress)
        elif is_zip(path):
            yield from _iter_zip(path, progress)
        elif path.suffix.lower() == ".json":
            yield from _iter_json_file(path, progress)
        elif path.suffix.lower() == ".csv" and (prefix := _billy_prefix(path.name)):
            bills = path.parent / f"{prefix}_bills.csv"
            if bills not in billy_done:
                billy_done.add(bills)
                yield from _iter_billy(FileSet.folder(path.parent), bills.name, progress)
        elif not path.exists():
            yield RecordError(str(path), None, "no such file or folder")
        else:
            yield RecordError(
                str(path),
                None,
                "not an Open States input (expected bill JSON, metadata.json, a folder, "
                ".tar.gz/.zip, or <st>_bills.csv)",
            )


def is_bill_json(name: str) -> bool:
    base = name.rsplit("/", 1)[-1]
    return base == "metadata.json" or (base.startswith("bill_") and base.endswith(".json"))


def _billy_prefix(name: str) -> str | None:
    """``ak`` for ``ak_bills.csv`` / ``ak_bill_actions.csv`` / ``ak_bill_sponsors.csv``."""
    base = name.rsplit("/", 1)[-1]
    for suffix in ("_bills.csv", "_bill_actions.csv", "_bill_sponsors.csv"):
        if base.endswith(suffix) and len(base) > len(suffix):
            return base[: -len(suffix)]
    return None


def _iter_folder(root: Path, progress: Progress | None) -> Iterator[Result]:
    for path in walk(root):
        yield from _iter_folder_file(path, progress)


def _iter_folder_file(path: Path, progress: Progress | None) -> Iterator[Result]:
    """One file met while walking a folder; anything else (organizations, votes, derived CSVs,
    other formats) is not ours."""
    name = path.name
    if is_bill_json(name):
        yield from _iter_json_file(path, progress)
    elif is_tar(name):
        yield from _iter_tar(path, progress)
    elif is_zip(name):
        yield from _iter_zip(path, progress)
    elif _billy_prefix(name) and name.endswith("_bills.csv"):
        yield from _iter_billy(FileSet.folder(path.parent), name, progress)


def openstates_units(
    paths: Iterable[Path | str],
) -> list[tuple[Callable[..., Any], tuple[Any, ...]]]:
    """``iter_openstates(paths, lazy=True)`` cut into independent pieces, one per file met in a
    folder: ``(function, args)``; ``function(*args, None)`` yields that piece's items. Paths
    that are not folders stay one piece (billy CSVs named together are read once)."""
    paths = list(as_paths(paths))
    if not all(p.is_dir() for p in paths):
        return [(_iter_paths, (paths,))]
    return [(_iter_folder_file, (p,)) for root in paths for p in walk(root)]


def _iter_json_file(path: Path, progress: Progress | None) -> Iterator[Result]:
    data = read_file(path, progress)
    if isinstance(data, RecordError):
        yield data
        return
    yield bill_from_json(data, str(path), lazy=True)


def _iter_tar(path: Path, progress: Progress | None) -> Iterator[Result]:
    for item in iter_tar(path, is_bill_json, progress):
        yield item if isinstance(item, RecordError) else bill_from_json(item[1], item[0], lazy=True)


def _iter_zip(path: Path, progress: Progress | None) -> Iterator[Result]:
    zf = open_zip(path)
    if isinstance(zf, RecordError):
        yield zf
        return
    with zf:
        for name in sorted(
            n for n in zf.namelist() if n.endswith("_bills.csv") and _billy_prefix(n)
        ):
            yield from _iter_billy(FileSet.zip(zf, str(path)), name, progress)
        for item in iter_zip(zf, str(path), is_bill_json, progress):
            yield (
                item
                if isinstance(item, RecordError)
                else bill_from_json(item[1], item[0], lazy=True)
            )


# --- scrape JSON ------------------------------------------------------------------------------


def bill_from_json(raw: bytes, where: str, *, lazy: bool = False) -> Result | RawBill:
    """One scrape-output bill (bytes of a JSON object) -> ScrapedBill or RecordError."""
    data = load_json(raw, where)
    if isinstance(data, RecordError):
        return data
    if not isinstance(data, dict):
        return RecordError(
            where, None, f"expected one bill as a JSON object, got {type(data).__name__}"
        )
    try:
        fields = bill_fields(data, where)
    except BadRecord as exc:
        return RecordError(where, None, f"bill {data.get('identifier', '?')}: {exc}")
    except (TypeError, AttributeError, KeyError, ValueError, IndexError) as exc:
        return RecordError(
            where, None, f"bill {str(data.get('identifier', '?'))[:40]}: malformed ({exc!r:.200})"
        )
    except RecursionError:
        return RecordError(
            where, None, f"bill {str(data.get('identifier', '?'))[:40]}: nested too deeply"
        )
    return raw_bill(fields, where, None) if lazy else validate_bill(fields, where, None)


def bill_fields(data: dict[str, Any], where: str) -> dict[str, Any]:
    """The ScrapedBill fields of a scrape-output bill object (not yet validated)."""
    unknown = UnknownFields()
    unknown.check(data, _BILL_KEYS, "")
    state = _state(data, where)
    if state is None:
        raise BadRecord("cannot tell the state: no jurisdiction id and no state in the path")
    extras = dict(data.get("extras") or {})
    if data.get("citations"):
        extras["citations"] = data["citations"]
    fields = {
        "provided": [name for name in _JSON_CHILDREN if name in data],
        "state": state,
        "legislative_session": data.get("legislative_session"),
        "identifier": data.get("identifier"),
        "chamber": _chamber(data.get("from_organization")),
        **descriptive_fields(data),
        "actions": [_action(a, f"actions[{i}]", unknown) for i, a in _items(data, "actions")],
        "sponsorships": [
            _sponsorship(s, f"sponsorships[{i}]", unknown) for i, s in _items(data, "sponsorships")
        ],
        "versions": [_document(v, f"versions[{i}]", unknown) for i, v in _items(data, "versions")],
        "documents": [
            _document(d, f"documents[{i}]", unknown) for i, d in _items(data, "documents")
        ],
        "related_bills": [
            {
                "identifier": r["identifier"],
                "legislative_session": r.get("legislative_session") or None,
                "relation_type": r.get("relation_type") or "companion",
            }
            for r in data.get("related_bills") or []
        ],
        "sources": [
            {"url": s["url"], "note": s.get("note") or ""} for s in data.get("sources") or []
        ],
        "extras": extras,
    }
    unknown.keep(extras)
    return fields


def _items(data: dict[str, Any], key: str) -> Iterable[tuple[int, Any]]:
    return enumerate(data.get(key) or ())


def descriptive_fields(data: dict[str, Any]) -> dict[str, Any]:
    """Title, classification, subjects, abstracts and other titles/identifiers: named alike in
    Open States' scrape JSON and its API v3, so both converters share this mapping."""
    return {
        "title": data.get("title") or "",
        "classification": data.get("classification") or ["bill"],
        "subject": data.get("subject") or [],
        "abstracts": [
            {"abstract": a["abstract"], "note": a.get("note") or ""}
            for a in data.get("abstracts") or []
        ],
        "other_titles": [
            {"title": t["title"], "note": t.get("note") or ""}
            for t in data.get("other_titles") or []
        ],
        "other_identifiers": [
            o["identifier"] if isinstance(o, dict) else o
            for o in data.get("other_identifiers") or []
        ],
    }


def _state(data: dict[str, Any], where: str) -> str | None:
    jur = data.get("jurisdiction") or data.get("jurisdiction_id")
    jid = jur.get("id") if isinstance(jur, dict) else jur
    for text in (jid, where):
        if isinstance(text, str) and (m := _STATE_RE.search(text)):
            return m.group(1)
    # e.g. samples/mn/2025-2026/HF27/metadata.json or _data/id/bill_x.json
    parts = PurePosixPath(where.replace("!", "/").replace("\\", "/")).parts[:-1]
    for part in reversed(parts):
        if len(part) == 2 and part.lower() in STATE_NAMES and part.lower() != "us":
            return part.lower()
    return None


@functools.lru_cache(maxsize=1024)
def _pseudo_chamber(pseudo_id: str) -> str | None:
    """``~{"classification": "upper"}`` -> ``upper``; real OCD ids and other pseudo-ids -> None."""
    if not pseudo_id.startswith("~"):
        return None
    try:
        obj = json.loads(pseudo_id[1:])
    except ValueError:
        return None
    if not isinstance(obj, dict):
        return None
    value = obj.get("classification") or obj.get("chamber")
    return value if value in CHAMBERS else None


def _chamber(pseudo_id: Any) -> str | None:
    return _pseudo_chamber(pseudo_id) if isinstance(pseudo_id, str) else None


def _action(a: dict[str, Any], path: str, unknown: UnknownFields) -> dict[str, Any]:
    unknown.check(a, _ACTION_KEYS, path)
    committee = None
    for ent in a.get("related_entities") or ():
        if ent.get("entity_type") == "organization" and ent.get("name"):
            committee = ent["name"]
            break
    return {
        "date": a.get("date"),
        "description": a.get("description"),
        "chamber": _chamber(a.get("organization_id")),
        "classification": a.get("classification") or [],
        "committee": committee,
    }


def _sponsorship(s: dict[str, Any], path: str, unknown: UnknownFields) -> dict[str, Any]:
    unknown.check(s, _SPONSOR_KEYS, path)
    return {
        "name": s.get("name"),
        "primary": bool(s.get("primary")),
        "classification": s.get("classification")
        or ("primary" if s.get("primary") else "cosponsor"),
        "entity_type": s.get("entity_type") or "person",
        "chamber": _chamber(s.get("organization_id")),
    }


def _document(d: dict[str, Any], path: str, unknown: UnknownFields) -> dict[str, Any]:
    unknown.check(d, _DOC_KEYS, path)
    links = []
    for i, link in enumerate(d.get("links") or ()):
        unknown.check(link, _LINK_KEYS, f"{path}.links[{i}]")
        links.append({"url": link["url"], "media_type": link.get("media_type") or ""})
    return {
        "note": d.get("note") or "",
        "date": d.get("date") or None,
        "classification": d.get("classification") or "",
        "links": links,
    }


# --- billy bulk CSV ---------------------------------------------------------------------------

# billy's action types -> Open States classifications (the inverse of the mapping billy's own
# pupa bridge used; 'other' means "no type", not a class of its own).
BILLY_ACTION_TYPES: dict[str, tuple[str, ...]] = {
    "bill:introduced": ("introduction",),
    "bill:passed": ("passage",),
    "bill:failed": ("failure",),
    "bill:withdrawn": ("withdrawal",),
    "bill:substituted": ("substitution",),
    "bill:filed": ("filing",),
    "bill:veto_override:passed": ("veto-override-passage",),
    "bill:veto_override:failed": ("veto-override-failure",),
    "bill:reading:1": ("reading-1",),
    "bill:reading:2": ("reading-2",),
    "bill:reading:3": ("reading-3",),
    "governor:received": ("executive-receipt",),
    "governor:signed": ("executive-signature",),
    "governor:vetoed": ("executive-veto",),
    "governor:vetoed:line-item": ("executive-veto-line-item",),
    "amendment:introduced": ("amendment-introduction",),
    "amendment:passed": ("amendment-passage",),
    "amendment:failed": ("amendment-failure",),
    "amendment:tabled": ("amendment-deferral",),
    "amendment:amended": ("amendment-amendment",),
    "amendment:withdrawn": ("amendment-withdrawal",),
    "committee:referred": ("referral-committee",),
    "committee:passed": ("committee-passage",),
    "committee:passed:favorable": ("committee-passage-favorable",),
    "committee:passed:unfavorable": ("committee-passage-unfavorable",),
    "committee:failed": ("committee-failure",),
    "other": (),
}
_BILLY_ACTORS = {
    "governor": "executive",
    "executive": "executive",
    "lower": "lower",
    "upper": "upper",
    "joint": "joint",
    "legislature": "legislature",
}
_BILLS_COLS = ("state", "session", "chamber", "bill_id", "title", "type", "subjects")
_ACTIONS_COLS = ("session", "bill_id", "date", "action", "actor", "type")
_SPONSORS_COLS = ("session", "bill_id", "type", "name")


def billy_classification(types: str) -> list[str]:
    """``bill:introduced|bill:reading:1`` -> ``['introduction', 'reading-1']``. Types outside
    billy's vocabulary are dropped (an action may carry no classification)."""
    out: list[str] = []
    for t in types.split("|"):
        out.extend(BILLY_ACTION_TYPES.get(t.strip(), ()))
    return out


def _key2(row: tuple[str, ...]) -> tuple[str, str]:
    return row[0], row[1]


def _key_bill(row: tuple[str, ...]) -> tuple[str, str]:
    return row[1], row[3]


def _iter_billy(files: FileSet, bills_name: str, progress: Progress | None) -> Iterator[Result]:
    """Join one state's billy CSVs (``bills_name`` is ``[dir/]<st>_bills.csv``). Actions and
    sponsors are merged while streaming when they follow bills.csv's order (true of the real
    files), and indexed otherwise."""
    stem = bills_name[: -len("_bills.csv")]
    names = {"actions": f"{stem}_bill_actions.csv", "sponsors": f"{stem}_bill_sponsors.csv"}
    order: dict[tuple[str, ...], int] = {}
    for rec in csv_records(files, bills_name, ("session", "bill_id")):
        if not isinstance(rec, RecordError):
            order.setdefault(rec[1], len(order))
    children: dict[str, ChildRows] = {}
    provided = [
        field
        for kind, field in (("actions", "actions"), ("sponsors", "sponsorships"))
        if names[kind] in files.names
    ]
    for kind, cols in (("actions", _ACTIONS_COLS), ("sponsors", _SPONSORS_COLS)):
        name = names[kind]
        if name not in files.names:
            yield RecordError(
                files.where(name), None, f"missing {kind} file; bills imported without {kind}"
            )
            children[kind] = ChildRows.indexed({})
            continue
        report(progress, files.where(name), files.sizes[name])
        if in_parent_order(csv_records(files, name, ("session", "bill_id")), _key2, order):
            children[kind] = ChildRows.merged(csv_records(files, name, cols), _key2, order)
        else:  # not in bills.csv order: index it (one state's file)
            children[kind] = ChildRows.indexed(*index_csv(files, name, cols, key_len=2))
    report(progress, files.where(bills_name), files.sizes[bills_name])
    for rec in csv_records(files, bills_name, _BILLS_COLS):
        if isinstance(rec, RecordError):
            yield rec
            continue
        line, row = rec
        key = _key_bill(row)
        fields = _billy_fields(row, children["actions"].take(key), children["sponsors"].take(key))
        fields["provided"] = provided
        yield raw_bill(fields, files.where(bills_name), line)
        for child in children.values():
            yield from child.errors
            child.errors.clear()
    for kind, child in children.items():
        if orphans := orphan_error(child, files.where(names[kind]), kind):
            yield orphans
        yield from child.errors


def _billy_fields(
    row: tuple[str, ...], actions: list[tuple[Any, ...]], sponsors: list[tuple[Any, ...]]
) -> dict[str, Any]:
    state, session, chamber, bill_id, title, type_, subjects = row
    title = title.strip()
    if len(title) > 1 and title[0] == title[-1] == '"':
        title = title[1:-1]  # AK titles are stored quoted: "An Act ..."
    return {
        "state": state,
        "legislative_session": session,
        "identifier": bill_id,
        "title": title,
        "classification": [t for t in type_.split("|") if t] or ["bill"],
        "chamber": chamber if chamber in CHAMBERS else None,
        "subject": [s for s in subjects.split("|") if s],
        "actions": [
            {
                "date": date[:10],  # '2011-01-18 00:00:00': the time is always midnight filler
                "description": action,
                "chamber": _BILLY_ACTORS.get(actor.split(" ", 1)[0].lower()),
                "classification": billy_classification(types),
            }
            for _line, _s, _b, date, action, actor, types in actions
            if action  # an action with no text says nothing (same rule as LegiScan)
        ],
        "sponsorships": [
            {"name": name, "primary": kind == "primary", "classification": kind or "cosponsor"}
            for _line, _s, _b, kind, name in sponsors
        ],
    }
