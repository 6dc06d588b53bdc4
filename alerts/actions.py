"""Crew and dispatcher actions on an order: checked by the state machine, stored in one unit."""

from __future__ import annotations

import threading
from collections.abc import Callable

from alerts.escalation import Escalation
from alerts.lifecycle import (
    CREW_ACTIONS,
    FINAL,
    STATES,
    OrderError,
    OrderState,
    Transition,
    apply,
    needs_return_visit,
)
from alerts.messages import Messenger
from alerts.sla import return_visit_deadline
from alerts.staff_text import clean_note, one_line
from workflow.orders import Order, StaleOrder
from workflow.unit import Repositories, WorkflowDb


def machine(o: Order) -> OrderState:
    """What the state machine needs of a stored order."""
    return OrderState(o.order_id, o.kind, o.state, o.owner, o.crew, list(o.passed))


def apply_transition(u: Repositories, o: Order, t: Transition, at_ms: int) -> Order:
    """Store the new state and owner, settle the step's deadlines, append the audit line."""
    passed = [*o.passed, t.to_state] if t.to_state != t.from_state else o.passed
    new = Order(**{**o.as_dict(), "state": t.to_state, "owner": t.owner, "updated_ms": at_ms,
                   "passed": passed})
    if t.to_state == "resolved":
        new.resolved_ms = at_ms
    if t.to_state in FINAL:
        new.closed_ms = at_ms
    u.orders.set_state(new, was=o)
    if t.to_state == "cancelled":
        u.deadlines.settle(o.order_id, None, at_ms)
    else:
        # reaching a later state also settles the earlier steps it skipped
        u.deadlines.settle(o.order_id, STATES[:STATES.index(t.to_state) + 1], at_ms)
    u.orders.audit(o.order_id, at_ms, t.actor, t.action, t.from_state, t.to_state, t.note)
    return new


class CrewActions:
    """accept, contact, arrive, resolve (crews); visit, close, cancel, reassign (dispatch)."""

    def __init__(self, db: WorkflowDb, messenger: Messenger, escalation: Escalation,
                 clock_ms: Callable[[], int], lock: threading.RLock) -> None:
        self.db = db
        self.messenger = messenger
        self.escalation = escalation
        self.clock_ms = clock_ms
        self._lock = lock
        self.max_note = messenger.cfg.http.max_note_chars

    def act(self, order_id: str, action: str, actor: str, note: str = "",
            at_ms: int | None = None, crew_id: str | None = None,
            new_owner: str = "") -> Order:
        """One crew or dispatcher action; refused with OrderError (one clear line)."""
        now_ms = self.clock_ms() if at_ms is None else at_ms
        with self._lock, self.db.unit() as u:
            # read under the write lock: another process's change is either before or after
            order = u.orders.get(order_id)
            if order is None:
                raise OrderError(f"no order {order_id!r}")
            if crew_id is not None and crew_id != order.crew:
                raise OrderError(f"order {order_id} belongs to crew {order.crew}, not {crew_id}")
            if action in CREW_ACTIONS and not actor:
                raise OrderError(f"{action} needs the crew member's name")
            t = apply(machine(order), action, actor, clean_note(note, self.max_note), new_owner)
            try:
                new = apply_transition(u, order, t, now_ms)
            except StaleOrder as e:
                raise OrderError(str(e)) from None
            if t.to_state == "resolved" and needs_return_visit(order.kind):
                rv = return_visit_deadline(order_id, now_ms, self.messenger.cfg.limits)
                u.deadlines.add(rv)
                self.messenger.to_crew(u.outbox, new, "return_visit", "resolved", now_ms, {
                    "due": self.messenger.t(rv.due_ms), "what": one_line(t.note) or order.summary})
        with self._lock:
            self.escalation.settled(order_id)
            self.escalation.refresh_heap()
            return new
