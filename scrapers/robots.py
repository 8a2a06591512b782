"""robots.txt for the HTTP client: fetched once per origin, obeyed for every request.

Kept apart from :class:`scrapers.http.HttpClient` so the client is about requests (rate limit,
retries, bodies) and this module about the rules: what an answer to ``/robots.txt`` means
(RFC 9309: a 4xx allows everything, an unreachable file or a 5xx allows everything for now and
is asked for again later), which URLs our User-Agent may fetch, and the Crawl-delay or
Request-rate a site asks for. The client hands in how to fetch the file, through its own rate
limit, so robots.txt requests are as polite as every other.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

from protego import Protego

# the client's logger: robots.txt messages are part of its story (and its API-key filter)
log = logging.getLogger("scrapers.http")

ROBOTS_MAX_BYTES = 512 * 1024  # RFC 9309: crawlers must parse at least 500 KiB
ROBOTS_RECHECK_SECONDS = 300.0  # an unreachable robots.txt is asked for again after this
ROBOTS_MAX_REDIRECTS = 5


@dataclass(frozen=True)
class RobotsAnswer:
    """What fetching ``/robots.txt`` gave: a status and body, or why it could not be fetched."""

    status: int | None = None  # None: unreachable (see `error`)
    body: bytes = b""
    error: str = ""


@dataclass
class _Entry:
    rules: Protego | None  # None: allow everything
    recheck_at: float | None  # monotonic time to ask again (after a failure), or None: keep


class RobotsRules:
    """Per-origin robots.txt rules for one User-Agent; thread-safe, one fetch per origin."""

    def __init__(
        self,
        *,
        user_agent: str,
        fetch: Callable[[str], RobotsAnswer],
        host_key: Callable[[str], str],
        clock: Callable[[], float],
    ) -> None:
        self.user_agent = user_agent
        self._fetch = fetch
        self._host_key = host_key
        self._clock = clock
        self._entries: dict[str, _Entry] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._registry_lock = threading.Lock()
        self._crawl_delays: dict[str, float] = {}

    def allows(self, url: str) -> bool:
        """Whether robots.txt of the URL's origin lets our User-Agent fetch it."""
        rules = self._rules(url)
        return rules is None or rules.can_fetch(url, self.user_agent)

    def crawl_delay(self, host: str) -> float:
        """Seconds between requests a host's robots.txt asks for (0.0 when it asks nothing)."""
        return self._crawl_delays.get(host, 0.0)

    def _rules(self, url: str) -> Protego | None:
        parts = urlsplit(url)
        origin = f"{parts.scheme}://{parts.netloc}"
        with self._registry_lock:
            lock = self._locks.setdefault(origin, threading.Lock())
        # One fetch per origin, even when many threads start on the same host at once.
        with lock:
            cached = self._entries.get(origin)
            if cached and (cached.recheck_at is None or self._clock() < cached.recheck_at):
                return cached.rules
            entry = self._read(origin)
            self._entries[origin] = entry
            return entry.rules

    def _read(self, origin: str) -> _Entry:
        answer = self._fetch(f"{origin}/robots.txt")
        if answer.status is None:
            log.warning(
                "robots.txt of %s unreachable (%s); allowing all for now", origin, answer.error
            )
            return _Entry(None, self._clock() + ROBOTS_RECHECK_SECONDS)
        if 400 <= answer.status < 500:
            log.info("robots.txt of %s: HTTP %d, everything allowed", origin, answer.status)
            return _Entry(None, None)
        if not 200 <= answer.status < 300:
            log.warning("robots.txt of %s: HTTP %d; allowing all for now", origin, answer.status)
            return _Entry(None, self._clock() + ROBOTS_RECHECK_SECONDS)
        rules = Protego.parse(answer.body.decode("utf-8", errors="replace"))
        self._note_crawl_delay(self._host_key(origin), rules)
        return _Entry(rules, None)

    def _note_crawl_delay(self, key: str, rules: Protego) -> None:
        delay = rules.crawl_delay(self.user_agent) or 0.0
        rate = rules.request_rate(self.user_agent)
        if rate and rate.requests:
            delay = max(delay, rate.seconds / rate.requests)
        if delay:
            log.info("robots.txt of %s asks for %.1fs between requests", key, delay)
            self._crawl_delays[key] = float(delay)
