"""Sending the weekly digests: one SMTP connection, a per-message ledger, bounce counting.

Building a week's digests is :mod:`tracker.digest`, rendering them :mod:`tracker.digest_render`;
this module delivers them.
The ledger (``digest_ledger``) is written per message: a row is claimed before the SMTP
transaction and finished after it, so a crash and a rerun send every remaining subscriber once
and nobody twice. Rendering (this thread) overlaps the wait for the server (a sender thread).
"""

from __future__ import annotations

import queue
import threading
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Engine, and_, insert, select, update
from sqlalchemy.exc import IntegrityError

from tracker import mail, subscriptions
from tracker.digest import load_week
from tracker.digest_render import DigestRenderer, EncodedDigest, prefs_of
from tracker.settings import Settings, get_settings
from tracker.subscription_models import DigestLedger, Subscriber

ledger_table, subscriber_table = DigestLedger.__table__, Subscriber.__table__


@dataclass
class SendReport:
    """Counts of one run. `already`: subscribers with a ledger row for the period before this
    run looked at them (sent, skipped, bounced or uncertain); `uncertain`: rows this run found
    left `sending` by a crashed run (never resent)."""

    period: str
    sent: int = 0
    skipped: int = 0
    failed: int = 0
    bounced: int = 0
    already: int = 0
    uncertain: int = 0
    would_send: int = 0
    seconds: float = 0.0

    def line(self) -> str:
        return (
            f"{self.period}: sent {self.sent}, skipped (quiet) {self.skipped}, "
            f"failed {self.failed}, bounced {self.bounced}, already done {self.already}, "
            f"uncertain {self.uncertain}, would send {self.would_send} "
            f"in {self.seconds:.1f}s"
        )


def _confirmed_batches(conn: Connection, size: int = 1000) -> Iterator[list[Any]]:
    last = 0
    cols = (
        subscriber_table.c.id,
        subscriber_table.c.email,
        subscriber_table.c.states,
        subscriber_table.c.topics,
        subscriber_table.c.query,
        subscriber_table.c.detail,
        subscriber_table.c.quiet_week,
        subscriber_table.c.bounce_count,
    )
    while True:
        rows = list(
            conn.execute(
                select(*cols)
                .where(subscriber_table.c.status == "confirmed", subscriber_table.c.id > last)
                .order_by(subscriber_table.c.id)
                .limit(size)
            )
        )
        if not rows:
            return
        yield rows
        last = rows[-1].id


def send_digests(
    engine: Engine,
    *,
    period: str,
    transport: Any | None,
    settings: Settings | None = None,
    dry_run: bool = False,
    bounce_threshold: int | None = None,
    renderer: DigestRenderer | None = None,
) -> SendReport:
    """Send `period`'s digest to every confirmed subscriber who has not had it yet.

    `transport` is a :class:`tracker.mail.SmtpTransport` (opened by the caller); with
    ``dry_run`` nothing is sent or written and the report counts what would go out.

    This thread renders; one sender thread claims each ledger row, sends over the one SMTP
    connection and records the outcome, so rendering overlaps the wait for the server while
    the claim -> send -> finish order (the exactly-once guarantee) stays one message at a time.
    """
    settings = settings or get_settings()
    if bounce_threshold is None:
        bounce_threshold = settings.digest_bounce_threshold
    report = SendReport(period)
    started = time.perf_counter()
    sender = (
        None if dry_run else _Sender(engine, transport, period=period, threshold=bounce_threshold)
    )
    with engine.connect() as conn:
        renderer = renderer or DigestRenderer(load_week(conn, period=period, settings=settings))
        conn.rollback()
        if sender is not None:
            report.uncertain += _mark_uncertain(conn, period)
            sender.start()
        try:
            for batch in _confirmed_batches(conn):
                done = _done_ids(conn, period, [r.id for r in batch])
                conn.rollback()
                for row in batch:
                    if row.id in done:
                        report.already += 1
                        continue
                    item = _prepare(row, renderer, settings)
                    if sender is not None:
                        sender.put(item)
                    elif item[0] == "skip":
                        report.skipped += 1
                    else:
                        report.would_send += 1
        finally:
            if sender is not None:
                sender.finish()
    if sender is not None:
        sender.merge_into(report)
    report.seconds = time.perf_counter() - started
    return report


def _prepare(row: Any, renderer: DigestRenderer, settings: Settings) -> tuple[Any, ...]:
    """("skip", id) for a quiet week the subscriber skips, else ("send", id, address, message)."""
    prefs = prefs_of(row)
    digest, msg = digest_message(row, prefs=prefs, renderer=renderer, settings=settings)
    if digest.quiet and prefs.quiet_week == "skip":
        return ("skip", row.id)
    return ("send", row.id, row.email, msg, bool(row.bounce_count))


def digest_message(
    subscriber: Any,
    *,
    prefs: Any,
    renderer: DigestRenderer,
    settings: Settings,
    preview: bool = False,
    links: dict[str, str] | None = None,
) -> tuple[EncodedDigest, mail.RawMessage]:
    """One subscriber's digest and the message that carries it: what ``digest send`` sends and
    ``digest preview`` writes (the same code, so the same bytes apart from Date and
    Message-ID). The Message-ID is the subscriber's and the week's (:func:`digest_message_id`),
    so a copy sent again after an interrupted run is recognisable as the same message."""
    links = links or digest_links(subscriber, settings)
    digest = renderer.encoded(prefs, email=subscriber.email, **links)
    period = renderer.week.period
    msg = mail.build_bulk_message(
        to=subscriber.email,
        subject=digest.subject,
        text=digest.text,
        html=digest.html,
        boundary=digest.boundary,
        unsubscribe_url=links["unsubscribe_url"],
        message_id=digest_message_id(subscriber.id, period, settings, preview=preview),
        settings=settings,
    )
    return digest, msg


def digest_links(subscriber: Any, settings: Settings) -> dict[str, str]:
    # the row has the id and address a token needs; no ORM object per subscriber
    return {
        "manage_url": subscriptions.link(subscriber, "manage", settings=settings),
        "unsubscribe_url": subscriptions.link(subscriber, "unsubscribe", settings=settings),
    }


def digest_message_id(
    subscriber_id: int, period: str, settings: Settings, *, preview: bool = False
) -> str:
    """``<spt.digest.2025-W10.42.<site hash>@<sending domain>>``: one per subscriber and week."""
    kind = "digest-preview" if preview else "digest"
    return mail.message_id_for(kind=kind, key=f"{period}.{subscriber_id}", settings=settings)


class _Sender(threading.Thread):
    """Owns the SMTP connection and the ledger writes; takes prepared messages from a queue."""

    def __init__(self, engine: Engine, transport: Any, *, period: str, threshold: int) -> None:
        super().__init__(name=f"digest-sender-{period}", daemon=True)
        self.engine, self.transport = engine, transport
        self.period, self.threshold = period, threshold
        self.queue: queue.Queue[tuple[Any, ...] | None] = queue.Queue(maxsize=32)
        self.error: BaseException | None = None
        self.counts: Counter[str] = Counter()
        self._outcome: list[Any] = []  # ledger/subscriber updates not yet committed

    def put(self, item: tuple[Any, ...]) -> None:
        while True:
            self._raise_if_failed()
            try:
                self.queue.put(item, timeout=0.2)
                return
            except queue.Full:
                continue

    def finish(self) -> None:
        if self.is_alive():
            while self.is_alive():
                try:
                    self.queue.put(None, timeout=0.2)
                    break
                except queue.Full:
                    continue
            self.join()
        self._raise_if_failed()

    def _raise_if_failed(self) -> None:
        if self.error is not None:
            raise self.error

    def merge_into(self, report: SendReport) -> None:
        for name, n in self.counts.items():
            setattr(report, name, getattr(report, name) + n)

    def run(self) -> None:
        with self.engine.connect() as conn:
            while (item := self.queue.get()) is not None:
                try:
                    self.counts[self._handle(conn, item)] += 1
                except BaseException as exc:  # noqa: BLE001 - handed to the rendering thread
                    self.error = exc
                    return
            _run_in_one_transaction(conn, self._outcome)

    def _handle(self, conn: Connection, item: tuple[Any, ...]) -> str:
        # The previous message's outcome is written in the same transaction as this claim:
        # one commit per message. A crash before it leaves that row `sending`, which a rerun
        # marks uncertain and never resends: still nobody twice.
        before, self._outcome = self._outcome, []
        if item[0] == "skip":
            done = _claim(conn, item[1], self.period, "skipped", "", before=before)
            return "skipped" if done else "already"
        _, sub_id, address, msg, had_bounces = item
        if not _claim(conn, sub_id, self.period, "sending", msg["Message-ID"], before=before):
            return "already"
        try:
            self.transport.send(msg, to=address)
        except mail.PermanentFailure as exc:
            self._outcome = _finished(sub_id, self.period, "bounced", str(exc))
            self._outcome += _bounced(sub_id, self.threshold)
            return "bounced"
        except mail.TemporaryFailure as exc:
            self._outcome = _finished(sub_id, self.period, "failed", str(exc))
            return "failed"
        self._outcome = _finished(sub_id, self.period, "sent", "", reset_bounces=had_bounces)
        return "sent"


def _run_in_one_transaction(conn: Connection, statements: Sequence[Any]) -> None:
    for statement in statements:
        conn.execute(statement)
    conn.commit()


def _mark_uncertain(conn: Connection, period: str) -> int:
    """A previous run died during these SMTP transactions: never resend them."""
    n = conn.execute(
        update(ledger_table)
        .where(ledger_table.c.period == period, ledger_table.c.status == "sending")
        .values(
            status="uncertain",
            error="run interrupted during delivery; not resent",
            updated_at=datetime.now(UTC),
        )
    ).rowcount
    conn.commit()
    return int(n or 0)


def _done_ids(conn: Connection, period: str, ids: Sequence[int]) -> set[int]:
    q = select(ledger_table.c.subscriber_id).where(
        ledger_table.c.period == period,
        ledger_table.c.subscriber_id.in_(list(ids)),
        ledger_table.c.status != "failed",
    )
    return set(conn.execute(q).scalars())


def _claim(
    conn: Connection,
    sub_id: int,
    period: str,
    status: str,
    message_id: str,
    before: Sequence[Any] = (),
) -> bool:
    """Insert this period's ledger row (or retake a `failed` one); False if another has it.

    `before` (the previous message's outcome) is committed in the same transaction.
    """
    values = {
        "status": status,
        "message_id": message_id,
        "updated_at": datetime.now(UTC),
        "error": "",
    }
    try:
        for statement in before:
            conn.execute(statement)
        conn.execute(
            insert(ledger_table).values(subscriber_id=sub_id, period=period, attempts=1, **values)
        )
        conn.commit()
        return True
    except IntegrityError:
        conn.rollback()
    for statement in before:
        conn.execute(statement)
    n = conn.execute(
        update(ledger_table)
        .where(
            and_(
                ledger_table.c.subscriber_id == sub_id,
                ledger_table.c.period == period,
                ledger_table.c.status == "failed",
            )
        )
        .values(attempts=ledger_table.c.attempts + 1, **values)
    ).rowcount
    conn.commit()
    return bool(n)


def _finished(
    sub_id: int, period: str, status: str, error: str, *, reset_bounces: bool = False
) -> list[Any]:
    """Statements recording a message's outcome (bounces count only when consecutive)."""
    statements: list[Any] = [
        update(ledger_table)
        .where(ledger_table.c.subscriber_id == sub_id, ledger_table.c.period == period)
        .values(status=status, error=error[:2000], updated_at=datetime.now(UTC))
    ]
    if reset_bounces:
        statements.append(
            update(subscriber_table).where(subscriber_table.c.id == sub_id).values(bounce_count=0)
        )
    return statements


def _bounced(sub_id: int, threshold: int) -> list[Any]:
    return [
        update(subscriber_table)
        .where(subscriber_table.c.id == sub_id)
        .values(bounce_count=subscriber_table.c.bounce_count + 1, last_bounce_at=datetime.now(UTC)),
        update(subscriber_table)
        .where(
            subscriber_table.c.id == sub_id,
            subscriber_table.c.status == "confirmed",
            subscriber_table.c.bounce_count >= threshold,
        )
        .values(status="bouncing"),
    ]
