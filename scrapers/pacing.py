"""The per-host rate limit of the HTTP client: one request at a time per host, spaced out.

A host's delay is the configured one (per host, else the default), raised to what its
robots.txt asks (Crawl-delay); backoff and ``Retry-After`` push a host's next turn later.
Kept apart from :class:`scrapers.http.HttpClient` so the waiting rules read in one place.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field


@dataclass
class _Host:
    turn: threading.Lock = field(default_factory=threading.Lock)  # held while waiting our turn
    state: threading.Lock = field(default_factory=threading.Lock)  # guards the two times
    last_start: float = float("-inf")  # when the last request to this host was sent
    not_before: float = float("-inf")  # set by backoff and Retry-After


class HostPacer:
    """Spaces requests per host key (``host`` or ``host:port``); thread-safe."""

    def __init__(
        self,
        *,
        default_delay: float,
        delays: Mapping[str, float] | None,
        crawl_delay: Callable[[str], float],
        clock: Callable[[], float],
        sleep: Callable[[float], None],
    ) -> None:
        self.default_delay = default_delay
        self._delays: dict[str, float] = {k.lower(): float(v) for k, v in (delays or {}).items()}
        self._crawl_delay = crawl_delay
        self._clock = clock
        self._sleep = sleep
        self._hosts: dict[str, _Host] = {}
        self._lock = threading.Lock()

    def set_delay(self, host: str, seconds: float) -> None:
        """Seconds between requests to ``host`` (``example.org`` or ``example.org:8080``)."""
        if seconds < 0:
            raise ValueError(f"delay for {host} must be >= 0, got {seconds}")
        self._delays[host.lower()] = float(seconds)

    def delay_for(self, host: str) -> float:
        """The effective delay for a host key: configured delay, raised to robots' Crawl-delay."""
        hostname = host.rsplit(":", 1)[0] if host.count(":") == 1 else host
        base = self._delays.get(host, self._delays.get(hostname, self.default_delay))
        return max(base, self._crawl_delay(host))

    def wait_turn(self, key: str, *, check: Callable[[], None] | None = None) -> None:
        """Block until ``key`` may be asked again, then mark the request as sent.

        ``check`` runs before every wait and may raise to give up (a stopping process)."""
        host = self._host(key)
        with host.turn:
            while True:
                if check is not None:
                    check()
                with host.state:
                    # The delay is read now, so a Crawl-delay or override learnt meanwhile counts.
                    ready = max(host.last_start + self.delay_for(key), host.not_before)
                    wait = ready - self._clock()
                    if wait <= 0:
                        host.last_start = self._clock()
                        return
                self._sleep(wait)

    def defer(self, key: str, seconds: float) -> None:
        """Nothing is sent to ``key`` for ``seconds`` from now (backoff, Retry-After)."""
        host = self._host(key)
        with host.state:
            host.not_before = max(host.not_before, self._clock() + seconds)

    def _host(self, key: str) -> _Host:
        with self._lock:
            return self._hosts.setdefault(key, _Host())
