"""The curator review queue: bills the topic rules decided `possible`, and the review that settles
one of them.

Recall comes first, so the rules send doubtful bills to a person instead of dropping them. A
review is a curator pin (the same pin as a hand-written one) saved with the curator's reason in
``curator_pins.yaml`` in ``TRACKER_DATA_DIR`` (not in ``config/``: in an installed wheel that is
inside site-packages, read-only and replaced by an upgrade), so every later ingest, ``tracker
topics classify``/``explain`` and the queue see the same decision and a re-ingest cannot undo it;
the bill row is updated at once and change rows (source ``curator``, the reason in the pin and
the bill's evidence) tell the digests and feeds. :func:`refresh_name_lineage` adds to the queue the stored bills that name a
programme a `yes` bill of their state created. The web review page and ``tracker topics review``
both call these functions.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import yaml
from sqlmodel import Session, col, select

from tracker.identifiers import normalize_identifier
from tracker.models import Bill, Change, utcnow
from tracker.topics import (
    NameLineage,
    Pin,
    TopicConfigError,
    TopicResult,
    _pin_key,
    _pinned,
    clear_cache,
    curator_pins_path,
    get_classifier,
    load_pins,
)
from tracker.vocab import RELEVANT_TOPICS, TOPICS

REVIEW_SOURCE = "curator"
PINS_HEADER = (
    "# Curator reviews of this site (tracker topics review, /curate/): one pin per bill, with\n"
    "# the reason. They win over the rules and over config/overrides.yaml.\n"
)


class ReviewError(ValueError):
    """The bill to review does not exist or the review is incomplete; the message says which."""


@dataclass
class ReviewOutcome:
    bill: Bill
    pin: Pin
    changes: list[Change]


def review_queue(session: Session, *, state: str | None = None, limit: int = 500) -> list[Bill]:
    """Bills decided `possible` and not yet pinned, strongest evidence first."""
    query = select(Bill).where(Bill.topic_decision == "possible", col(Bill.topic_pinned).is_(False))
    if state:
        query = query.where(Bill.state == state.lower())
    query = query.order_by(
        col(Bill.topic_score).desc(), col(Bill.state), col(Bill.session), col(Bill.identifier)
    )
    return list(session.exec(query.limit(limit)))


def find_bill(session: Session, *, state: str, bill_session: str, identifier: str) -> Bill:
    query = select(Bill).where(
        Bill.state == state.lower(),
        Bill.session == bill_session,
        Bill.identifier_norm == normalize_identifier(identifier),
    )
    bill = session.exec(query).first()
    if bill is None:
        raise ReviewError(f"no bill {state.upper()} {bill_session} {identifier} in the database")
    return bill


def apply_review(
    session: Session,
    *,
    state: str,
    bill_session: str,
    identifier: str,
    accept: bool,
    reason: str,
    reviewer: str | None = None,
    topic: str | None = None,
    overrides: Path | None = None,
    today: date | None = None,
) -> ReviewOutcome:
    """Accept (the bill is single-payer) or reject (it is not) one bill: write the pin, update
    the bill and record the change. The caller commits."""
    if not reason.strip():
        raise ReviewError("a review needs a reason (it is shown on the bill's page)")
    bill = find_bill(session, state=state, bill_session=bill_session, identifier=identifier)
    chosen = topic or _default_topic(bill, accept=accept)
    if chosen not in TOPICS:
        raise ReviewError(f"unknown topic {chosen!r}; use one of {', '.join(TOPICS)}")
    if (chosen in RELEVANT_TOPICS) != accept:
        verb = "accept" if accept else "reject"
        raise ReviewError(f"cannot {verb} a bill as {chosen!r}")
    pin = Pin(
        state=bill.state,
        session=bill.session,
        identifier=bill.identifier,
        topic=chosen,
        reason=reason.strip(),
        reviewer=reviewer,
        reviewed=(today or date.today()).isoformat(),
    )
    save_pin(pin, overrides or curator_pins_path())
    return ReviewOutcome(bill, pin, _apply_pin(session, bill, pin))


def _default_topic(bill: Bill, *, accept: bool) -> str:
    current = bill.topic or "none"
    if accept:
        return current if current in RELEVANT_TOPICS else "single-payer"
    return "none" if current in RELEVANT_TOPICS else current


def _apply_pin(session: Session, bill: Bill, pin: Pin) -> list[Change]:
    assert bill.id is not None  # a stored bill
    result = _pinned(pin)
    now = utcnow()
    changes = []
    for name, new in (("topic", result.topic), ("topic_decision", result.decision)):
        old = getattr(bill, name)
        if old != new:
            kind = "became_relevant" if name == "topic" and result.relevant else "topic_changed"
            changes.append(
                Change(
                    bill_id=bill.id,
                    source=REVIEW_SOURCE,
                    kind=kind,
                    field=name,
                    old=old,
                    new=new,
                    seen_at=now,
                )
            )
    bill.topic, bill.relevant, bill.topic_decision = result.topic, result.relevant, result.decision
    bill.topic_evidence, bill.topic_pinned, bill.topic_score = result.evidence, True, result.score
    if changes:
        bill.last_changed = now
        session.add_all(changes)
    session.add(bill)
    session.flush()
    return changes


def save_pin(pin: Pin, path: Path) -> None:
    """Add the pin to the pins file, replacing an earlier pin of the same bill; the file's
    opening comment is kept (a new file gets one) and the write is atomic."""
    pins = [p for p in load_pins(path) if _key(p) != _key(pin)] + [pin]
    header = _leading_comment(path) or PINS_HEADER
    body = yaml.safe_dump(
        {"pins": [_as_dict(p) for p in pins]}, sort_keys=False, allow_unicode=True, width=100
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".pins-", suffix=".yaml")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(header + body)
        os.replace(tmp, path)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise TopicConfigError(f"{path}: cannot write the curator pin: {exc}") from exc
    clear_cache()


def _key(pin: Pin) -> tuple[str, str, str]:
    return _pin_key(pin.state, pin.session, pin.identifier)


def _as_dict(pin: Pin) -> dict[str, Any]:
    return {k: v for k, v in pin.model_dump().items() if v is not None}


def _leading_comment(path: Path) -> str:
    if not path.is_file():
        return ""
    lines = []
    for line in path.read_text(encoding="utf-8").splitlines(keepends=True):
        if not line.startswith("#"):
            break
        lines.append(line)
    return "".join(lines)


def refresh_name_lineage(session: Session, *, state: str | None = None) -> list[Bill]:
    """Mark `possible` the bills that name a programme a `yes` bill of their state created (see
    :class:`tracker.topics.NameLineage`); returns them. Ingest judges one bill at a time and
    cannot do this, so the review queue runs it first; a later re-ingest of such a bill resets
    it to the rules' own decision until the next run. The caller commits."""
    lineage = NameLineage(get_classifier())
    learned = select(Bill.state, Bill.identifier, Bill.title).where(
        Bill.topic == "single-payer", Bill.topic_decision == "yes"
    )
    if state:
        learned = learned.where(Bill.state == state.lower())
    for bill_state, identifier, title in session.exec(learned):
        decided = TopicResult("single-payer", True, 0.0, [], "yes")
        lineage.learn(state=bill_state, identifier=identifier, title=title, result=decided)
    marked = []
    now = utcnow()
    for bill_state, names in lineage.names.items():
        for name in names:
            pattern = "%" + name.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
            candidates = select(Bill).where(
                Bill.state == bill_state,
                Bill.topic == "none",
                Bill.topic_decision == "no",
                col(Bill.topic_pinned).is_(False),
                col(Bill.title).ilike(pattern, escape="\\"),
            )
            for bill in session.exec(candidates):
                before = TopicResult(
                    "none", False, bill.topic_score or 0.0, list(bill.topic_evidence)
                )
                after = lineage.apply(state=bill_state, title=bill.title, result=before)
                if after.decision != "possible":
                    continue
                assert bill.id is not None  # read from the database
                session.add(
                    Change(
                        bill_id=bill.id,
                        source="lineage",
                        kind="topic_changed",
                        field="topic_decision",
                        old="no",
                        new="possible",
                        seen_at=now,
                    )
                )
                bill.topic_decision, bill.topic_evidence = "possible", after.evidence
                session.add(bill)
                marked.append(bill)
    session.flush()
    return marked
