"""Lineage: the same bill in earlier sessions, and its companion in the other chamber.

A link is a ``BillLink`` row from the bill being examined to the other bill, with a score in
0..1 and the evidence for it. Relations:

- ``companion``: same session, other chamber; from the bill's own ``related_bills`` (score 1.0)
  or an identical normalised title in the other chamber (0.9).
- ``prior-session``: an earlier session of the same state; an identical normalised title (0.9),
  a shared distinctive name such as "New York Health Act" or "Minnesota Health Plan" (0.8), or a
  shared primary sponsor with a similar title (0.7), or a very similar title alone (0.6).

Candidates come from SQL on the ``bill`` table (same state, a few title words with LIKE), never
from a scan of every bill in Python; on SQLite the index ``ix_bill_state_title`` holds what
those questions read. The function adds rows and flushes; the caller commits.
Running it again updates the same rows instead of adding duplicates.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlmodel import Session, col, select

from tracker.identifiers import normalize_identifier
from tracker.models import Bill, BillLink, LegislativeSession, Sponsorship, utcnow

MAX_CANDIDATES = 400
MIN_TITLE_WORDS = 3  # fewer content words than this is not evidence of the same bill
_WORD = re.compile(r"[a-z0-9]+")
_STOP = frozenset(
    """a an and the of for to in on by with from at as or its their his her be is are this that
    act acts an relating relative concerning regarding establishing establishment established
    establishes provide provides providing requiring require requires modifying modification
    modifications making appropriation appropriations appropriating money declaring emergency
    prescribing effective date bill certain various related purposes thereof therewith connection
    state amending amend amends amended new creating create creates relates""".split()
)
# Named programmes are what reintroductions keep: "New York Health Act", "Minnesota Health Plan".
_NAME = re.compile(
    r"\b((?:[A-Z][\w'-]*\s+){1,5}(?:Act|Plan|Trust|Program|Programme|System|Care|Authority|Fund))\b"
)
_GENERIC_NAMES = frozenset({"health care", "medical care", "an act", "the act", "this act"})
_LEAD_INS = frozenset({"a", "an", "the", "this", "that", "act", "acts", "relating", "concerning"})


@dataclass(frozen=True)
class _Candidate:
    bill: Bill
    relation: str
    score: float
    evidence: list[dict[str, Any]]


def normalise_title(title: str) -> str:
    """Lower-case words without boilerplate, for comparing titles across sessions."""
    return " ".join(w for w in _WORD.findall((title or "").lower()) if w not in _STOP)


def title_words(title: str) -> set[str]:
    return set(normalise_title(title).split())


def distinctive_names(title: str) -> set[str]:
    """Capitalised programme names in a title, lower-cased ("minnesota health plan")."""
    names: set[str] = set()
    for match in _NAME.finditer(title or ""):
        words = match.group(1).split()
        while words and words[0].lower() in _LEAD_INS:  # "An Act ..." / "The ..." lead-ins
            words = words[1:]
        name = " ".join(words).lower()
        if len(words) >= 2 and name not in _GENERIC_NAMES:
            names.add(name)
    return names


def describing_text(bill: Bill) -> str:
    """The title, plus the first abstract when the title alone says little ("Relating to health
    care; declaring an emergency." is the title of hundreds of Oregon bills)."""
    title = bill.title or ""
    if len(normalise_title(title).split()) >= MIN_TITLE_WORDS:
        return title
    abstracts = [a.get("abstract", "") for a in bill.abstracts or [] if isinstance(a, dict)]
    return " ".join([title, *abstracts[:1]]).strip()


def similarity(a: str, b: str) -> float:
    """Jaccard similarity of two titles' content words."""
    wa, wb = title_words(a), title_words(b)
    if not wa or not wb:
        return 0.0
    return len(wa & wb) / len(wa | wb)


def _session_key(db: Session, state: str, session_id: str) -> tuple[str, str]:
    """Sort key of a session: its start date when known, else the first number in its name."""
    row = db.exec(
        select(LegislativeSession).where(
            LegislativeSession.state == state, LegislativeSession.identifier == session_id
        )
    ).first()
    if row is not None and row.start_date:
        return (row.start_date[:10], session_id)
    number = re.search(r"\d+", session_id)
    return ((number.group(0).zfill(8) if number else ""), session_id)


def _search_words(bill: Bill) -> list[str]:
    """The two longest content words of the title: cheap, selective LIKE filters."""
    words = sorted(title_words(bill.title), key=lambda w: (-len(w), w))
    return [w for w in words if len(w) >= 4][:2]


def _query_candidates(
    db: Session, bill: Bill, words: Iterable[str], *, same_session: bool
) -> list[Bill]:
    # Ids first: on SQLite ``ix_bill_state_title`` (state, session, title) answers the title
    # words from the index alone, where the whole rows of every bill of the state were read.
    query = select(Bill.id).where(Bill.state == bill.state, Bill.id != bill.id)
    if same_session:
        query = query.where(Bill.session == bill.session)
    else:
        query = query.where(Bill.session != bill.session)
    # SQLite's LIKE already ignores the case of ASCII letters, all its lower() changes.
    sqlite = db.get_bind().dialect.name == "sqlite"
    for word in words:
        title = col(Bill.title)
        query = query.where(
            title.contains(word, autoescape=True)
            if sqlite
            else title.icontains(word, autoescape=True)
        )
    ids = list(db.exec(query.limit(MAX_CANDIDATES)))
    if not ids:
        return []
    return list(db.exec(select(Bill).where(col(Bill.id).in_(ids)).order_by(col(Bill.id))).all())


def _primary_sponsors(db: Session, bill_ids: list[int]) -> dict[int, set[str]]:
    if not bill_ids:
        return {}
    rows = db.exec(
        select(Sponsorship.bill_id, Sponsorship.name).where(
            col(Sponsorship.bill_id).in_(bill_ids),
            Sponsorship.primary == True,  # noqa: E712 (SQL expression)
            col(Sponsorship.removed_at).is_(None),
        )
    ).all()
    out: dict[int, set[str]] = {}
    for bill_id, name in rows:
        out.setdefault(bill_id, set()).add(_person(name))
    return out


def _person(name: str) -> str:
    """A sponsor's surname, lower-cased: sources spell first names and titles differently."""
    words = _WORD.findall(name.lower())
    return words[-1] if words else ""


def _chamber_of(bill: Bill) -> str:
    if bill.chamber:
        return bill.chamber
    first = normalize_identifier(bill.identifier)[:1]
    return {"S": "upper", "H": "lower", "A": "lower"}.get(first, "")


def _companions(db: Session, bill: Bill) -> list[_Candidate]:
    found: dict[int, _Candidate] = {}
    for related in bill.related_bills or []:
        relation = related.get("relation_type") or related.get("relation") or "companion"
        if relation != "companion" or not related.get("identifier"):
            continue
        session_id = related.get("legislative_session") or bill.session
        other = db.exec(
            select(Bill).where(
                Bill.state == bill.state,
                Bill.session == session_id,
                Bill.identifier_norm == normalize_identifier(related["identifier"]),
            )
        ).first()
        if other is not None and other.id != bill.id:
            evidence = [
                {"kind": "related_bills", "detail": f"source lists {other.identifier} as companion"}
            ]
            found[other.id] = _Candidate(other, "companion", 1.0, evidence)  # type: ignore[index]
    norm = normalise_title(describing_text(bill))
    words = _search_words(bill)
    if words and len(norm.split()) >= MIN_TITLE_WORDS:
        for other in _query_candidates(db, bill, words, same_session=True):
            if other.id in found or _chamber_of(other) == _chamber_of(bill):
                continue
            if normalise_title(describing_text(other)) == norm:
                evidence = [
                    {
                        "kind": "same_title",
                        "detail": f"same title in the other chamber: {other.title}",
                    }
                ]
                found[other.id] = _Candidate(other, "companion", 0.9, evidence)  # type: ignore[index]
    return list(found.values())


def _prior(db: Session, bill: Bill) -> list[_Candidate]:
    names = distinctive_names(bill.title)
    candidates: dict[int, Bill] = {}
    for name in names:
        for other in _query_candidates(db, bill, [name], same_session=False):
            candidates[other.id] = other  # type: ignore[index]
    words = _search_words(bill)
    if words:
        for other in _query_candidates(db, bill, words, same_session=False):
            candidates[other.id] = other  # type: ignore[index]
    if not candidates:
        return []
    own_key = _session_key(db, bill.state, bill.session)
    keys: dict[str, tuple[str, str]] = {}
    sponsors = _primary_sponsors(db, [bill.id, *candidates])  # type: ignore[list-item]
    mine = sponsors.get(bill.id, set())  # type: ignore[arg-type]
    out: list[_Candidate] = []
    for other in candidates.values():
        if other.session not in keys:
            keys[other.session] = _session_key(db, bill.state, other.session)
        if keys[other.session] >= own_key:
            continue
        scored = _score_prior(bill, other, names, mine & sponsors.get(other.id, set()))  # type: ignore[arg-type]
        if scored is not None:
            out.append(scored)
    return out


def _score_prior(
    bill: Bill, other: Bill, names: set[str], shared_sponsors: set[str]
) -> _Candidate | None:
    if bill.topic and other.topic and bill.topic != other.topic:
        return None  # "Minnesota Health Plan Market Rules" is not the Minnesota Health Plan
    mine, theirs = describing_text(bill), describing_text(other)
    norm = normalise_title(mine)
    sim = similarity(mine, theirs)
    evidence: list[dict[str, Any]] = []
    score = 0.0
    if len(norm.split()) >= MIN_TITLE_WORDS and normalise_title(theirs) == norm:
        score = 0.9
        evidence.append(
            {"kind": "same_title", "detail": f"same title as {other.identifier} ({other.session})"}
        )
    shared = names & distinctive_names(other.title)
    if shared:
        score = max(score, 0.8)
        evidence.append({"kind": "shared_name", "detail": ", ".join(sorted(shared))})
    if shared_sponsors and sim >= 0.4:
        score = max(score, 0.7)
        evidence.append({"kind": "shared_sponsor", "detail": ", ".join(sorted(shared_sponsors))})
    if sim >= 0.75:
        score = max(score, 0.6)
    if score == 0.0:
        return None
    evidence.append({"kind": "title_similarity", "detail": f"{sim:.2f}"})
    return _Candidate(other, "prior-session", score, evidence)


def _store(db: Session, bill: Bill, cand: _Candidate) -> BillLink:
    existing = db.exec(
        select(BillLink).where(
            BillLink.bill_id == bill.id,
            BillLink.other_bill_id == cand.bill.id,
            BillLink.relation == cand.relation,
        )
    ).first()
    if existing is None:
        existing = BillLink(
            bill_id=bill.id,  # type: ignore[arg-type]
            other_bill_id=cand.bill.id,  # type: ignore[arg-type]
            relation=cand.relation,
            created_at=utcnow(),
        )
    existing.score = cand.score
    existing.evidence = cand.evidence
    db.add(existing)
    return existing


def link_bill(session: Session, bill: Bill) -> list[BillLink]:
    """Find and store the bill's companions and earlier versions; returns the links (new or updated)."""
    if bill.id is None:
        raise ValueError(
            f"bill {bill.state} {bill.session} {bill.identifier} has no id; flush it first"
        )
    links = [_store(session, bill, c) for c in _companions(session, bill) + _prior(session, bill)]
    session.flush()
    return links
