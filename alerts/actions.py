"""Crew and dispatcher actions on an order: checked by the state machine, stored in one unit."""
from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import replace

from alerts import verdict
from alerts.escalation import Escalation
from alerts.lifecycle import (
    CREW_ACTIONS,
    TO_CONFIRM,
    OrderError,
    apply,
)
from alerts.messages import Messenger
from alerts.staff_text import clean_note, one_line

# machine and apply_transition live in alerts/verdict.py (the data's verdicts use them too)
from alerts.verdict import apply_transition as apply_transition
from alerts.verdict import machine as machine
from workflow.estimates import Estimate
from workflow.orders import Order, StaleOrder
from workflow.unit import WorkflowDb

# what can be restored: an estimate of when belongs to these incidents only
RESTORED_KINDS = ("outage", "building_outage", "leak")


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
            inc = u.incidents.get(order.incident_key)
            waits = (t.to_state == "resolved" and order.kind != "opinion" and
                     inc is not None and inc.closed_ms is None)
            if waits:
                # issue 20: done when the data says so; until then 待确认
                t = replace(t, to_state=TO_CONFIRM)
            try:
                new = apply_transition(u, order, t, now_ms)
            except StaleOrder as e:
                raise OrderError(str(e)) from None
            if waits and inc is not None:
                verdict.start_confirmation(u, new, inc.kind, now_ms, self.messenger.cfg.limits)
            elif t.to_state == "resolved":
                # the data already shows it gone: the fix is the crew's
                verdict.fixed(u, new, now_ms)
                verdict.return_visit(u, self.messenger, new, now_ms, now_ms, one_line(t.note))
        with self._lock:
            self.escalation.settled(order_id)
            self.escalation.refresh_heap()
            return new

    def estimate(self, order_id: str, restore_ms: int, actor: str,
                 at_ms: int | None = None) -> Estimate:
        """Dispatch's expected restoration of an order's outage or leak (the desk's card and
        the residents' notice say it); audited on the order."""
        now_ms = self.clock_ms() if at_ms is None else at_ms
        with self._lock, self.db.unit() as u:
            order = u.orders.get(order_id)
            if order is None:
                raise OrderError(f"no order {order_id!r}")
            inc = u.incidents.get(order.incident_key)
            if inc is None or inc.kind not in RESTORED_KINDS:
                raise OrderError(f"order {order_id} is not for an outage or a leak: nothing to "
                                 "restore")
            if inc.closed_ms is not None:
                raise OrderError(f"order {order_id}: its {inc.kind} is restored already")
            if restore_ms <= now_ms:
                raise OrderError("the expected restoration must be later than now")
            if not actor:
                raise OrderError("estimate needs the dispatcher's name (--actor)")
            e = Estimate(inc.key, restore_ms, actor, now_ms)
            u.estimates.put(e)
            u.orders.audit(order_id, now_ms, actor, "estimate", order.state, order.state,
                           f"预计恢复 {self.messenger.t(restore_ms)}")
        return e
