"""The control room's calls series: residents' calls per substation and kind, and the open
complaints by the day they are due (issue 21). Read from the workflow file, written beside
work_orders by the same best-effort writer (alerts/series.py).

Grafana reads InfluxDB (or the SQLite store's points), never the workflow file: the calls
reach the dashboard as points, like the orders do.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Final
from zoneinfo import ZoneInfo

from district.readings import FieldValue, Reading
from workflow.calls import Call

CALLS: Final = "calls"
CALLS_DUE: Final = "calls_due"
# the kinds answered within working days whose due day the control room follows
DUE_DAY_KINDS: Final = ("complaint", "report")
# a due day keeps being written (as 0) this long after its last call closed, so its latest
# point says 0 and not the count it had while open
KEEP_CLOSED_MS: Final = 24 * 3_600_000


def _per_substation(calls: Sequence[Call], now_ms: int) -> list[Reading]:
    """Per substation and kind: open calls, open ones past their due time, all ever taken."""
    counts: dict[tuple[str, str], dict[str, FieldValue]] = {}
    for c in calls:
        n = counts.setdefault((c.substation_id or "-", c.kind),
                              {"open": 0, "overdue": 0, "total": 0})
        n["total"] += 1
        if c.is_open:
            n["open"] += 1
            n["overdue"] += int(c.due_ms is not None and now_ms > c.due_ms)
    return [Reading(CALLS, {"substation_id": sid, "kind": kind}, n, now_ms)
            for (sid, kind), n in sorted(counts.items())]


def _by_due_day(calls: Sequence[Call], now_ms: int, tz: ZoneInfo) -> list[Reading]:
    """Per due day and kind: the open complaints and reports due that day (0 for a day whose
    last one closed within KEEP_CLOSED_MS)."""
    days: dict[tuple[str, str], dict[str, FieldValue]] = {}
    today = dt.datetime.fromtimestamp(now_ms / 1000, tz).date()
    for c in calls:
        if c.kind not in DUE_DAY_KINDS or c.due_ms is None:
            continue
        recent = c.closed_ms is not None and now_ms - c.closed_ms <= KEEP_CLOSED_MS
        if not (c.is_open or recent):
            continue
        day = dt.datetime.fromtimestamp(c.due_ms / 1000, tz).date()
        n = days.setdefault((day.isoformat(), c.kind), {"open": 0, "overdue": 0})
        if c.is_open:
            n["open"] += 1
            n["overdue"] += int(day < today)
    return [Reading(CALLS_DUE, {"due_day": day, "kind": kind}, n, now_ms)
            for (day, kind), n in sorted(days.items())]


def call_readings(calls: Sequence[Call], now_ms: int, tz: str = "Asia/Shanghai"
                  ) -> list[Reading]:
    """The calls' points as of now_ms (every call, open or closed, in `calls`)."""
    return _per_substation(calls, now_ms) + _by_due_day(calls, now_ms, ZoneInfo(tz))
