"""What the collector's broker connection says in the log: failures with their cause, takeovers."""

from __future__ import annotations

import logging
import time
from typing import Any

log = logging.getLogger("heatwatch.collector")

# a connection the broker closes this soon after it was made, this many times in a row,
# is another client taking our session over (MQTT 3.1.1 does not say so itself)
TAKEOVER_WITHIN_S = 5.0
TAKEOVER_COUNT = 3
CONNECT_FAIL_LOG_EVERY_S = 60.0


class ConnectionLog:
    """Connects, failed attempts and drops, logged once per new cause (or once a minute)."""

    def __init__(self, host: str, port: int, client_id: str) -> None:
        self.host, self.port, self.client_id = host, port, client_id
        self.connected_at = 0.0
        self.quick_drops = 0
        self.fails = 0
        self.fail_cause = ""
        self.fail_logged = 0.0

    def connected(self) -> None:
        self.connected_at = time.monotonic()
        if self.fails:
            log.info("connected after %d failed attempt(s)", self.fails)
        self.fails, self.fail_cause = 0, ""

    def connect_failed(self, error: BaseException | None) -> None:
        cause = f"{type(error).__name__}: {error}" if error else "unknown cause"
        self.fails += 1
        now = time.monotonic()
        if cause != self.fail_cause or now - self.fail_logged >= CONNECT_FAIL_LOG_EVERY_S:
            log.error("cannot connect to broker %s:%d: %s (attempt %d; retrying)",
                      self.host, self.port, cause, self.fails)
            self.fail_cause, self.fail_logged = cause, now

    def disconnected(self, was_connected: bool, reason: Any) -> None:
        name = reason.getName() if hasattr(reason, "getName") else str(reason)
        if name == "Session taken over":
            log.error("client id %r was taken over by another connection: two collectors "
                      "(or another client) use the same client id; give each its own "
                      "[mqtt] client_id", self.client_id)
            return
        quick = was_connected and time.monotonic() - self.connected_at < TAKEOVER_WITHIN_S
        self.quick_drops = self.quick_drops + 1 if quick else 0
        if self.quick_drops >= TAKEOVER_COUNT:
            log.error("client id %r: the broker closed the connection %d times within %.0f s "
                      "of connecting (%s): probably a client-id takeover, another client "
                      "uses the same client id; give each its own [mqtt] client_id",
                      self.client_id, self.quick_drops, TAKEOVER_WITHIN_S, name)
        else:
            log.warning("disconnected from broker (%s); reconnecting", name)
