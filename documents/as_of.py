"""issue 20 item 6: the workflow as it was known at an instant, so a report (and `heatwatch
kpi --at`) for a past day says what was known then and a reprint equals what was mailed.

Incidents replay their event log up to the instant (a close recorded later is not yet a
close; a re-opening later does not undo an earlier close; details as last recorded then).
Orders replay their audit log (state and closing as of then); deadlines set later are left
out (a later round's, and the repair limit a later refutation set), and steps done later are
not done yet.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from alerts.kpi import OrderTiming
from alerts.lifecycle import CANCELLED, FINAL
from policy.service import STEP_FIXED, base_step
from workflow.incidents import Incident, IncidentEvent
from workflow.orders import Order
from workflow.unit import Repositories


def incidents_as_of(db: Repositories, as_of_ms: int) -> list[Incident]:
    """The incidents detected by the instant, each as it stood then."""
    events: dict[str, list[IncidentEvent]] = {}
    for e in db.incidents.events_until(as_of_ms):
        events.setdefault(e.key, []).append(e)
    out = []
    for i in db.incidents.find(include_closed=True):
        if i.detected_ms > as_of_ms:
            continue
        mine = events.get(i.key)
        if mine:
            last = mine[-1]
            closed = last.at_ms if last.event == "closed" else None
            i = dataclasses.replace(i, closed_ms=closed, details=last.details,
                                    updated_ms=min(i.updated_ms, as_of_ms))
        elif i.closed_ms is None or i.closed_ms > as_of_ms or i.updated_ms > as_of_ms:
            # no event log (an older file): only the close is known to have been later
            closed = i.closed_ms if i.closed_ms is not None and i.closed_ms <= as_of_ms \
                else None
            i = dataclasses.replace(i, closed_ms=closed, updated_ms=min(i.updated_ms, as_of_ms))
        out.append(i)
    return out


def _replayed(db: Repositories, as_of_ms: int) -> dict[str, list[tuple[int, str, str]]]:
    lines: dict[str, list[tuple[int, str, str]]] = {}
    for oid, at, action, state in db.orders.audit_until(as_of_ms):
        lines.setdefault(oid, []).append((at, action, state))
    return lines


def orders_as_of(db: Repositories, as_of_ms: int,
                 audit: dict[str, list[tuple[int, str, str]]] | None = None) -> list[Order]:
    """The orders opened by the instant, with the state and closing their audit gave then."""
    audit = _replayed(db, as_of_ms) if audit is None else audit
    out = []
    for o in db.orders.find(include_closed=True):
        if o.opened_ms > as_of_ms:
            continue
        lines = audit.get(o.order_id)
        if lines:
            at, _, state = lines[-1]
            o = Order(**{**o.as_dict(), "state": state,
                         "closed_ms": at if state in FINAL else None})
        elif o.closed_ms is not None and o.closed_ms > as_of_ms:
            o = Order(**{**o.as_dict(), "closed_ms": None})
        out.append(o)
    return out


def order_timings(db: Repositories, as_of_ms: int | None = None) -> list[OrderTiming]:
    """Every order with its deadlines, as `heatwatch kpi` counts them; with `as_of_ms`, as
    known then."""
    if as_of_ms is None:
        by_order: dict[str, list[Any]] = {}
        for d in db.deadlines.find():
            by_order.setdefault(d.deadline.order_id, []).append((d.deadline, d.done_ms))
        return [OrderTiming(o.order_id, o.crew, o.substation_id, o.started_ms,
                            tuple(by_order.get(o.order_id, ())))
                for o in db.orders.find(include_closed=True) if o.state != CANCELLED]
    audit = _replayed(db, as_of_ms)
    refuted = {oid: [at for at, action, _ in lines if action == "refute"]
               for oid, lines in audit.items()}
    known: dict[str, list[Any]] = {}
    for d in db.deadlines.find():
        dl = d.deadline
        if dl.start_ms > as_of_ms or (base_step(dl.step) == STEP_FIXED and not any(
                dl.start_ms <= at for at in refuted.get(dl.order_id, ()))):
            continue
        done = d.done_ms if d.done_ms is not None and d.done_ms <= as_of_ms else None
        known.setdefault(dl.order_id, []).append((dl, done))
    return [OrderTiming(o.order_id, o.crew, o.substation_id, o.started_ms,
                        tuple(known.get(o.order_id, ())))
            for o in orders_as_of(db, as_of_ms, audit) if o.state != CANCELLED]
