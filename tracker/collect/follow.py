"""Which bills an API source follows closely: relevant by the topic rules, pinned, or already known.

Search results are classified like everything else (``config/topics.yaml``); only bills that
come out relevant, that a curator pinned (``config/overrides.yaml`` or this site's reviews), or
that the database already tracks are fetched in full and ingested. Everything else costs no further call.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path

from sqlalchemy import Engine, and_, select

from tracker.collect.options import Discovery, plain_phrases
from tracker.identifiers import normalize_identifier
from tracker.models import Bill, BillSource
from tracker.scraped import ScrapedBill
from tracker.settings import get_settings
from tracker.topics import Pin, all_pins, classify_topic, load_topics_config

bill_table, bill_source = Bill.__table__, BillSource.__table__
RELEVANT_TOPICS = ("single-payer", "single-payer-study")


def _config_dir() -> Path:
    return Path(get_settings().resolved_config_dir)


def pins(state: str | None = None) -> list[Pin]:
    """Curator pins (all, or one state's): the shipped ones and this site's reviews."""
    found = all_pins()
    return [p for p in found if state is None or p.state.lower() == state.lower()]


def is_relevant(
    *,
    title: str,
    description: str = "",
    subjects: Iterable[str] = (),
    state: str | None = None,
    identifier: str | None = None,
    session: str | None = None,
) -> bool:
    result = classify_topic(
        title=title,
        description=description,
        subjects=list(subjects),
        state=state,
        identifier=identifier,
        session=session,
    )
    return result.relevant


def bill_is_relevant(bill: ScrapedBill) -> bool:
    return is_relevant(
        title=bill.title,
        description=" ".join(a.abstract for a in bill.abstracts),
        subjects=bill.subject,
        state=bill.state,
        identifier=bill.identifier,
        session=bill.legislative_session,
    )


def known_keys(engine: Engine, bills: list[ScrapedBill]) -> set[tuple[str, str, str]]:
    """Natural keys of `bills` the database already tracks (any source)."""
    wanted: dict[tuple[str, str], set[str]] = {}
    for b in bills:
        wanted.setdefault((b.state, b.legislative_session), set()).add(
            normalize_identifier(b.identifier)
        )
    found: set[tuple[str, str, str]] = set()
    with engine.connect() as conn:
        for (state, session), norms in wanted.items():
            rows = conn.execute(
                select(bill_table.c.identifier_norm).where(
                    and_(
                        bill_table.c.state == state,
                        bill_table.c.session == session,
                        bill_table.c.identifier_norm.in_(norms),
                    )
                )
            ).scalars()
            found.update((state, session, n) for n in rows)
    return found


def sourced_keys(engine: Engine, source: str, state: str) -> set[tuple[str, str]]:
    """(session, normalised identifier) of a state's bills that `source` has reported."""
    q = (
        select(bill_table.c.session, bill_table.c.identifier_norm)
        .select_from(bill_table.join(bill_source, bill_source.c.bill_id == bill_table.c.id))
        .where(bill_table.c.state == state, bill_source.c.source == source)
    )
    with engine.connect() as conn:
        return {(s, n) for s, n in conn.execute(q)}


def select_followed(engine: Engine, bills: list[ScrapedBill]) -> tuple[list[ScrapedBill], int]:
    """(bills to ingest, how many were left out as irrelevant)."""
    known = known_keys(engine, bills)
    keep = [
        b
        for b in bills
        if (b.state, b.legislative_session, normalize_identifier(b.identifier)) in known
        or bill_is_relevant(b)
    ]
    return keep, len(bills) - len(keep)


@lru_cache(maxsize=8)
def _topic_phrases(config_dir: Path) -> tuple[tuple[str, float], ...]:
    path = config_dir / "topics.yaml"
    if not path.is_file():
        return ()
    config = load_topics_config(path)
    out: list[tuple[str, float]] = []
    for name in RELEVANT_TOPICS:
        spec = config.topics.get(name)
        if spec is not None:
            out.extend((p.pattern, p.weight) for p in spec.phrases)
    return tuple(out)


def search_terms(discovery: Discovery) -> list[str]:
    """The configured terms, then plain phrases of the single-payer topic rules, deduplicated."""
    terms: list[str] = []
    for term in discovery.search_terms:
        if term.lower() not in terms:
            terms.append(term.lower())
    if discovery.terms_from_topics:
        phrases = _topic_phrases(_config_dir())
        for term in plain_phrases(list(phrases), min_weight=discovery.min_topic_weight):
            if term not in terms:
                terms.append(term)
    return terms[: discovery.max_terms]


def search_queries(discovery: Discovery) -> list[str]:
    """One OR-query of every term, or one query per term (``combine_terms: false``)."""
    terms = search_terms(discovery)
    if not terms:
        return []
    quoted = [f'"{t}"' if re.search(r"\s", t) else t for t in terms]
    return [" OR ".join(quoted)] if discovery.combine_terms else quoted
