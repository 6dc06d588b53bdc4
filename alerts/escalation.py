"""Deadlines falling due: warn at a share of each limit, escalate again at breach."""

from __future__ import annotations

import threading

from alerts import verdict
from alerts.config import AlertsConfig
from alerts.lifecycle import FINAL, TO_CONFIRM
from alerts.messages import Messenger
from alerts.residents import SYSTEM, Residents
from alerts.sla import BREACH, STEP_NOTICE, DeadlineHeap, Mark
from policy.service import STEP_CONFIRM, base_step
from workflow.orders import Order
from workflow.unit import Repositories, WorkflowDb


class Escalation:
    """A heap of the next warn points and breaches, fed from the stored deadlines."""

    def __init__(self, cfg: AlertsConfig, db: WorkflowDb, messenger: Messenger,
                 residents: Residents, lock: threading.RLock) -> None:
        self.cfg = cfg
        self.db = db
        self.messenger = messenger
        self.residents = residents
        self.heap = DeadlineHeap(cfg.limits.escalation_share)
        self._heap_rowid = 0
        self._lock = lock
        self.refresh_heap()

    def refresh_heap(self) -> int:
        """Load deadlines added since the last look (at start, or by another process)."""
        rows = self.db.deadlines.added_since(self._heap_rowid)
        for rowid, r in rows:
            self._heap_rowid = max(self._heap_rowid, rowid)
            if r.done_ms is None and r.breached_ms is None:
                self.heap.add(r.deadline, warned=r.warned_ms is not None)
        return len(rows)

    def settled(self, order_id: str) -> None:
        """Drop the marks of the order's steps that are done (after a crew action)."""
        for d in self.db.deadlines.find(order_id):
            if d.done_ms is not None:
                self.heap.done(order_id, d.deadline.step)

    def sweep(self, now_ms: int) -> list[Mark]:
        """Escalate every warn point and breach due by now (heap: no rescan of all orders)."""
        fired = []
        with self._lock:
            self.refresh_heap()
            due = self.heap.due(now_ms)
            if not due:
                return []
            with self.db.unit() as u:  # one transaction for the whole sweep
                for m in due:
                    if self._fire(u, m, now_ms):
                        fired.append(m)
        return fired

    def _fire(self, u: Repositories, m: Mark, now_ms: int) -> bool:
        row = u.deadlines.get(m.order_id, m.step)
        # done by a crew through the CLI or another process since it was scheduled
        if row is None or row.done_ms is not None:
            return False
        if (row.breached_ms if m.mark == BREACH else row.warned_ms) is not None:
            return False
        order = u.orders.get(m.order_id)
        if order is None:
            return False
        u.deadlines.mark(m.order_id, m.step, m.mark == BREACH, now_ms)
        if base_step(m.step) == STEP_CONFIRM:
            # issue 20: the grace is over and the data still shows the fault: back to the crew
            if m.mark == BREACH and order.state == TO_CONFIRM:
                verdict.refute(u, self.messenger, order, row.deadline.due_ms, now_ms)
        elif m.step == STEP_NOTICE:
            self.residents.notify(u, order, now_ms)
        elif order.state not in FINAL:
            self._escalate(u, order, m, row.deadline.due_ms, now_ms)
        return True

    def _escalate(self, u: Repositories, order: Order, m: Mark, due_ms: int,
                  now_ms: int) -> None:
        kind = "escalation_breach" if m.mark == BREACH else "escalation_warn"
        u.orders.audit(order.order_id, now_ms, SYSTEM, kind, order.state, order.state,
                       f"{m.step} due {self.messenger.t(due_ms)}")
        self.messenger.to_supervisors(u.outbox, order, kind, m.step, now_ms, {
            "step_text": self.messenger.templates.step_text(m.step, order.kind),
            "due": self.messenger.t(due_ms),
            "share_pct": round(self.cfg.limits.escalation_share * 100)})
