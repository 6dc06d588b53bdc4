"""Service-time arithmetic: deadlines per step, escalation marks, a heap of what falls due next."""

from __future__ import annotations

import heapq
from dataclasses import dataclass

from alerts.config import LimitsConfig
from workflow.orders import Deadline as Deadline  # the stored record; sla does its arithmetic

MINUTE_MS = 60_000
HOUR_MS = 3_600_000

# The steps a deadline can sit on (the state an order must reach in time).
STEP_CONTACTED = "contacted"
STEP_ON_SITE = "on_site"
STEP_RESOLVED = "resolved"
STEP_RETURN_VISIT = "return_visit_done"
STEP_NOTICE = "notice"  # an outage's resident notice, not a crew step

WARN = "warn"
BREACH = "breach"


def step_limits_ms(order_kind: str, limits: LimitsConfig) -> dict[str, int]:
    """The limit of each timed step of an order kind, from the incident's start."""
    contact = round(limits.contact_min * MINUTE_MS)
    on_site = round(limits.on_site_min * MINUTE_MS)
    if order_kind == "urgent":
        # seed: leaks on site within 30 min
        return {STEP_ON_SITE: round(limits.leak_on_site_min * MINUTE_MS)}
    if order_kind == "opinion":
        # seed: heating station asked by dispatch: handling opinion within 1 h
        return {STEP_RESOLVED: round(limits.station_opinion_min * MINUTE_MS)}
    # seed: any other repair: contact within 30 min, on site within 2 h
    return {STEP_CONTACTED: contact, STEP_ON_SITE: on_site}


def deadlines_for(order_id: str, order_kind: str, started_ms: int,
                  limits: LimitsConfig) -> list[Deadline]:
    """Deadlines of a new order; issue 5: they run from the incident's start, not its detection."""
    return [Deadline(order_id, step, started_ms, started_ms + lim)
            for step, lim in step_limits_ms(order_kind, limits).items()]


def return_visit_deadline(order_id: str, resolved_ms: int, limits: LimitsConfig) -> Deadline:
    """seed: a return visit 48 h after the repair is done."""
    return Deadline(order_id, STEP_RETURN_VISIT, resolved_ms,
                    resolved_ms + round(limits.return_visit_h * HOUR_MS))


def is_late(d: Deadline, done_ms: int | None, as_of_ms: int) -> bool:
    """Late when done after the due time, or not done and the due time has passed."""
    if done_ms is not None:
        return done_ms > d.due_ms
    return as_of_ms > d.due_ms


@dataclass(frozen=True, slots=True, order=True)
class Mark:
    """An instant at which a deadline needs attention: its warn point or its breach."""

    at_ms: int
    order_id: str
    step: str
    mark: str  # WARN | BREACH


class DeadlineHeap:
    """Next marks first; done steps are dropped lazily when they surface (no rescans)."""

    def __init__(self, share: float) -> None:
        self.share = share
        self._heap: list[Mark] = []
        self._done: set[tuple[str, str]] = set()
        self._fired: set[tuple[str, str, str]] = set()

    def __len__(self) -> int:
        return len(self._heap)

    def add(self, d: Deadline, warned: bool = False, breached: bool = False) -> None:
        """Schedule a deadline's marks; those already fired (after a restart) are skipped."""
        self._done.discard((d.order_id, d.step))
        if not warned and d.step != STEP_NOTICE:
            heapq.heappush(self._heap, Mark(d.warn_ms(self.share), d.order_id, d.step, WARN))
        if not breached:
            heapq.heappush(self._heap, Mark(d.due_ms, d.order_id, d.step, BREACH))

    def done(self, order_id: str, step: str) -> None:
        """The step happened (or the order ended): its remaining marks will not fire."""
        self._done.add((order_id, step))

    def due(self, now_ms: int) -> list[Mark]:
        """Pop every live mark at or before now, oldest first."""
        out = []
        while self._heap and self._heap[0].at_ms <= now_ms:
            m = heapq.heappop(self._heap)
            key = (m.order_id, m.step, m.mark)
            if (m.order_id, m.step) in self._done or key in self._fired:
                continue
            self._fired.add(key)
            out.append(m)
        return out

    def next_ms(self) -> int | None:
        """When the next mark falls due (the loop may sleep until then)."""
        return self._heap[0].at_ms if self._heap else None
