"""The control room's series: open, late and escalated orders per crew and station
(work_orders), and the residents' calls (calls, calls_due: alerts/calls_series.py)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from typing import Final

from alerts.calls_series import call_readings
from alerts.lifecycle import FINAL
from alerts.sla import STEP_NOTICE, is_late
from district.readings import FieldValue, Reading
from storage.base import Store, StoreError
from workflow.orders import DeadlineRow, Order
from workflow.unit import WorkflowDb

log = logging.getLogger("heatwatch.alerts")
WORK_ORDERS: Final = "work_orders"
# docs/rules.md: the control room sees which work orders are late; a minute is fresh
# enough for a wall
SERIES_EVERY_S: Final = 60.0


def work_order_readings(orders: Sequence[Order], deadlines: Sequence[DeadlineRow],
                        now_ms: int) -> list[Reading]:
    """Per crew and substation as of now_ms: open, late and escalated orders, and all ever late."""
    steps: dict[str, list[DeadlineRow]] = {}
    for d in deadlines:
        # the resident notice is the company's deadline, not a crew step
        if d.deadline.step != STEP_NOTICE:
            steps.setdefault(d.deadline.order_id, []).append(d)
    counts: dict[tuple[str, str], dict[str, FieldValue]] = {}
    for o in orders:
        c = counts.setdefault((o.crew, o.substation_id),
                              {"open": 0, "late": 0, "escalated": 0, "breached_total": 0})
        if o.state == "cancelled":
            continue
        mine = steps.get(o.order_id, [])
        # seed: repair timeliness counts an order late when any step missed its limit
        if any(is_late(d.deadline, d.done_ms, now_ms) for d in mine):
            c["breached_total"] += 1
        if o.state in FINAL:
            continue
        c["open"] += 1
        pending = [d for d in mine if d.done_ms is None]
        c["late"] += int(any(now_ms > d.deadline.due_ms for d in pending))
        # issue 5: warned at 80 % of a limit and that step still not done
        c["escalated"] += int(any(d.warned_ms is not None for d in pending))
    return [Reading(WORK_ORDERS, {"crew": crew, "substation_id": sid},
                    c, now_ms)
            for (crew, sid), c in sorted(counts.items())]


class SeriesWriter:
    """Writes the work_orders and calls points at most once per interval to the readings
    store."""

    def __init__(self, db: WorkflowDb, store: Store | None, every_s: float,
                 lock: threading.RLock, tz: str = "Asia/Shanghai") -> None:
        self.db = db
        self.tz = tz
        self.store = store  # None: the series is not written
        self._every_ms = max(1, round(every_s * 1000))
        self._bucket: int | None = None
        self._lock = lock

    def write(self, now_ms: int) -> int:
        """The work_orders and calls points as of now_ms, at most once per interval; how many
        written."""
        bucket = now_ms // self._every_ms
        if self.store is None or bucket == self._bucket:
            return 0
        with self._lock:
            points = work_order_readings(self.db.orders.find(include_closed=True),
                                         self.db.deadlines.find(), now_ms)
            points += call_readings(self.db.calls.find(include_closed=True), now_ms, self.tz)
        try:
            if points:
                self.store.write(points)
        except StoreError as e:
            # the dashboard can wait; orders and escalations must not: try again next step
            log.warning("alerts: work_orders and calls series not written: %s", e)
            return 0
        self._bucket = bucket
        return len(points)
