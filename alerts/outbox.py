"""Delivering the outbox: one worker per channel, retries with backoff, a dead one waits."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping

from alerts.channels import Channel, ChannelError, redact
from alerts.config import DeliveryConfig
from workflow.db import StoreBusy
from workflow.unit import WorkflowDb

log = logging.getLogger("heatwatch.alerts")


def backoff_ms(attempts: int, cfg: DeliveryConfig) -> int:
    """Exponential backoff after `attempts` failed tries, capped."""
    return int(min(cfg.retry_base_s * 2 ** max(attempts - 1, 0), cfg.retry_max_s) * 1000)


class Deliverer:
    """Sends due outbox rows; each channel runs in its own thread so a slow one delays itself."""

    def __init__(self, db: WorkflowDb, channels: Mapping[str, Channel],
                 cfg: DeliveryConfig, clock_ms: Callable[[], int]) -> None:
        self.db = db
        self.channels = dict(channels)
        self.cfg = cfg
        self.clock_ms = clock_ms
        self._busy: dict[str, threading.Thread] = {}
        self._lock = threading.Lock()
        self.sent = 0
        self.failed = 0

    def deliver_channel(self, name: str, now_ms: int) -> int:
        """Send this channel's due rows in order; stop at its first failure (it is down), or
        when the store is busy (the next round goes on: a row marked sending is re-sent with
        its dedup key)."""
        try:
            return self._deliver(name, now_ms)
        except StoreBusy as e:
            log.info("alerts: channel %s waits for the workflow store: %s", name, e)
            return 0

    def _deliver(self, name: str, now_ms: int) -> int:
        channel = self.channels.get(name)
        lease_ms = int((2 * self.cfg.timeout_s + 1) * 1000)  # past one send's timeout
        with self.db.unit(claim=True) as u:
            rows = u.outbox.claim(name, now_ms, self.cfg.batch, lease_ms)
        n = 0
        for row in rows:
            if channel is None:
                err = f"channel {name!r} is not configured"
            else:
                # the row is marked before the send: a crash after it re-sends with the
                # same dedup key, which the receiver drops (at-least-once + dedup = once)
                with self.db.unit(claim=True) as u:
                    if not u.outbox.start_sending(row, self.clock_ms() + lease_ms):
                        continue  # its lease ran out and another alerts service took it
                try:
                    channel.send(row)
                except ChannelError as e:
                    err = str(e)
                except Exception as e:  # noqa: BLE001 - a channel bug must not stop the others
                    err = f"{type(e).__name__}: {e}"
                else:
                    with self.db.unit() as u:
                        u.outbox.mark_sent(row.id, self.clock_ms())
                    self.sent += 1
                    n += 1
                    continue
            attempts = row.attempts + 1
            dead = self.cfg.max_attempts > 0 and attempts >= self.cfg.max_attempts
            self.failed += 1
            log.warning("alerts: channel %s: %s failed (attempt %d): %s", name, row.dedup_key,
                        attempts, redact(err))
            with self.db.unit() as u:
                u.outbox.mark_failed(row.id, now_ms + backoff_ms(attempts, self.cfg), err, dead)
                # a down channel: its later rows wait for the retry, not failing one by one
                for later in rows[rows.index(row) + 1:]:
                    u.outbox.mark_failed(later.id, now_ms + backoff_ms(attempts, self.cfg),
                                         "waiting: channel down", False)
            break
        return n

    def round(self, now_ms: int, wait: bool = True) -> None:
        """Start one delivery pass per channel with due rows (skipping channels still busy)."""
        threads = []
        for name in self.db.outbox.pending_channels(now_ms):
            with self._lock:
                running = self._busy.get(name)
                if running is not None and running.is_alive():
                    continue
                t = threading.Thread(target=self.deliver_channel, args=(name, now_ms),
                                     name=f"alerts-{name}", daemon=True)
                self._busy[name] = t
            t.start()
            threads.append(t)
        if wait:
            for t in threads:
                t.join()

    def join(self, timeout_s: float | None = None) -> None:
        with self._lock:
            threads = list(self._busy.values())
        for t in threads:
            t.join(timeout_s)

    def close(self) -> None:
        for ch in self.channels.values():
            ch.close()
