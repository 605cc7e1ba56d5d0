"""How the live twin tells what goes wrong without being drowned by it: a log that says the first
few of a kind of problem and then how many more (``LogLimiter``), and a watch on the broker
connection that says within seconds when there is none, and why (``ConnectionWatch``)."""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from twin.live.connector import Connector


class LogLimiter:
    """At most ``burst`` lines of each kind per ``period`` seconds; the rest are counted and
    said in one line when the period is over (``flush``), with the latest of them."""

    def __init__(self, log: logging.Logger, burst: int = 10, period: float = 10.0) -> None:
        self.log = log
        self.burst = burst
        self.period = period
        self.start: dict[str, float] = {}
        self.said: dict[str, int] = {}
        self.held: dict[str, int] = {}
        self.latest: dict[str, str] = {}
        self.lines = 0
        """Lines logged so far."""

    def warn(self, kind: str, message: str, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        if now - self.start.get(kind, -self.period) >= self.period:
            self._summary(kind)
            self.start[kind], self.said[kind] = now, 0
        if self.said[kind] < self.burst:
            self.said[kind] += 1
            self.lines += 1
            self.log.warning("%s", message)
        else:
            self.held[kind] = self.held.get(kind, 0) + 1
            self.latest[kind] = message

    def _summary(self, kind: str) -> None:
        held = self.held.pop(kind, 0)
        if held:
            self.lines += 1
            self.log.warning("... and %d more %s in the last %g s (the latest: %s)", held, kind,
                             self.period, self.latest.pop(kind, ""))

    def flush(self, now: float | None = None, force: bool = False) -> None:
        """Say what was held back, for each kind whose period is over (every kind: ``force``)."""
        now = time.monotonic() if now is None else now
        for kind in list(self.held):
            if force or now - self.start.get(kind, now) >= self.period:
                self._summary(kind)
                self.start[kind], self.said[kind] = now, 0


class ConnectionWatch:
    """Says when the connector has had no connection for ``after`` seconds (at the start, or
    since it lost it), why, and again every ``every`` seconds while it lasts; and when it is
    back."""

    def __init__(self, connector: Connector, log: logging.Logger, after: float = 3.0,
                 every: float = 30.0) -> None:
        self.connector = connector
        self.log = log
        self.after = after
        self.every = every
        self.up = False
        self.down_since = time.monotonic()
        self.next_report = self.down_since + after
        self.reported = False
        self.why: str | None = None
        """Why there is no connection, as last found (None: connected)."""

    def check(self, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        up = self.connector.connected.is_set()
        if up != self.up:
            self.up = up
            if up:
                self.why = None
                if self.reported:
                    self.log.warning("connected to the broker %s again", self.connector.url)
                self.reported = False
            else:
                self.down_since, self.next_report = now, now + self.after
        if not up and now >= self.next_report:
            self.why = self.connector.describe()
            self.log.warning("no connection to the broker %s for %.0f s: %s; retrying",
                             self.connector.url, now - self.down_since, self.why)
            self.reported = True
            self.next_report = now + self.every
