"""issue 20: an order is done when the data says so.

A crew's resolution of an order whose incident is still open waits (待确认) until the incident
closes (confirmed: the return visit is due from then) or its grace period ends (refuted: the
order goes back to its crew, its repair limit still running). A re-opened incident reopens a
done order with a new round of deadlines (README: Work orders). Every step is audited and
told to the crew and the supervisors.
"""

from __future__ import annotations

from alerts.lifecycle import (
    FINAL,
    STATES,
    OrderState,
    Transition,
    back_to_crew_state,
    needs_return_visit,
    system_move,
)
from alerts.messages import Messenger
from alerts.residents import SYSTEM
from alerts.sla import Deadline, deadlines_for, return_visit_deadline
from policy.service import (
    STEP_CONFIRM,
    STEP_FIXED,
    UNTIMED_STEPS,
    ServiceLimits,
    base_step,
    confirm_due_ms,
    round_step,
    step_round,
)
from workflow.orders import DeadlineRow, Order
from workflow.unit import Repositories


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


def current_round(u: Repositories, order_id: str) -> int:
    """The order's round: 1, plus one per reopening (its deadlines carry the number)."""
    return max((step_round(r.deadline.step) for r in u.deadlines.find(order_id)), default=1)


def start_confirmation(u: Repositories, order: Order, incident_kind: str, at_ms: int,
                       limits: ServiceLimits) -> Deadline:
    """The crew resolved while the incident is open: the data has until the grace's end."""
    n = current_round(u, order.order_id)
    d = Deadline(order.order_id, round_step(STEP_CONFIRM, n), at_ms,
                 confirm_due_ms(incident_kind, at_ms, limits))
    u.deadlines.add(d)
    return d


def fixed(u: Repositories, order: Order, fixed_ms: int) -> None:
    """The data shows the fault gone: the waiting confirmation and any running fix limit are
    done at that instant; the return visit (if the kind has one) is due from it."""
    rows = [r for r in u.deadlines.find(order.order_id) if r.done_ms is None and
            base_step(r.deadline.step) in (STEP_CONFIRM, STEP_FIXED)]
    for r in rows:
        u.deadlines.settle(order.order_id, [r.deadline.step], fixed_ms)


def return_visit(u: Repositories, m: Messenger, order: Order, fixed_ms: int, now_ms: int,
                 what: str) -> None:
    """seed: the return visit 48 h after the fix (issue 20: the confirmed fix)."""
    if not needs_return_visit(order.kind):
        return
    n = current_round(u, order.order_id)
    rv = return_visit_deadline(order.order_id, fixed_ms, m.cfg.limits)
    rv = Deadline(rv.order_id, round_step(rv.step, n), rv.start_ms, rv.due_ms)
    u.deadlines.add(rv)
    m.to_crew(u.outbox, order, "return_visit", round_step("resolved", n), now_ms,
              {"due": m.t(rv.due_ms), "what": what or order.summary})


def confirm(u: Repositories, m: Messenger, order: Order, closed_ms: int,
            now_ms: int) -> Order:
    """The incident closed while the order waited: the fix is confirmed at the close."""
    t = system_move(machine(order), "confirm", "resolved", SYSTEM,
                    f"数据确认故障已消除 {m.t(closed_ms)}")
    new = apply_transition(u, order, t, closed_ms)
    fixed(u, order, closed_ms)
    return_visit(u, m, new, closed_ms, now_ms, "")
    return new


def refute(u: Repositories, m: Messenger, order: Order, due_ms: int, now_ms: int) -> Order:
    """The grace ended with the incident still open: back to the crew, the limit running."""
    n = current_round(u, order.order_id)
    t = system_move(machine(order), "refute", back_to_crew_state(machine(order)), SYSTEM,
                    f"数据确认截止 {m.t(due_ms)} 故障仍在，退回班组")
    new = _reopened(u, order, t, now_ms)
    limit = _repair_limit(u.deadlines.find(order.order_id), n)
    if limit is not None:
        # its limit keeps running: the fault gone by the round's last timed step's due time
        d = Deadline(order.order_id, round_step(STEP_FIXED, n), limit.start_ms, limit.due_ms)
        u.deadlines.add(d)
        if now_ms > d.due_ms:  # already late: the supervisor is told below, not twice
            u.deadlines.mark(order.order_id, d.step, False, now_ms)
            u.deadlines.mark(order.order_id, d.step, True, now_ms)
    _tell(u, m, new, round_step("refute", n), now_ms,
          "处理后数据显示故障仍在，工单退回", limit.due_ms if limit else None)
    return new


def reopen(u: Repositories, m: Messenger, order: Order, base_ms: int, now_ms: int) -> Order:
    """The incident came back after the order was done: a new round of deadlines."""
    n = current_round(u, order.order_id) + 1
    t = system_move(machine(order), "reopen", back_to_crew_state(machine(order)), SYSTEM,
                    f"故障复发（{m.t(base_ms)}），工单重开")
    new = _reopened(u, order, t, now_ms)
    new.closed_ms = None
    u.orders.set_state(new)
    due = None
    for d in deadlines_for(order.order_id, order.kind, base_ms, m.cfg.limits):
        u.deadlines.add(Deadline(d.order_id, round_step(d.step, n), d.start_ms, d.due_ms))
        due = d.due_ms if due is None else max(due, d.due_ms)
    _tell(u, m, new, round_step("reopen", n), now_ms, "故障复发，工单重开", due)
    return new


def _reopened(u: Repositories, order: Order, t: Transition, now_ms: int) -> Order:
    keep = STATES.index(t.to_state)
    new = Order(**{**order.as_dict(), "state": t.to_state, "updated_ms": now_ms,
                   "resolved_ms": None,
                   "passed": [s for s in order.passed if s in STATES[:keep + 1]]})
    u.orders.set_state(new, was=order)
    u.orders.audit(order.order_id, now_ms, t.actor, t.action, t.from_state, t.to_state, t.note)
    return new


def _repair_limit(rows: list[DeadlineRow], n: int) -> Deadline | None:
    """The round's last timed step (on site, or the opinion's resolution)."""
    timed = [r.deadline for r in rows if step_round(r.deadline.step) == n and
             base_step(r.deadline.step) not in (*UNTIMED_STEPS, STEP_FIXED) and
             not base_step(r.deadline.step).startswith("return_visit")]
    return max(timed, key=lambda d: d.due_ms, default=None)


def _tell(u: Repositories, m: Messenger, order: Order, step: str, now_ms: int, why: str,
          due_ms: int | None) -> None:
    """The crew (each member's own link) and the supervisors hear why it came back."""
    extra = {"why": why, "due": m.t(due_ms) if due_ms is not None else "立即处理"}
    m.to_crew(u.outbox, order, "order_reopened", step, now_ms, extra)
    m.to_supervisors(u.outbox, order, "order_reopened", step, now_ms, extra)
