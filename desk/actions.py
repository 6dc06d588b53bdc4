"""What staff do with a taken call: resolve it (result and reply), the return visit with the
satisfaction, a recorded reassignment. 首问责任制: only the owner acts on a call; a supervisor
may reassign it. Every refusal is audited with the person's name."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from desk.measured import reply_with_record
from policy.calls import REPAIR_KINDS, SATISFACTION
from policy.service import STEP_RETURN_VISIT, ServiceLimits, base_step, return_visit_due_ms
from workflow.calls import Call, CallConflict
from workflow.unit import Repositories, WorkflowDb

ACTIONS = ("resolve", "visit", "reassign")
# issue 22: the reply to these calls quotes the household's measurement record
QUOTES_MEASUREMENT = ("temperature", "complaint")


class ActionRefused(Exception):
    """An action the rules do not allow; one line, audited."""


@dataclass(slots=True)
class Act:
    """One action on one call, as asked."""

    call_id: str
    action: str
    by: str
    at_ms: int
    result: str = ""
    reply: str = ""
    satisfaction: str = ""
    to: str = ""
    tz: str = "Asia/Shanghai"  # the local time a refusal states


def act(db: WorkflowDb, a: Act, crews: ServiceLimits | None = None) -> Call:
    """Apply the action; a refusal is audited (in its own unit) and raised. `crews`: the
    service limits (the return visit after a repair is theirs)."""
    try:
        with db.unit() as u:
            call = _apply(u, a, crews or ServiceLimits())
            u.staff.audit(a.at_ms, a.by, a.action, a.call_id, True, call.state)
            return call
    except (ActionRefused, CallConflict) as e:
        with db.unit() as u:
            u.staff.audit(a.at_ms, a.by, a.action, a.call_id, False, str(e))
        raise ActionRefused(str(e)) from None


def _apply(u: Repositories, a: Act, limits: ServiceLimits) -> Call:
    if a.action not in ACTIONS:
        raise ActionRefused(f"unknown action {a.action!r} (known: {', '.join(ACTIONS)})")
    call = u.calls.get(a.call_id)
    if call is None:
        raise ActionRefused(f"no call {a.call_id!r}")
    person = u.staff.get(a.by)
    if person is None or not person.active:
        raise ActionRefused(f"unknown staff member {a.by!r}")
    if not call.is_open:
        raise ActionRefused(f"call {call.call_id} is {call.state}")
    if a.action == "reassign":
        return _reassign(u, call, a, person.role)
    if call.owner != a.by:
        raise ActionRefused(f"call {call.call_id} belongs to {call.owner} (首问责任制); "
                            "ask a supervisor to reassign it")
    if a.action == "resolve":
        return _resolve(u, call, a, limits)
    return _visit(u, call, a, limits)


def _reassign(u: Repositories, call: Call, a: Act, role: str) -> Call:
    if call.owner != a.by and role != "supervisor":
        raise ActionRefused(f"call {call.call_id} belongs to {call.owner}; only its owner or a "
                            "supervisor reassigns it")
    target = u.staff.get(a.to)
    if target is None or not target.active:
        raise ActionRefused(f"cannot reassign to unknown staff member {a.to!r}")
    u.calls.change(call, {"owner": a.to}, a.at_ms)
    u.calls.audit(call.call_id, a.at_ms, a.by, "reassign", call.state, call.state,
                  f"{call.owner} -> {a.to}")
    call.owner = a.to
    return call


def _resolve(u: Repositories, call: Call, a: Act, limits: ServiceLimits) -> Call:
    if call.state != "open":
        raise ActionRefused(f"call {call.call_id} is already resolved")
    if not a.result.strip() or not a.reply.strip():
        raise ActionRefused("a call is resolved with its result and the reply given to the "
                            "resident (--result, --reply)")
    repair = call.kind in REPAIR_KINDS
    reply = reply_with_record(u, call.account_id, call.received_ms, a.reply) \
        if call.kind in QUOTES_MEASUREMENT else a.reply
    changes: dict[str, object] = {"result": a.result, "reply": reply, "resolved_ms": a.at_ms}
    if repair:  # seed: a return visit after the fix, with the satisfaction
        changes.update(state="resolved", visit_due_ms=return_visit_due_ms(a.at_ms, limits))
    else:
        changes.update(state="closed", closed_ms=a.at_ms)
    u.calls.change(call, changes, a.at_ms)
    u.calls.audit(call.call_id, a.at_ms, a.by, "resolve", call.state, str(changes["state"]),
                  a.result)
    got = u.calls.get(call.call_id)
    assert got is not None
    return got


def visit_due_ms(u: Repositories, call: Call) -> int | None:
    """When the return visit may be made: 48 h after the fix (the seed's), from the fix of
    the call's order as the data confirmed it (its return-visit deadline) when there is one,
    else from the call's resolution."""
    rows = [r for r in u.deadlines.find(call.order_id) if base_step(r.deadline.step)
            == STEP_RETURN_VISIT] if call.order_id else []
    dues = [r.deadline.due_ms for r in rows] + ([call.visit_due_ms] if call.visit_due_ms else [])
    return max(dues, default=None)


def _visit(u: Repositories, call: Call, a: Act, limits: ServiceLimits) -> Call:
    if call.state != "resolved":
        raise ActionRefused(f"call {call.call_id}: the return visit follows the fix (resolve "
                            "first)")
    due = visit_due_ms(u, call)
    if due is not None and a.at_ms < due:
        at = dt.datetime.fromtimestamp(due / 1000, ZoneInfo(a.tz)).strftime("%Y-%m-%d %H:%M")
        raise ActionRefused(f"回访时间未到：维修完成{limits.return_visit_h:g}小时后回访，"
                            f"最早 {at}")
    if a.satisfaction not in SATISFACTION:
        raise ActionRefused(f"satisfaction is one of {' / '.join(SATISFACTION)}")
    u.calls.change(call, {"satisfaction": a.satisfaction, "state": "closed",
                          "closed_ms": a.at_ms}, a.at_ms)
    u.calls.audit(call.call_id, a.at_ms, a.by, "visit", call.state, "closed", a.satisfaction)
    got = u.calls.get(call.call_id)
    assert got is not None
    return got
