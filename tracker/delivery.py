"""Sending the weekly digests: one SMTP connection, a per-message ledger, bounce counting.

Building a week's digests is :mod:`tracker.digest`, rendering them :mod:`tracker.digest_render`;
this module delivers them.
The ledger (``digest_ledger``) is written per message: a row is claimed before the SMTP
transaction and finished after it, so a crash and a rerun send every remaining subscriber once
and nobody twice. The next message is built while the server takes in the one before
(:func:`tracker.mail.smtp_transaction`'s `meanwhile`), so building costs the run no time.
"""

from __future__ import annotations

import gc
import itertools
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Engine, bindparam, delete, func, insert, select, update
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

    `transport` is a :class:`tracker.mail.SmtpTransport` (opened by the caller), or anything
    with its ``send(msg, *, to, meanwhile=None)``; with ``dry_run`` nothing is sent or
    written, and the report counts what would go out (every message is still built).
    """
    settings = settings or get_settings()
    ledger_group = LEDGER_GROUP if ledger_group is None else ledger_group
    if bounce_threshold is None:
        bounce_threshold = settings.digest_bounce_threshold
    report = SendReport(period)
    started = time.perf_counter()
    with engine.connect() as conn:
        renderer = renderer or DigestRenderer(load_week(conn, period=period, settings=settings))
        conn.rollback()

        def build(item: _Item) -> mail.RawMessage:
            return digest_message(
                item.row,
                prefs=item.prefs,
                renderer=renderer,
                settings=settings,
                message_id=item.message_id,
            )[1]

        if not dry_run:
            report.uncertain += _mark_uncertain(conn, period)
        # The week (bills, events, rendered blocks) lives as long as the run and is only read:
        # the collector need not go through it again and again while thousands of messages
        # are made (a tenth of the run's time otherwise); given back to it after the run.
        gc.freeze()
        try:
            items = _to_send(conn, period, renderer, settings, report)
            if dry_run:
                for item in items:
                    if item.skip:
                        report.skipped += 1
                    else:
                        build(item)  # what a real run would send is built, checked
                        report.would_send += 1
            else:
                sender = _Sender(
                    engine,
                    transport,
                    period=period,
                    threshold=bounce_threshold,
                    group=ledger_group,
                    build=build,
                )
                try:
                    sender.run(items)
                finally:
                    sender.merge_into(report)
        finally:
            gc.unfreeze()
    report.seconds = time.perf_counter() - started
    return report


@dataclass(slots=True)
class _Item:
    """A subscriber to deliver to: `skip` for a quiet week they skip; `message_id` is their
    digest's (what the ledger records when the row is claimed, before the message is built;
    empty for a skip)."""

    row: Any
    prefs: Any
    skip: bool
    message_id: str

    @property
    def sub_id(self) -> int:
        return int(self.row.id)


def _to_send(
    conn: Connection,
    period: str,
    renderer: DigestRenderer,
    settings: Settings,
    report: SendReport,
) -> Iterator[_Item]:
    """The confirmed subscribers whose digest of `period` is not done, in id order (counting
    the ones done in ``report.already``)."""
    for batch in _confirmed_batches(conn):
        done = _done_ids(conn, period, [r.id for r in batch])
        conn.rollback()
        for row in batch:
            if row.id in done:
                report.already += 1
                continue
            prefs = prefs_of(row)
            skip = prefs.quiet_week == "skip" and renderer.quiet(prefs)
            yield _Item(
                row, prefs, skip, "" if skip else digest_message_id(row.id, period, settings)
            )


def digest_message(
    subscriber: Any,
    *,
    prefs: Any,
    renderer: DigestRenderer,
    settings: Settings,
    preview: bool = False,
    links: dict[str, str] | None = None,
    message_id: str | None = None,
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
        message_id=message_id
        or digest_message_id(subscriber.id, period, settings, preview=preview),
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


class _Sender:
    """Owns the ledger writes and drives the transport over the items to send.

    Ledger writes go in groups of up to `group` messages: one transaction records the previous
    group's outcomes and claims the next group (rows `sending`, or `skipped` for a quiet week),
    then the group's messages go out one by one, each built while the server takes in the one
    before. If sending raises anything but a delivery failure (the process is being stopped, a
    bug), the outcomes known so far are committed, the message in flight stays `sending`
    (uncertain: the next run resends it with the same Message-ID) and the group's messages not
    yet tried are released, so a rerun sends them normally. Only a hard kill leaves a whole
    group `sending`: at most `group` messages that the next run resends, each with its first
    Message-ID."""

    def __init__(
        self,
        engine: Engine,
        transport: Any,
        *,
        period: str,
        threshold: int,
        group: int,
        build: Callable[[_Item], mail.RawMessage],
    ) -> None:
        self.engine, self.transport, self.build = engine, transport, build
        self.period, self.threshold = period, threshold
        self.group = max(1, group)
        self.counts: Counter[str] = Counter()
        self._outcomes: list[dict[str, Any]] = []  # ledger rows to finish, not yet committed
        self._extra: list[Any] = []  # subscriber updates (bounces), not yet committed
        self._built: dict[int, mail.RawMessage] = {}  # the next group's first message, built

    def merge_into(self, report: SendReport) -> None:
        for name, n in self.counts.items():
            setattr(report, name, getattr(report, name) + n)

    def run(self, items: Iterator[_Item]) -> None:
        with self.engine.connect() as conn:
            group = list(itertools.islice(items, self.group))
            while group:
                group = self._send_group(conn, group, items)
            self._write_outcomes(conn)
            conn.commit()

    def _write_outcomes(self, conn: Connection) -> None:
        """Execute the outcomes not yet committed (the caller commits, then clears them)."""
        if self._outcomes:
            conn.execute(_FINISH, self._outcomes)
        for statement in self._extra:
            conn.execute(statement)

    def _send_group(
        self, conn: Connection, group: list[_Item], items: Iterator[_Item]
    ) -> list[_Item]:
        """Claim and send `group`; returns the next group, taken from `items` (and its first
        message built) while the server took in this group's last message."""
        claimed = _claim_group(conn, self.period, group, before=self._write_outcomes)
        self._outcomes, self._extra = [], []  # committed with the claim
        self.counts["already"] += len(group) - len(claimed)
        sends = [(item, was) for item, was in claimed if not item.skip]
        self.counts["skipped"] += len(claimed) - len(sends)
        built, self._built = self._built, {}  # messages built ahead, by subscriber id
        following: list[_Item] | None = None  # the next group, once taken

        def ahead(i: int) -> None:
            """While the server takes in `sends[i]`: build the next message, or after the
            group's last, take the next group and build its first."""
            nonlocal following
            if i + 1 < len(sends):
                item = sends[i + 1][0]
                built[item.sub_id] = self.build(item)
                return
            following = list(itertools.islice(items, self.group))
            first = next((item for item in following if not item.skip), None)
            if first is not None:
                self._built[first.sub_id] = self.build(first)

        for i, (item, retaken) in enumerate(sends):
            msg = built.pop(item.sub_id, None) or self.build(item)
            try:
                self.transport.send(msg, to=item.row.email, meanwhile=lambda i=i: ahead(i))
            except mail.PermanentFailure as exc:
                self._finish(item.sub_id, "bounced", str(exc))
                self._extra += _bounced(item.sub_id, self.threshold)
                self.counts["bounced"] += 1
                continue
            except mail.TemporaryFailure as exc:
                self._finish(item.sub_id, "failed", str(exc))
                self.counts["failed"] += 1
                continue
            except BaseException:
                # the outcome of this message is unknown: it stays `sending` (uncertain);
                # the ones after it were never tried: released for the next run
                self._write_outcomes(conn)
                _release(conn, self.period, sends[i + 1 :])
                conn.commit()
                raise
            note = RESENT if retaken == "uncertain" else ""
            self._finish(item.sub_id, "sent", note)
            if item.row.bounce_count:
                self._extra.append(
                    update(subscriber_table)
                    .where(subscriber_table.c.id == item.sub_id)
                    .values(bounce_count=0)
                )
            self.counts["sent"] += 1
        return list(itertools.islice(items, self.group)) if following is None else following

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
    group: list[_Item],
    *,
    before: Callable[[Connection], None],
) -> list[tuple[_Item, str]]:
    """Claim the group's ledger rows in one transaction (after `before`, the previous group's
    outcomes); returns the claimed items with what their row was (``new``, ``failed`` or
    ``uncertain``). An item whose row another run holds is left out."""
    now = datetime.now(UTC)
    ids = [item.sub_id for item in group]
    before(conn)
    existing = dict(
        conn.execute(
            select(ledger_table.c.subscriber_id, ledger_table.c.status).where(
                ledger_table.c.period == period, ledger_table.c.subscriber_id.in_(ids)
            )
        ).all()
    )
    claimed: list[tuple[_Item, str]] = []
    new_rows = []
    for item in group:
        status = "skipped" if item.skip else "sending"
        was = existing.get(item.sub_id)
        if was is None:
            new_rows.append(
                {
                    "subscriber_id": item.sub_id,
                    "period": period,
                    "attempts": 1,
                    "status": status,
                    "message_id": item.message_id,
                    "updated_at": now,
                    "error": "",
                }
            )
            claimed.append((item, "new"))
        elif was in RETAKE:
            n = conn.execute(
                update(ledger_table)
                .where(
                    ledger_table.c.subscriber_id == item.sub_id,
                    ledger_table.c.period == period,
                    ledger_table.c.status == was,
                )
                .values(
                    status=status,
                    message_id=item.message_id,
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
    group: list[_Item],
    before: Callable[[Connection], None],
) -> list[tuple[_Item, str]]:
    before(conn)  # again after the rollback: the previous group's outcomes
    conn.commit()
    claimed = []
    for item in group:
        claimed += _claim_group(conn, period, [item], before=lambda c: None)
    return claimed


def _release(conn: Connection, period: str, items: list[tuple[_Item, str]]) -> None:
    """Give back claimed rows whose message was never tried: a new row goes, a retaken one gets
    its status back."""
    for item, was in items:
        where = (ledger_table.c.subscriber_id == item.sub_id, ledger_table.c.period == period)
        if was == "new":
            conn.execute(delete(ledger_table).where(*where))
        else:
            conn.execute(update(ledger_table).where(*where).values(status=was))


def ledger_counts(engine: Engine, period: str) -> dict[str, int]:
    """How many ledger rows of `period` are in each status (what a stopped run leaves says
    what the next one will do: `sending` rows are resent with their first Message-ID)."""
    with engine.connect() as conn:
        rows = conn.execute(
            select(ledger_table.c.status, func.count())
            .where(ledger_table.c.period == period)
            .group_by(ledger_table.c.status)
        ).all()
    return {status: int(n) for status, n in rows}


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
