"""Service-time arithmetic: deadlines per step, escalation marks, a heap of what falls due next."""

from __future__ import annotations

import heapq
from dataclasses import dataclass

from policy import service
from policy.service import (
    HOUR_MS,
    MINUTE_MS,
    STEP_CONTACTED,
    STEP_NOTICE,
    STEP_ON_SITE,
    STEP_RESOLVED,
    STEP_RETURN_VISIT,
    ServiceLimits,
)
from workflow.orders import Deadline as Deadline  # the stored record; sla does its arithmetic

# the steps and units are the policy's; alerts' modules take them from here
__all__ = ["BREACH", "HOUR_MS", "MINUTE_MS", "STEP_CONTACTED", "STEP_NOTICE", "STEP_ON_SITE",
           "STEP_RESOLVED", "STEP_RETURN_VISIT", "WARN", "Deadline", "DeadlineHeap", "Mark",
           "deadlines_for", "is_late", "return_visit_deadline"]

WARN = "warn"
BREACH = "breach"


def deadlines_for(order_id: str, order_kind: str, clock_ms: int,
                  limits: ServiceLimits) -> list[Deadline]:
    """Deadlines of a new order, each step's limit (the policy's) from when its clock starts."""
    return [Deadline(order_id, step, clock_ms, due)
            for step, due in service.step_due_ms(order_kind, clock_ms, limits).items()]


def return_visit_deadline(order_id: str, resolved_ms: int, limits: ServiceLimits) -> Deadline:
    """seed: a return visit 48 h after the repair is done (the policy's limit)."""
    return Deadline(order_id, STEP_RETURN_VISIT, resolved_ms,
                    service.return_visit_due_ms(resolved_ms, limits))


def is_late(d: Deadline, done_ms: int | None, as_of_ms: int) -> bool:
    """A stored deadline late by the policy's rule (done after due, or not done and past)."""
    return service.is_late(d.due_ms, done_ms, as_of_ms)


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
        if not warned and service.base_step(d.step) not in service.UNTIMED_STEPS:
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
