"""Synthetic bills, changes and hearings for digest tests (period 2025-W10: Mar 3-9, 2025).

Written straight into the tables, so the digest tests do not depend on scrapers or on the topic
rules. Titles and names carry markup and quotes on purpose: scraped text is untrusted.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, insert

from tracker.models import Bill, Change, Hearing
from tracker.subscription_models import Subscriber

PERIOD = "2025-W10"
IN_WEEK = datetime(2025, 3, 6, 12, tzinfo=UTC)
AFTER_WEEK = datetime(2025, 3, 12, 12, tzinfo=UTC)
EVIL_TITLE = 'New York Health Act <script>alert("x")</script> & "universal" coverage'
EVIL_SPONSOR = 'Bob "Bobby" O\'Neil <img src=x onerror=alert(1)>'

BILLS: list[dict[str, Any]] = [
    {
        "state": "ny",
        "session": "2025-2026",
        "identifier": "S 1234",
        "title": EVIL_TITLE,
        "topic": "single-payer",
        "stage": "passed_committee",
        "sources": [{"url": "https://www.nysenate.gov/legislation/bills/2025/S1234"}],
    },
    {
        "state": "ca",
        "session": "20252026",
        "identifier": "AB 1",
        "title": "California Guaranteed Health Care for All",
        "topic": "single-payer",
        "stage": "in_committee",
        "sources": [
            {
                "url": "https://leginfo.legislature.ca.gov/faces/billNavClient.xhtml?bill_id=202520260AB1"
            }
        ],
    },
    {
        "state": "mn",
        "session": "2025-2026",
        "identifier": "SF 2",
        "title": "Minnesota Health Plan study",
        "topic": "single-payer-study",
        "stage": "dead",
        "sources": [],
    },
    {
        "state": "vt",
        "session": "2025-2026",
        "identifier": "H 3",
        "title": "Public option for Vermont",
        "topic": "public-option",
        "stage": "enacted",
        "sources": [],
    },
    {
        "state": "wa",
        "session": "2025-2026",
        "identifier": "HB 9",
        "title": "Fishing licences",
        "topic": "none",
        "stage": "in_committee",
        "sources": [],
    },
    {
        "state": "ny",
        "session": "2025-2026",
        "identifier": "A 5",
        "title": "Old single-payer bill",
        "topic": "single-payer",
        "stage": "in_committee",
        "sources": [],
    },
    {
        "state": "ma",
        "session": "194th",
        "identifier": "H 7",
        "title": "Medicare for all Massachusetts",
        "topic": "single-payer",
        "stage": "in_committee",
        "sources": [],
    },
]


def _bill_rows() -> list[dict[str, Any]]:
    rows = []
    for b in BILLS:
        rows.append(
            {
                **b,
                "identifier_norm": b["identifier"].replace(" ", ""),
                "classification": ["bill"],
                "subjects": [],
                "abstracts": [],
                "other_titles": [],
                "other_identifiers": [],
                "related_bills": [],
                "extras": {},
                "primary_source": "synthetic",
                "stage_reason": {},
                "topic_evidence": [],
                "topic_pinned": False,
                "relevant": b["topic"] in ("single-payer", "single-payer-study"),
                "latest_action_date": "2025-03-06",
            }
        )
    return rows


def _changes(ids: dict[str, int]) -> list[dict[str, Any]]:
    def ch(
        bill: str,
        kind: str,
        new: Any,
        eff: str | None,
        old: Any = None,
        seen: datetime = IN_WEEK,
        field: str | None = None,
    ) -> dict[str, Any]:
        return {
            "bill_id": ids[bill],
            "source": "synthetic",
            "kind": kind,
            "field": field,
            "old": old,
            "new": new,
            "effective_date": eff,
            "seen_at": seen,
        }

    return [
        ch(
            "ny S 1234",
            "action_new",
            {
                "description": "Reported favorably by Health Committee",
                "chamber": "upper",
                "classification": ["committee-passage-favorable"],
            },
            "2025-03-05",
        ),
        # later the same day, but not what moved the stage: the stage line must not quote it
        ch(
            "ny S 1234",
            "action_new",
            {"description": "Ordered to third reading cal. 312", "chamber": "upper"},
            "2025-03-05",
        ),
        ch(
            "ny S 1234",
            "stage_changed",
            "passed_committee",
            "2025-03-05",
            old="in_committee",
            field="stage",
        ),
        ch("ny S 1234", "sponsor_added", {"name": EVIL_SPONSOR}, None),
        ch("ny S 1234", "sponsor_added", {"name": "Carol Diaz"}, None),
        ch(
            "ny S 1234",
            "version_new",
            {
                "note": "Amended version A",
                "url": "https://www.nysenate.gov/S1234A.pdf",
                "date": "2025-03-05",
            },
            "2025-03-05",
        ),
        ch(
            "ca AB 1",
            "bill_new",
            {"title": "California Guaranteed Health Care for All", "stage": "in_committee"},
            "2025-03-04",
        ),
        ch(
            "ca AB 1",
            "action_new",
            {"description": "Referred to Com. on HEALTH.", "chamber": "lower"},
            "2025-03-04",
        ),
        ch("mn SF 2", "stage_changed", "dead", "2025-03-07", old="in_committee", field="stage"),
        ch(
            "vt H 3",
            "action_new",
            {"description": "Signed by Governor", "chamber": "executive"},
            "2025-03-06",
        ),
        ch(
            "vt H 3",
            "stage_changed",
            "enacted",
            "2025-03-06",
            old="sent_to_governor",
            field="stage",
        ),
        ch(
            "wa HB 9",
            "action_new",
            {"description": "First reading", "chamber": "lower"},
            "2025-03-04",
        ),
        # history from a backfill, a future-dated typo, and news seen after the week: all left out
        ch(
            "ny A 5",
            "action_new",
            {"description": "Referred to Health (2024)", "chamber": "lower"},
            "2024-01-10",
        ),
        ch("ny A 5", "action_new", {"description": "Typo date", "chamber": "lower"}, "2025-06-01"),
        ch(
            "ca AB 1",
            "action_new",
            {"description": "Hearing postponed", "chamber": "lower"},
            "2025-03-11",
            seen=AFTER_WEEK,
        ),
    ]


def _hearings(ids: dict[str, int]) -> list[dict[str, Any]]:
    def h(
        bill: str, date: str, committee: str, location: str, removed: bool = False
    ) -> dict[str, Any]:
        return {
            "bill_id": ids[bill],
            "source": "synthetic",
            "date": date,
            "committee": committee,
            "location": location,
            "description": "",
            "status": "scheduled",
            "removed_at": IN_WEEK if removed else None,
        }

    return [
        h("ny S 1234", "2025-03-12T10:00:00", "Senate Health", "Room 124 <b>LOB</b>"),
        h("ma H 7", "2025-03-15", "Joint Committee on Health Care Financing", "Room A-1"),
        h("ma H 7", "2025-04-30", "Too late", "Nowhere"),
        h("ca AB 1", "2025-03-13", "Cancelled hearing", "Room 1", removed=True),
    ]


def load_synthetic_week(engine: Engine) -> dict[str, int]:
    """Insert the synthetic bills, changes and hearings; returns {'st IDENT': bill id}."""
    with engine.begin() as conn:
        ids_list = (
            conn.execute(
                insert(Bill.__table__).returning(Bill.__table__.c.id, sort_by_parameter_order=True),
                _bill_rows(),
            )
            .scalars()
            .all()
        )
        ids = {f"{b['state']} {b['identifier']}": i for b, i in zip(BILLS, ids_list, strict=True)}
        conn.execute(insert(Change.__table__), _changes(ids))
        conn.execute(insert(Hearing.__table__), _hearings(ids))
    return ids


def add_synthetic_subscribers(engine: Engine, specs: list[dict[str, Any]]) -> list[int]:
    """Confirmed subscribers; each spec may set states, topics, query, detail, quiet_week, email."""
    rows = []
    for i, spec in enumerate(specs):
        rows.append(
            {
                "email": spec.get("email", f"reader{i}@example.org"),
                "status": spec.get("status", "confirmed"),
                "states": spec.get("states", []),
                "topics": spec.get("topics", ["single-payer", "single-payer-study"]),
                "query": spec.get("query"),
                "detail": spec.get("detail", "full"),
                "quiet_week": spec.get("quiet_week", "send"),
                "bounce_count": 0,
                "created_at": IN_WEEK,
                "confirmed_at": IN_WEEK,
            }
        )
    with engine.begin() as conn:
        return list(
            conn.execute(
                insert(Subscriber.__table__).returning(
                    Subscriber.__table__.c.id, sort_by_parameter_order=True
                ),
                rows,
            ).scalars()
        )
