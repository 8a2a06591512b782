"""Local fakes of the Open States API v3 and the LegiScan API, serving REAL shared data.

Nothing here invents a bill: the fakes re-shape real records from ../shared/data into each API's
documented response format.

- Open States v3 ``/bills`` serves Open States scrape bills (Windy Civi ``metadata.json``,
  Idaho scraper output) converted to the v3 bill shape (``jurisdiction`` object, ``session``,
  ``from_organization`` object, ``actions[].organization``, ``updated_at`` ...) with the
  documented filters (``jurisdiction``, ``session``, ``q``, ``updated_since``, ``include``),
  paging (``per_page`` <= 20, 404 past the last page), ``X-API-KEY`` auth and a daily limit
  answered with 429 as api-v3 does.
- LegiScan ``?key=&op=`` serves the real getBill records in ``legiscan/api_json/bill`` plus real
  scrape bills re-shaped as getBill records, with ``getMasterListRaw``, ``getBill``,
  ``getSearch`` (50 a page, ``summary.page_total``) and ``getSessionList``; errors are
  ``{"status": "ERROR", "alert": {"message": ...}}``.

``touch(...)`` changes a served bill the way a new action upstream would (new ``updated_at`` /
``change_hash``), so tests and the bench can model "changed" and "unchanged" weeks.
"""

from __future__ import annotations

import copy
import hashlib
import json
import math
import re
import tarfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from httpserver import Reply, Request

KEY = "synthetic-test-key"
_STATE_RE = re.compile(r"state:([a-z]{2})\b")
_BILL_ID_Q = re.compile(r"^\w{1,3}\s*\d{1,5}$")
STATE_NAMES_SHORT = {
    "ak": "Alaska",
    "ar": "Arkansas",
    "ma": "Massachusetts",
    "mn": "Minnesota",
    "vt": "Vermont",
    "wa": "Washington",
    "id": "Idaho",
    "co": "Colorado",
    "or": "Oregon",
}


def _json(status: int, payload: Any) -> Reply:
    return Reply(status, json.dumps(payload).encode(), {"Content-Type": "application/json"})


def _pseudo(value: Any) -> str | None:
    if isinstance(value, str) and value.startswith("~"):
        try:
            obj = json.loads(value[1:])
        except ValueError:
            return None
        return obj.get("classification") or obj.get("chamber")
    return None


def _stable_int(text: str, mod: int = 9_000_000) -> int:
    return 1_000_000 + int(hashlib.sha1(text.encode()).hexdigest()[:12], 16) % mod


# --- reading real scrape bills --------------------------------------------------------------------


def scrape_bills_from(
    paths: Iterable[Path], *, limit: int | None = None
) -> Iterator[tuple[str, dict[str, Any]]]:
    """(state, scrape bill dict) from metadata.json files, folders or Windy Civi tarballs."""
    count = 0
    for path in paths:
        for state, bill in _one_path(Path(path)):
            yield state, bill
            count += 1
            if limit is not None and count >= limit:
                return


def _one_path(path: Path) -> Iterator[tuple[str, dict[str, Any]]]:
    if path.is_dir():
        for file in sorted(path.rglob("*.json")):
            if file.name == "metadata.json" or file.name.startswith("bill_"):
                yield from _one_file(file.read_bytes(), str(file))
    elif path.name.endswith(".tar.gz"):
        with tarfile.open(path, "r|gz") as tf:
            for member in tf:
                if member.isfile() and member.name.endswith("metadata.json"):
                    handle = tf.extractfile(member)
                    if handle is not None:
                        yield from _one_file(handle.read(), member.name)
    else:
        yield from _one_file(path.read_bytes(), str(path))


def _one_file(raw: bytes, where: str) -> Iterator[tuple[str, dict[str, Any]]]:
    data = json.loads(raw)
    jur = data.get("jurisdiction") or {}
    jid = jur.get("id") if isinstance(jur, dict) else jur
    m = _STATE_RE.search(jid or "") or _STATE_RE.search(where)
    if m is None:
        parts = Path(where).parts
        m2 = next((p for p in reversed(parts[:-1]) if len(p) == 2 and p.isalpha()), None)
        if m2 is None:
            return
        yield m2.lower(), data
        return
    yield m.group(1), data


# --- Open States v3 -------------------------------------------------------------------------------


def _org(state: str, classification: str | None) -> dict[str, Any]:
    classification = classification or "legislature"
    return {
        "id": f"ocd-organization/{state}-{classification}",
        "name": f"{state.upper()} {classification}",
        "classification": classification,
    }


def v3_from_scrape(state: str, bill: dict[str, Any]) -> dict[str, Any]:
    """A real scrape bill in the API v3 bill shape (schemas.Bill of openstates/api-v3)."""
    jid = f"ocd-jurisdiction/country:us/state:{state}/government"
    actions = bill.get("actions") or []
    dates = sorted(a["date"][:10] for a in actions if a.get("date"))
    ident = bill["identifier"]
    latest = dates[-1] if dates else "2025-01-01"
    key = f"{state}|{bill['legislative_session']}|{ident}"
    return {
        "id": f"ocd-bill/{hashlib.sha1(key.encode()).hexdigest()[:32]}",
        "session": bill["legislative_session"],
        "jurisdiction": {
            "id": jid,
            "name": STATE_NAMES_SHORT.get(state, state.upper()),
            "classification": "state",
        },
        "from_organization": _org(state, _pseudo(bill.get("from_organization"))),
        "identifier": ident,
        "title": bill.get("title") or "",
        "classification": bill.get("classification") or ["bill"],
        "subject": bill.get("subject") or [],
        "extras": {},
        "created_at": f"{dates[0] if dates else latest}T00:00:00+00:00",
        "updated_at": f"{latest}T12:00:00+00:00",
        "openstates_url": f"https://openstates.org/{state}/bills/{bill['legislative_session']}/{ident.replace(' ', '')}/",
        "first_action_date": dates[0] if dates else "",
        "latest_action_date": latest,
        "latest_action_description": actions[-1]["description"] if actions else "",
        "abstracts": [
            {"abstract": a["abstract"], "note": a.get("note") or ""}
            for a in bill.get("abstracts") or []
        ],
        "other_titles": [
            {"title": t["title"], "note": t.get("note") or ""}
            for t in bill.get("other_titles") or []
        ],
        "other_identifiers": [
            {"identifier": o["identifier"] if isinstance(o, dict) else o}
            for o in bill.get("other_identifiers") or []
        ],
        "sponsorships": [
            {
                "name": s["name"],
                "entity_type": s.get("entity_type") or "person",
                "organization": None,
                "person": None,
                "primary": bool(s.get("primary")),
                "classification": s.get("classification") or "",
            }
            for s in bill.get("sponsorships") or []
        ],
        "actions": [
            {
                "organization": _org(state, _pseudo(a.get("organization_id"))),
                "description": a["description"],
                "date": a["date"],
                "classification": a.get("classification") or [],
                "order": i,
            }
            for i, a in enumerate(actions)
        ],
        "sources": [
            {"url": s["url"], "note": s.get("note") or ""} for s in bill.get("sources") or []
        ],
        "versions": [
            {
                "note": v.get("note") or "",
                "date": v.get("date") or "",
                "links": [
                    {"url": link["url"], "media_type": link.get("media_type") or ""}
                    for link in v.get("links") or []
                ],
            }
            for v in bill.get("versions") or []
        ],
        "documents": [],
    }


_INCLUDES = (
    "sponsorships",
    "abstracts",
    "other_titles",
    "other_identifiers",
    "actions",
    "sources",
    "documents",
    "versions",
    "votes",
)


def _matches(q: str, bill: dict[str, Any]) -> bool:
    if _BILL_ID_Q.match(q.strip()):
        return bill["identifier"].replace(" ", "").upper() == q.replace(" ", "").upper()
    text = " ".join([bill["title"], *bill["subject"], *(a["abstract"] for a in bill["abstracts"])])
    text = re.sub(r"[\s\-]+", " ", text.lower())
    terms = [re.sub(r"[\s\-]+", " ", t.strip().strip('"').lower()) for t in q.split(" OR ")]
    return any(t and t in text for t in terms)


class FakeOpenStates:
    """Handler for LocalSite: ``site.add("/bills", handler=fake.handle, any_query=True)``."""

    def __init__(
        self, bills: Iterable[dict[str, Any]], *, key: str = KEY, daily_limit: int | None = None
    ):
        self.bills = list(bills)
        self.key = key
        self.daily_limit = daily_limit
        self.calls = 0
        self.served = 0

    @classmethod
    def from_scrape(cls, pairs: Iterable[tuple[str, dict[str, Any]]], **kw: Any) -> FakeOpenStates:
        return cls((v3_from_scrape(s, b) for s, b in pairs), **kw)

    def touch(self, identifier: str, *, day: str, description: str) -> None:
        """A new action upstream: the bill gets it and a new updated_at."""
        for bill in self.bills:
            if bill["identifier"].replace(" ", "") == identifier.replace(" ", ""):
                bill["actions"].append(
                    {
                        "organization": bill["from_organization"],
                        "description": description,
                        "date": day,
                        "classification": [],
                        "order": len(bill["actions"]),
                    }
                )
                bill["updated_at"] = f"{day}T12:00:00+00:00"
                bill["latest_action_date"] = day

    def handle(self, request: Request) -> Reply:
        self.calls += 1
        params = parse_qs(request.query, keep_blank_values=True)
        one = {k: v[-1] for k, v in params.items()}
        key = request.header("X-API-KEY") or one.get("apikey")
        if not key:
            return _json(403, {"detail": "Must provide API Key as ?apikey or X-API-KEY."})
        if key != self.key:
            return _json(401, {"detail": "Invalid API Key."})
        if self.daily_limit is not None and self.calls > self.daily_limit:
            return _json(429, {"detail": f"exceeded limit of {self.daily_limit}/day: {self.calls}"})
        if not one.get("jurisdiction") and not one.get("q"):
            return _json(400, {"detail": "either 'jurisdiction' or 'q' required"})
        per_page, page = int(one.get("per_page", 10)), int(one.get("page", 1))
        if not 1 <= per_page <= 20:
            return _json(400, {"detail": "invalid per_page, must be in [1, 20]"})
        found = [b for b in self.bills if self._keep(b, one)]
        found.sort(key=lambda b: b["updated_at"])
        max_page = math.ceil(len(found) / per_page) or 1
        if not 1 <= page <= max_page:
            return _json(404, {"detail": f"invalid page, must be in [1, {max_page}]"})
        chunk = found[(page - 1) * per_page : page * per_page]
        self.served += len(chunk)
        includes = set(params.get("include", []))
        results = [
            {k: v for k, v in b.items() if k not in _INCLUDES or k in includes} for b in chunk
        ]
        return _json(
            200,
            {
                "results": results,
                "pagination": {
                    "per_page": per_page,
                    "page": page,
                    "max_page": max_page,
                    "total_items": len(found),
                },
            },
        )

    @staticmethod
    def _keep(bill: dict[str, Any], one: dict[str, str]) -> bool:
        jur = one.get("jurisdiction")
        if jur and jur not in (bill["jurisdiction"]["id"], bill["jurisdiction"]["name"]):
            return False
        if one.get("session") and bill["session"] != one["session"]:
            return False
        if one.get("updated_since") and bill["updated_at"] < one["updated_since"]:
            return False
        return not one.get("q") or _matches(one["q"], bill)


# --- LegiScan -------------------------------------------------------------------------------------

_BODY = {"lower": "H", "upper": "S", "legislature": "H"}


def getbill_from_scrape(state: str, bill: dict[str, Any]) -> dict[str, Any]:
    """A real scrape bill in LegiScan's getBill ``bill`` shape (fields the manual documents)."""
    session = bill["legislative_session"]
    # The Windy Civi sets are 2025 sessions; an ordinal session (MA "194th") is a General Court.
    years = [int(y) for y in re.findall(r"(?:19|20)\d\d", session)] or [2025, 2026]
    title = f"{session} General Court" if re.fullmatch(r"\d+(st|nd|rd|th)", session) else session
    ident = bill["identifier"].replace(" ", "")
    record = {
        "bill_id": _stable_int(f"{state}|{session}|{ident}"),
        "session_id": _stable_int(f"{state}|{session}", 90_000),
        "session": {
            "session_id": _stable_int(f"{state}|{session}", 90_000),
            "session_name": f"{title} Regular Session",
            "session_title": title,
            "year_start": years[0],
            "year_end": years[-1],
            "special": 0,
        },
        "url": f"https://legiscan.com/{state.upper()}/bill/{ident}/{years[0]}",
        "state_link": (bill.get("sources") or [{"url": ""}])[0]["url"],
        "completed": 0,
        "status": 1,
        "status_date": None,
        "progress": [],
        "state": state.upper(),
        "bill_number": ident,
        "body": _BODY.get(_pseudo(bill.get("from_organization")) or "", ""),
        "title": bill.get("title") or "",
        "description": (bill.get("abstracts") or [{"abstract": bill.get("title") or ""}])[0][
            "abstract"
        ],
        "committee": [],
        "history": [
            {
                "date": a["date"][:10],
                "action": a["description"],
                "chamber": _BODY.get(_pseudo(a.get("organization_id")) or "", ""),
                "importance": 1,
            }
            for a in bill.get("actions") or []
        ],
        "sponsors": [
            {
                "people_id": _stable_int(s["name"], 50_000),
                "name": s["name"],
                "sponsor_type_id": 1 if s.get("primary") else 2,
                "sponsor_order": i + 1,
                "committee_sponsor": 0,
                "committee_id": "0",
            }
            for i, s in enumerate(bill.get("sponsorships") or [])
        ],
        "subjects": [
            {"subject_id": _stable_int(x, 9000), "subject_name": x}
            for x in bill.get("subject") or []
        ],
        "texts": [],
        "votes": [],
        "amendments": [],
        "supplements": [],
        "calendar": [],
        "sasts": [],
    }
    record["change_hash"] = _hash(record)
    return record


def _hash(record: dict[str, Any]) -> str:
    body = {k: v for k, v in record.items() if k != "change_hash"}
    return hashlib.md5(json.dumps(body, sort_keys=True).encode(), usedforsecurity=False).hexdigest()


def real_getbill_records(folder: Path) -> list[dict[str, Any]]:
    return [json.loads(p.read_text())["bill"] for p in sorted(folder.glob("*.json"))]


class FakeLegiscan:
    """Handler for LocalSite: ``site.add("/", handler=fake.handle, any_query=True)``."""

    PER_PAGE = 50

    def __init__(
        self, records: Iterable[dict[str, Any]], *, key: str = KEY, monthly_limit: int | None = None
    ):
        self.records = {int(r["bill_id"]): copy.deepcopy(r) for r in records}
        self.key = key
        self.monthly_limit = monthly_limit
        self.calls = 0
        self.ops: dict[str, int] = {}

    def touch(self, bill_id: int, *, day: str, action: str) -> None:
        record = self.records[bill_id]
        record["history"].append(
            {"date": day, "action": action, "chamber": record.get("body", ""), "importance": 1}
        )
        record["change_hash"] = _hash(record)

    def handle(self, request: Request) -> Reply:
        self.calls += 1
        one = {k: v[-1] for k, v in parse_qs(request.query, keep_blank_values=True).items()}
        op = one.get("op", "")
        self.ops[op] = self.ops.get(op, 0) + 1
        if one.get("key") != self.key:
            return self._error("Invalid API key")
        if self.monthly_limit is not None and self.calls > self.monthly_limit:
            return self._error("Query limit exceeded for this month")
        method = getattr(self, f"_op_{op}", None)
        if method is None:
            return self._error(f"Unknown operation: {op}")
        return method(one)

    @staticmethod
    def _error(message: str) -> Reply:
        return _json(200, {"status": "ERROR", "alert": {"message": message}})

    def _state_records(self, state: str) -> list[dict[str, Any]]:
        return [r for r in self.records.values() if r["state"] == state.upper()]

    def _op_getMasterListRaw(self, one: dict[str, str]) -> Reply:  # noqa: N802 - the op's name
        records = self._state_records(one.get("state", ""))
        latest = max((r["session"] for r in records), key=lambda s: s["year_start"], default={})
        current = [r for r in records if r["session"].get("session_id") == latest.get("session_id")]
        masterlist: dict[str, Any] = {"session": latest}
        for i, r in enumerate(sorted(current, key=lambda r: r["bill_id"])):
            masterlist[str(i)] = {
                "bill_id": r["bill_id"],
                "number": r["bill_number"],
                "change_hash": r["change_hash"],
            }
        return _json(200, {"status": "OK", "masterlist": masterlist})

    def _op_getBill(self, one: dict[str, str]) -> Reply:  # noqa: N802
        record = self.records.get(int(one.get("id", "0") or 0))
        if record is None:
            return self._error("Unknown bill id")
        return _json(200, {"status": "OK", "bill": record})

    def _op_getSessionList(self, one: dict[str, str]) -> Reply:  # noqa: N802
        sessions = {
            r["session"]["session_id"]: r["session"]
            for r in self._state_records(one.get("state", ""))
        }
        return _json(200, {"status": "OK", "sessions": list(sessions.values())})

    def _op_getSearch(self, one: dict[str, str]) -> Reply:  # noqa: N802
        query, page = one.get("query", ""), int(one.get("page", 1) or 1)
        state = one.get("state", "ALL").upper()
        hits = [
            r
            for r in self.records.values()
            if (state == "ALL" or r["state"] == state) and _matches(query, _searchable(r))
        ]
        hits.sort(key=lambda r: r["bill_id"])
        total = max(1, math.ceil(len(hits) / self.PER_PAGE))
        chunk = hits[(page - 1) * self.PER_PAGE : page * self.PER_PAGE]
        result: dict[str, Any] = {
            "summary": {
                "page": f"{page} of {total}",
                "range": "",
                "relevancy": "",
                "count": len(hits),
                "page_current": page,
                "page_total": total,
                "query": query,
            }
        }
        for i, r in enumerate(chunk):
            result[str(i)] = {
                "relevance": 100,
                "state": r["state"],
                "bill_number": r["bill_number"],
                "bill_id": r["bill_id"],
                "change_hash": r["change_hash"],
                "url": r["url"],
                "text_url": "",
                "research_url": "",
                "last_action_date": (r["history"] or [{"date": ""}])[-1]["date"],
                "last_action": (r["history"] or [{"action": ""}])[-1]["action"],
                "title": r["title"],
            }
        return _json(200, {"status": "OK", "searchresult": result})


def _searchable(record: dict[str, Any]) -> dict[str, Any]:
    return {
        "identifier": record["bill_number"],
        "title": record["title"],
        "subject": [s["subject_name"] for s in record.get("subjects") or []],
        "abstracts": [{"abstract": record.get("description") or ""}],
    }


_BODY_OF = {"lower": "H", "upper": "S", "legislature": "H", "joint": "J"}


def getbill_from_dataset(bill: Any, *, years: tuple[int, int]) -> dict[str, Any]:
    """A bill read from a real LegiScan bulk CSV dataset (a ScrapedBill from the importer), back
    in the getBill shape the dataset was exported from (ids and session from ``extras``)."""
    ls = bill.extras["legiscan"]
    record = {
        "bill_id": int(ls["bill_id"]),
        "session_id": int(ls["session_id"]),
        "session": {
            "session_id": int(ls["session_id"]),
            "session_name": ls["session_title"],
            "session_title": ls["session_title"],
            "year_start": years[0],
            "year_end": years[1],
            "special": 1 if "special" in ls["session_title"].lower() else 0,
        },
        "url": ls.get("url") or "",
        "state_link": (bill.sources[0].url if bill.sources else ""),
        "completed": 0,
        "status": ls.get("status") or 1,
        "status_date": ls.get("status_date"),
        "progress": [],
        "state": bill.state.upper(),
        "bill_number": bill.identifier,
        "body": _BODY_OF.get(bill.chamber or "", ""),
        "title": bill.title,
        "description": bill.abstracts[0].abstract if bill.abstracts else bill.title,
        "committee": {"name": ls["pending_committee"]} if ls.get("pending_committee") else [],
        "history": [
            {
                "date": a.date[:10],
                "action": a.description,
                "chamber": _BODY_OF.get(a.chamber or "", ""),
                "importance": 1,
            }
            for a in bill.actions
        ],
        "sponsors": [
            {
                "people_id": _stable_int(s.name, 50_000),
                "name": s.name,
                "sponsor_type_id": 1 if s.primary else 2,
                "sponsor_order": i + 1,
                "committee_sponsor": 0,
                "committee_id": "0",
            }
            for i, s in enumerate(bill.sponsorships)
        ],
        "subjects": [{"subject_id": _stable_int(x, 9000), "subject_name": x} for x in bill.subject],
        "texts": [],
        "votes": [],
        "amendments": [],
        "supplements": [],
        "calendar": [],
        "sasts": [],
    }
    record["change_hash"] = _hash(record)
    return record
