"""Sending the weekly digests: one SMTP connection, a per-message ledger, bounce counting.

Building a week's digests is :mod:`tracker.digest`, rendering them :mod:`tracker.digest_render`;
this module delivers them.
The ledger (``digest_ledger``) is written per message: a row is claimed before the SMTP
transaction and finished after it, so a crash and a rerun send every remaining subscriber once
and nobody twice. Rendering (this thread) overlaps the wait for the server (a sender thread).
"""

from __future__ import annotations

import gc
import queue
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Engine, bindparam, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from tracker import mail, subscriptions
from tracker.digest import load_week
from tracker.digest_render import DigestRenderer, EncodedDigest, prefs_of
from tracker.settings import Settings, get_settings
from tracker.subscription_models import DigestLedger, Subscriber

ledger_table, subscriber_table = DigestLedger.__table__, Subscriber.__table__


# Messages whose ledger rows are claimed, then finished, in one transaction: a hard kill (power
# loss, SIGKILL) can leave at most this many rows `sending`, which the next run resends with
# their first Message-ID; anything short of that (an exception, Ctrl-C) leaves at most one.
LEDGER_GROUP = 16
SWITCH_INTERVAL = 0.0005  # seconds; see send_digests


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
    ledger_group: int | None = None,
) -> SendReport:
    """Send `period`'s digest to every confirmed subscriber who has not had it yet.

    `transport` is a :class:`tracker.mail.SmtpTransport` (opened by the caller); with
    ``dry_run`` nothing is sent or written and the report counts what would go out.

    This thread renders; one sender thread claims ledger rows (in groups), sends over the one
    SMTP connection and records the outcomes, so rendering overlaps the wait for the server.
    While it runs, the interpreter switches threads every half millisecond instead of every
    5 ms, so the sender takes the server's answer when it comes instead of waiting for the
    rendering thread's turn to end (the GIL).
    """
    settings = settings or get_settings()
    ledger_group = LEDGER_GROUP if ledger_group is None else ledger_group
    if bounce_threshold is None:
        bounce_threshold = settings.digest_bounce_threshold
    report = SendReport(period)
    started = time.perf_counter()
    sender = (
        None
        if dry_run
        else _Sender(
            engine, transport, period=period, threshold=bounce_threshold, group=ledger_group
        )
    )
    with engine.connect() as conn:
        renderer = renderer or DigestRenderer(load_week(conn, period=period, settings=settings))
        conn.rollback()
        if sender is not None:
            report.uncertain += _mark_uncertain(conn, period)
            switch = sys.getswitchinterval()
            sys.setswitchinterval(min(switch, SWITCH_INTERVAL))
            sender.start()
        # The week (bills, events, rendered blocks) lives as long as the run and is only read:
        # the collector need not go through it again and again while thousands of messages
        # are made (a tenth of the run's time otherwise); given back to it after the run.
        gc.freeze()
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
            gc.unfreeze()
            if sender is not None:
                try:
                    sender.finish()
                finally:
                    sys.setswitchinterval(switch)
    if sender is not None:
        sender.merge_into(report)
    report.seconds = time.perf_counter() - started
    return report


def _prepare(row: Any, renderer: DigestRenderer, settings: Settings) -> tuple[Any, ...]:
    """("skip", id) for a quiet week the subscriber skips, else ("send", id, address, message)."""
    prefs = prefs_of(row)
    if prefs.quiet_week == "skip" and renderer.quiet(prefs):
        return ("skip", row.id)
    _, msg = digest_message(row, prefs=prefs, renderer=renderer, settings=settings)
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
    links = subscriptions.links(subscriber, ("manage", "unsubscribe"), settings=settings)
    return {"manage_url": links["manage"], "unsubscribe_url": links["unsubscribe"]}


def digest_message_id(
    subscriber_id: int, period: str, settings: Settings, *, preview: bool = False
) -> str:
    """``<spt.digest.2025-W10.42.<site hash>@<sending domain>>``: one per subscriber and week."""
    kind = "digest-preview" if preview else "digest"
    return mail.message_id_for(kind=kind, key=f"{period}.{subscriber_id}", settings=settings)


class _Sender(threading.Thread):
    """Owns the SMTP connection and the ledger writes; takes prepared messages from a queue.

    Ledger writes go in groups of up to `group` messages: one transaction records the previous
    group's outcomes and claims the next group (rows `sending`, or `skipped` for a quiet week),
    then the group's messages go out one by one. If sending raises anything but a delivery
    failure (the process is being stopped, a bug), the outcomes known so far are committed, the
    message in flight stays `sending` (uncertain: the next run resends it with the same
    Message-ID) and the group's messages not yet tried are released, so a rerun sends them
    normally. Only a hard kill leaves a whole group `sending`: at most `group` messages that
    the next run resends, each with its first Message-ID."""

    def __init__(
        self, engine: Engine, transport: Any, *, period: str, threshold: int, group: int
    ) -> None:
        super().__init__(name=f"digest-sender-{period}", daemon=True)
        self.engine, self.transport = engine, transport
        self.period, self.threshold = period, threshold
        self.group = max(1, group)
        self.queue: queue.Queue[tuple[Any, ...] | None] = queue.Queue(maxsize=2 * self.group)
        self.error: BaseException | None = None
        self.counts: Counter[str] = Counter()
        self._outcomes: list[dict[str, Any]] = []  # ledger rows to finish, not yet committed
        self._extra: list[Any] = []  # subscriber updates (bounces), not yet committed
        self._done = False

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
        try:
            with self.engine.connect() as conn:
                while group := self._next_group():
                    self._send_group(conn, group)
                self._write_outcomes(conn)
                conn.commit()
        except BaseException as exc:  # noqa: BLE001 - handed to the rendering thread
            self.error = exc

    def _next_group(self) -> list[tuple[Any, ...]]:
        if self._done:
            return []
        first = self.queue.get()
        if first is None:
            self._done = True
            return []
        group = [first]
        while len(group) < self.group:
            try:
                item = self.queue.get_nowait()
            except queue.Empty:
                break
            if item is None:
                self._done = True
                break
            group.append(item)
        return group

    def _write_outcomes(self, conn: Connection) -> None:
        """Execute the outcomes not yet committed (the caller commits, then clears them)."""
        if self._outcomes:
            conn.execute(_FINISH, self._outcomes)
        for statement in self._extra:
            conn.execute(statement)

    def _send_group(self, conn: Connection, group: list[tuple[Any, ...]]) -> None:
        claimed = _claim_group(conn, self.period, group, before=self._write_outcomes)
        self._outcomes, self._extra = [], []  # committed with the claim
        self.counts["already"] += len(group) - len(claimed)
        for i, (item, retaken) in enumerate(claimed):
            if item[0] == "skip":
                self.counts["skipped"] += 1
                continue
            _, sub_id, address, msg, had_bounces = item
            try:
                self.transport.send(msg, to=address)
            except mail.PermanentFailure as exc:
                self._finish(sub_id, "bounced", str(exc))
                self._extra += _bounced(sub_id, self.threshold)
                self.counts["bounced"] += 1
                continue
            except mail.TemporaryFailure as exc:
                self._finish(sub_id, "failed", str(exc))
                self.counts["failed"] += 1
                continue
            except BaseException:
                # the outcome of this message is unknown: it stays `sending` (uncertain);
                # the ones after it were never tried: released for the next run
                self._write_outcomes(conn)
                _release(conn, self.period, claimed[i + 1 :])
                conn.commit()
                raise
            note = RESENT if retaken == "uncertain" else ""
            self._finish(sub_id, "sent", note)
            if had_bounces:
                self._extra.append(
                    update(subscriber_table)
                    .where(subscriber_table.c.id == sub_id)
                    .values(bounce_count=0)
                )
            self.counts["sent"] += 1

    def _finish(self, sub_id: int, status: str, error: str) -> None:
        self._outcomes.append(
            {
                "b_sub": sub_id,
                "b_period": self.period,
                "status": status,
                "error": error[:2000],
                "updated_at": datetime.now(UTC),
            }
        )


RESENT = "resent after an interrupted run, with the same Message-ID"
_FINISH = (
    update(ledger_table)
    .where(
        ledger_table.c.subscriber_id == bindparam("b_sub"),
        ledger_table.c.period == bindparam("b_period"),
    )
    .values(
        status=bindparam("status"), error=bindparam("error"), updated_at=bindparam("updated_at")
    )
)
RETAKE = ("failed", "uncertain")  # ledger rows a run takes again: never delivered, or unknown


def _claim_group(
    conn: Connection,
    period: str,
    group: list[tuple[Any, ...]],
    *,
    before: Callable[[Connection], None],
) -> list[tuple[tuple[Any, ...], str]]:
    """Claim the group's ledger rows in one transaction (after `before`, the previous group's
    outcomes); returns the claimed items with what their row was (``new``, ``failed`` or
    ``uncertain``). An item whose row another run holds is left out."""
    now = datetime.now(UTC)
    ids = [item[1] for item in group]
    before(conn)
    existing = dict(
        conn.execute(
            select(ledger_table.c.subscriber_id, ledger_table.c.status).where(
                ledger_table.c.period == period, ledger_table.c.subscriber_id.in_(ids)
            )
        ).all()
    )
    claimed: list[tuple[tuple[Any, ...], str]] = []
    new_rows = []
    for item in group:
        status, message_id = _claim_values(item)
        was = existing.get(item[1])
        if was is None:
            new_rows.append(
                {
                    "subscriber_id": item[1],
                    "period": period,
                    "attempts": 1,
                    "status": status,
                    "message_id": message_id,
                    "updated_at": now,
                    "error": "",
                }
            )
            claimed.append((item, "new"))
        elif was in RETAKE:
            n = conn.execute(
                update(ledger_table)
                .where(
                    ledger_table.c.subscriber_id == item[1],
                    ledger_table.c.period == period,
                    ledger_table.c.status == was,
                )
                .values(
                    status=status,
                    message_id=message_id,
                    updated_at=now,
                    error="",
                    attempts=ledger_table.c.attempts + 1,
                )
            ).rowcount
            if n:
                claimed.append((item, was))
    try:
        if new_rows:
            conn.execute(insert(ledger_table), new_rows)
        conn.commit()
    except IntegrityError:  # another run claimed one of them meanwhile: one by one
        conn.rollback()
        if len(group) == 1:
            before(conn)
            conn.commit()
            return []
        return _claim_one_by_one(conn, period, group, before)
    return claimed


def _claim_one_by_one(
    conn: Connection,
    period: str,
    group: list[tuple[Any, ...]],
    before: Callable[[Connection], None],
) -> list[tuple[tuple[Any, ...], str]]:
    before(conn)  # again after the rollback: the previous group's outcomes
    conn.commit()
    claimed = []
    for item in group:
        claimed += _claim_group(conn, period, [item], before=lambda c: None)
    return claimed


def _claim_values(item: tuple[Any, ...]) -> tuple[str, str]:
    if item[0] == "skip":
        return "skipped", ""
    return "sending", str(item[3]["Message-ID"])


def _release(conn: Connection, period: str, items: list[tuple[tuple[Any, ...], str]]) -> None:
    """Give back claimed rows whose message was never tried: a new row goes, a retaken one gets
    its status back."""
    for item, was in items:
        where = (ledger_table.c.subscriber_id == item[1], ledger_table.c.period == period)
        if was == "new":
            conn.execute(delete(ledger_table).where(*where))
        else:
            conn.execute(update(ledger_table).where(*where).values(status=was))


def _mark_uncertain(conn: Connection, period: str) -> int:
    """A previous run died during these SMTP transactions (rows left `sending`): they are
    uncertain, and this run resends them with the same Message-ID (see :data:`RESENT`)."""
    n = conn.execute(
        update(ledger_table)
        .where(ledger_table.c.period == period, ledger_table.c.status == "sending")
        .values(
            status="uncertain",
            error="run interrupted during delivery; resent with the same Message-ID",
            updated_at=datetime.now(UTC),
        )
    ).rowcount
    conn.commit()
    return int(n or 0)


def _done_ids(conn: Connection, period: str, ids: Sequence[int]) -> set[int]:
    """Subscribers whose digest of `period` needs nothing more. A `sending` row is not done: a
    real run has already taken those for uncertain (:func:`_mark_uncertain`) and resends them,
    so a dry run counts them as would-send too."""
    q = select(ledger_table.c.subscriber_id).where(
        ledger_table.c.period == period,
        ledger_table.c.subscriber_id.in_(list(ids)),
        ledger_table.c.status.not_in((*RETAKE, "sending")),
    )
    return set(conn.execute(q).scalars())


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
