"""issue 20: each order's deadlines where an operator looks: every step's due time, done time
and late flag in `orders`, `orders show` and their `--json`, and the `--late` filter."""

from __future__ import annotations

from typing import Any

from alerts.kpi import timed
from alerts.service import AlertsService
from alerts.sla import is_late
from alerts.staff_text import printable
from workflow.orders import Order


def order_steps(svc: AlertsService, order_id: str, as_of_ms: int) -> list[dict[str, Any]]:
    """The order's deadlines, earliest due first; `late` as the KPI judges it (the residents'
    notice and the data's confirmation are shown but are not a crew's limit)."""
    rows = sorted(svc.db.deadlines.find(order_id), key=lambda r: (r.deadline.due_ms,
                                                                   r.deadline.step))
    t = svc.messenger.t
    return [{"step": r.deadline.step, "step_text": svc.messenger.templates.step_text(
                r.deadline.step), "due_ms": r.deadline.due_ms, "due": t(r.deadline.due_ms),
             "done_ms": r.done_ms, "done": t(r.done_ms) if r.done_ms is not None else None,
             "timed": timed(r.deadline),
             "late": is_late(r.deadline, r.done_ms, as_of_ms)}
            for r in rows]


def order_late(steps: list[dict[str, Any]]) -> bool:
    return any(s["late"] for s in steps if s["timed"])


def order_view(svc: AlertsService, o: Order, as_of_ms: int) -> dict[str, Any]:
    """An order as `--json` prints it: as stored, with its steps and its late flag."""
    steps = order_steps(svc, o.order_id, as_of_ms)
    pending = [s for s in steps if s["done_ms"] is None]
    return {**o.as_dict(), "steps": steps, "late": order_late(steps),
            "next_due_ms": pending[0]["due_ms"] if pending else None, "as_of_ms": as_of_ms}


def print_orders(svc: AlertsService, views: list[dict[str, Any]]) -> None:
    """One line per order; staff text reaches the operator's terminal: control characters
    are escaped."""
    t = svc.messenger.t
    print(f"{'order':10} {'kind':16} {'state':17} {'crew':10} {'owner':8} {'opened':11} "
          f"{'next due':11} {'late':4} address")
    for v in views:
        print(printable(f"{v['order_id']:10} {v['kind']:16} {v['state']:17} {v['crew']:10} "
                        f"{v['owner'] or '-':8} {t(v['opened_ms']):11} "
                        f"{t(v['next_due_ms']):11} {'LATE' if v['late'] else '-':4} "
                        f"{v['address']}"))


def print_order(svc: AlertsService, v: dict[str, Any], history: list[dict[str, Any]]) -> None:
    print(printable(f"{v['order_id']} {v['kind']} {v['state']} owner={v['owner'] or '-'}"
                    f"{' LATE' if v['late'] else ''}"))
    for s in v["steps"]:
        flag = "LATE" if s["late"] and s["timed"] else ("-" if s["timed"] else "(untimed)")
        print(f"  step {s['step']:22} due {s['due']:11} done {s['done'] or '-':11} {flag}")
    for h in history:
        # staff text reaches the operator's terminal: control characters escaped
        print(printable(f"  {svc.messenger.t(h['at_ms'])} {h['actor']}: {h['action']} "
                        f"{h['from_state']}->{h['to_state']} {h['note']}"))
