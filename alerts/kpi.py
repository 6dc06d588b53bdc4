"""Repair timeliness (维修及时率): orders whose every timed step met its limit, per group."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from zoneinfo import ZoneInfo

from alerts.sla import Deadline, is_late
from policy.service import UNTIMED_STEPS, ServiceLimits, base_step


@dataclass(frozen=True, slots=True)
class OrderTiming:
    """An order's group keys and its deadlines with when each was done (None: not yet)."""

    order_id: str
    crew: str
    substation_id: str
    started_ms: int
    steps: tuple[tuple[Deadline, int | None], ...]


@dataclass(frozen=True, slots=True)
class Timeliness:
    """One KPI row; `rate_pct` is rounded to 0.1 % half up, as reported."""

    group: str
    orders: int
    late: int
    target: float

    @property
    def rate(self) -> float:
        return 1.0 if self.orders == 0 else (self.orders - self.late) / self.orders

    @property
    def rate_pct(self) -> Decimal:
        if self.orders == 0:
            return Decimal("100.0")
        exact = Decimal(self.orders - self.late) * 100 / Decimal(self.orders)
        return exact.quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)

    @property
    def meets(self) -> bool:
        # seed: repair timeliness >= 99 % (compare exactly, not the rounded figure)
        return (self.orders - self.late) * 1_000_000 >= round(self.target * 1_000_000) * \
            self.orders


def timed(d: Deadline) -> bool:
    """A crew's service limit (the residents' notice and the data's confirmation are not)."""
    return base_step(d.step) not in UNTIMED_STEPS


def order_late(o: OrderTiming, as_of_ms: int) -> bool:
    """Late if any timed step was done after its due time or is overdue and not done."""
    return any(is_late(d, done, as_of_ms) for d, done in o.steps if timed(d))


def decided(o: OrderTiming, as_of_ms: int) -> bool:
    """Counted once every timed step is done or overdue (an order still in time is pending)."""
    return all(done is not None or as_of_ms > d.due_ms
               for d, done in o.steps if timed(d))


def period_of(ms: int, period: str, tz: ZoneInfo) -> str:
    t = dt.datetime.fromtimestamp(ms / 1000, tz)
    if period == "day":
        return t.strftime("%Y-%m-%d")
    if period == "month":
        return t.strftime("%Y-%m")
    if period == "week":
        y, w, _ = t.isocalendar()
        return f"{y}-W{w:02d}"
    return "all"


def timeliness(orders: Iterable[OrderTiming], as_of_ms: int, group_by: str = "all",
               period: str = "all", target: float | None = None,
               tz: str = "Asia/Shanghai") -> list[Timeliness]:
    """Timeliness per crew / substation / all, and per period (day, week, month, all),
    against the city's target (`ServiceLimits.timeliness_target` unless given)."""
    target = ServiceLimits().timeliness_target if target is None else target
    zone = ZoneInfo(tz)
    counts: dict[str, list[int]] = {}
    for o in orders:
        if not o.steps or not decided(o, as_of_ms):
            continue
        key = {"crew": o.crew, "substation": o.substation_id}.get(group_by, "all")
        if period != "all":
            key = f"{key} {period_of(o.started_ms, period, zone)}"
        c = counts.setdefault(key, [0, 0])
        c[0] += 1
        c[1] += int(order_late(o, as_of_ms))
    return [Timeliness(k, n, late, target) for k, (n, late) in sorted(counts.items())]
