"""Preparing a new bill's rows ahead of ingest, wherever it is done: in an importer process
(:mod:`tracker.collect.parallel`) or in a reader thread of the writer's process
(:mod:`tracker.collect.readahead`).

A prepared bill carries its rows (``tracker.ingest.prepare_new``, as JSON) and the session
end date they were computed with; ingest uses them only for a bill it inserts, when that date
is the one it stores, and builds any other bill itself. What a preparer knows of the database
(:class:`Hints`) decides which bills are worth preparing: those no source has stored and this
import has not met before.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable

import orjson

from scrapers.importers.base import RawBill
from tracker.identifiers import normalize_identifier
from tracker.scraped import ScrapedBill
from tracker.sessions import guess_session_dates


def key_token(key: tuple[str, str, str]) -> int:
    """A bill key as 8 bytes, the same in every process (``hash`` of a str is not). The
    snapshot of known bills is a set of these (~10 MB for 170,000 bills), not the keys and
    content hashes themselves (several times that, in every worker: a re-import of all the
    shared data had workers peak at 260 MB against 180 MB on the first import). Only
    membership is asked. A collision only makes a new bill look known: ingest then builds it
    itself, as it does for any bill the hint does not cover."""
    raw = "\0".join(key).encode("utf-8", "surrogatepass")
    return int.from_bytes(hashlib.blake2b(raw, digest_size=8).digest(), "little")


Place = tuple[str, str]  # (state, session)


class Hints:
    """What a preparer knows of the database: the tokens (:func:`key_token`) of the stored
    bills' keys and of the bills it prepared in this import, the stored session end dates,
    and whether to prepare rows at all.

    An importer process gets them as a snapshot taken before it starts. ``lookup`` (a reader
    in the writer's own process, :mod:`tracker.collect.readahead`) instead asks the database
    for a place's keys and end date the first time one of its bills is met: (tokens, whether
    the session is stored, its end date)."""

    def __init__(
        self,
        known: set[int],
        ends: dict[Place, str | None],
        prepare: bool = True,
        lookup: Callable[[Place], tuple[set[int], bool, str | None]] | None = None,
    ) -> None:
        self.known = known
        self.ends = ends
        self.prepare = prepare
        self.lookup = lookup
        self._asked: set[Place] = set()

    def first_time_new(self, key: tuple[str, str, str]) -> bool:
        """Whether `key` is a bill the database does not have and this import has not met
        before; met once, it is known for the rest of the import (stored by then)."""
        place = key[:2]
        if self.lookup is not None and place not in self._asked:
            self._asked.add(place)
            tokens, stored, end = self.lookup(place)
            self.known |= tokens
            if stored:
                self.ends[place] = end
        token = key_token(key)
        if token in self.known:
            return False
        self.known.add(token)
        return True

    def end(self, place: Place) -> str | None:
        """The end date ingest gives the bill's session: the stored one, or the guess it will
        store for a session the database does not have yet."""
        return self.ends[place] if place in self.ends else _guessed_end(place)


_GUESSED: dict[Place, str | None] = {}


def _guessed_end(place: Place) -> str | None:
    """The end date ingest will give a session the database does not have yet (once per
    session: a first import asks it for every bill)."""
    end = _GUESSED.get(place, False)
    if end is False:
        end = _GUESSED[place] = guess_session_dates(place[1], place[0])[1]
    return end  # type: ignore[return-value]


def prepare(item: RawBill, hints: Hints, rows: bool = True, *, shed: bool = True) -> None:
    """Digest `item` and, when `rows` and it is new by `hints`, validate it and compute its
    rows (``item.prepared``, JSON). `shed` (a bill sent to another process): keep only its
    bytes."""
    key, digest = item.bill_key(), item.digest()
    if key is None or digest is None:
        return  # ingest validates it and reports what is wrong
    # Met again later in this import (the same session in two archives), the bill is stored
    # by then: ingest compares it, and prepared rows would go unused.
    if rows and hints.prepare and hints.first_time_new(key):
        bill = item.build()
        if isinstance(bill, ScrapedBill) and key == (
            bill.state,
            bill.legislative_session,
            normalize_identifier(bill.identifier),
        ):  # else ingest validates it again and reports what is wrong
            from tracker.ingest import prepare_new

            try:
                item.prepared = orjson.dumps(prepare_new(bill, hints.end(key[:2])))
            except TypeError:  # a value JSON cannot carry: ingest computes the rows itself
                item.prepared = None
    if shed:
        item.shed()  # travels as item.blob
