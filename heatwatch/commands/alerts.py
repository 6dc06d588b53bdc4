"""`heatwatch alerts | orders | notices | kpi`: Config in, exit code out."""

from __future__ import annotations

import argparse
import json
import signal
import threading
from collections.abc import Callable

from alerts.kpi import OrderTiming, timeliness
from alerts.lifecycle import OrderError, state_text
from alerts.service import AlertsService, run_loop
from documents import as_of
from heatwatch import bootstrap
from heatwatch.config import Config
from heatwatch.orders_view import order_view, print_order, print_orders


class AlertsCliError(Exception):
    """A user mistake in an alerts command; printed as one line."""


def alerts_command(cfg: Config, once: bool, at: float | None) -> int:
    """`heatwatch alerts [--once] [--at T]`: the service loop, or one pass as of T."""
    # the work_orders series for the control-room wall goes to the readings store
    opened = bootstrap.open_store(cfg)
    try:
        svc = bootstrap.alerts_service(cfg, opened.store, daily_jobs=True)
        stop = threading.Event()
        if not once:
            for sig in (signal.SIGINT, signal.SIGTERM):
                signal.signal(sig, lambda *_: stop.set())
            return run_loop(svc, stop)
        at_ms = svc.clock_ms() if at is None else int(at * 1000)
        svc.step(at_ms, wait=True)
        svc.close()
    finally:
        opened.store.close()
    open_orders = svc.db.orders.find()
    print(f"alerts as of {svc.messenger.t(at_ms)}: {len(open_orders)} open orders, "
          f"{len(svc.db.notices.find())} notices, {len(svc.db.outbox.find('pending'))} messages "
          "waiting")
    return 0


def orders_command(cfg: Config, action: str | None, order_id: str | None, note: str,
                   actor: str, all_: bool, json_: bool, at: float | None = None,
                   new_owner: str = "", late: bool = False,
                   restore_at: float | None = None) -> int:
    """`heatwatch orders [--all] [--late] [--json] [--at T]` (each step's due and done time
    and late flag as of T) or `orders show|accept|contact|arrive|resolve <id>`."""
    # orders live there: never create an empty one to list or act on
    bootstrap.workflow_file(cfg)
    svc = bootstrap.alerts_service(cfg)
    as_of_ms = svc.clock_ms() if at is None else int(at * 1000)
    if action:
        if not order_id:
            raise AlertsCliError(f"orders {action} needs an order id")
        if action == "show":
            order = svc.db.orders.get(order_id)
            if order is None:
                raise AlertsCliError(f"no order {order_id!r}")
            history = svc.db.orders.history(order_id)
            view = order_view(svc, order, as_of_ms)
            if json_:
                print(json.dumps({**view, "history": history}, ensure_ascii=False))
            else:
                print_order(svc, view, history)
            return 0
        if action == "estimate":
            return _estimate(svc, order_id, restore_at, actor, at)
        try:
            order = svc.act(order_id, action, actor, note,
                            at_ms=None if at is None else int(at * 1000), new_owner=new_owner)
        except OrderError as e:
            raise AlertsCliError(str(e)) from None
        print(f"{order.order_id}: {order.state} ({state_text(order.state, order.kind)}), "
              f"owner {order.owner or '-'}")
        return 0
    views = [order_view(svc, o, as_of_ms) for o in svc.db.orders.find(include_closed=all_)]
    if late:
        views = [v for v in views if v["late"]]
    if json_:
        print(json.dumps(views, ensure_ascii=False))
    else:
        print_orders(svc, views)
    return 0


def _estimate(svc: AlertsService, order_id: str, restore_at: float | None, actor: str,
              at: float | None) -> int:
    """`orders estimate <id> --restore-at T --actor NAME`: dispatch's expected restoration."""
    if restore_at is None:
        raise AlertsCliError("orders estimate needs --restore-at T (RFC 3339)")
    try:
        e = svc.estimate(order_id, int(restore_at * 1000), actor,
                         None if at is None else int(at * 1000))
    except OrderError as err:
        raise AlertsCliError(str(err)) from None
    print(f"{order_id}: expected restoration {svc.messenger.t(e.restore_ms)} (by {e.by})")
    return 0


def notices_command(cfg: Config, json_: bool) -> int:
    """`heatwatch notices [--json]`: resident notices (account ids only, never phones)."""
    bootstrap.workflow_file(cfg)
    svc = bootstrap.alerts_service(cfg)
    # the compensation owed for the notice's outage (running until the outage ends)
    owed = {(c["incident_key"], c["account_id"]): c for c in svc.db.compensation.find()}
    notices = [{**n, "compensation_days": c["days"] if c else None,
                "amount_cny": c["amount_cny"] if c else None,
                "amount_final": bool(c["final"]) if c else None}
               for n in svc.db.notices.find()
               for c in [owed.get((n["incident_key"], n["account_id"]))]]
    if json_:
        print(json.dumps(notices, ensure_ascii=False))
        return 0
    print(f"{'notice':22} {'account':10} {'building':10} {'at':11} {'via':6} {'refund 元':>10} "
          "reason")
    for n in notices:
        amount = "-" if n["amount_cny"] is None else (
            n["amount_cny"] + ("" if n["amount_final"] else "+"))
        print(f"{n['notice_id']:22} {n['account_id']:10} {n['building_id']:10} "
              f"{svc.messenger.t(n['at_ms']):11} {n['delivery']:6} {amount:>10} {n['reason']}")
    return 0


def order_timings(svc: AlertsService, as_of_ms: int | None = None) -> list[OrderTiming]:
    """Every order with its deadlines, for the KPI; with `as_of_ms`, as known then (issue 20:
    `kpi --at` and the morning report as of the same instant agree)."""
    return as_of.order_timings(svc.db, as_of_ms)


def kpi_command(cfg: Config, group_by: str, period: str, json_: bool,
                at: float | None = None) -> int:
    """`heatwatch kpi [--by crew|substation|all] [--period day|week|month|all] [--json]`."""
    bootstrap.workflow_file(cfg)
    svc = bootstrap.alerts_service(cfg)
    as_of = svc.clock_ms() if at is None else int(at * 1000)
    rows = timeliness(order_timings(svc, as_of), as_of, group_by, period,
                      svc.cfg.limits.timeliness_target, cfg.site.timezone)
    if json_:
        print(json.dumps([{"group": r.group, "orders": r.orders, "late": r.late,
                           "rate_pct": float(r.rate_pct), "meets_target": r.meets}
                          for r in rows], ensure_ascii=False))
        return 0
    target = svc.cfg.limits.timeliness_target * 100
    print(f"{'group':24} {'orders':>7} {'late':>5} {'timely':>7}  target {target:g} %")
    for r in rows:
        print(f"{r.group:24} {r.orders:7d} {r.late:5d} {r.rate_pct:6} % "
              f"{'ok' if r.meets else 'MISSED'}")
    return 0


def add_alerts_parsers(command: Callable[..., argparse.ArgumentParser],
                       parse_instant: Callable[[str], float],
                       load: Callable[[argparse.Namespace], Config]) -> None:
    """Add the four commands via the CLI's `command(name, fn, help)`; `load` reads --config."""

    def at_arg(p: argparse.ArgumentParser) -> None:
        p.add_argument("--at", type=parse_instant, default=None,
                       help="as of this RFC 3339 instant")

    p = command("alerts", lambda a: alerts_command(load(a), a.once, a.at),
                "work orders, escalations and notices from incidents")
    p.add_argument("--once", action="store_true", help="one pass, then exit")
    at_arg(p)
    p = command("orders", lambda a: orders_command(load(a), a.action, a.order_id, a.note or "",
                                                   a.actor, a.all, a.json, a.at, a.to,
                                                   a.late, a.restore_at),
                "work orders: list, show, or act on one")
    p.add_argument("action", nargs="?", choices=["accept", "contact", "arrive", "resolve",
                                                 "visit", "close", "cancel", "reassign",
                                                 "show", "estimate"])
    p.add_argument("order_id", nargs="?")
    p.add_argument("--note", default="")
    p.add_argument("--actor", default="dispatch", help="who acts (becomes owner on accept)")
    p.add_argument("--to", default="", help="reassign: the new owner (recorded in the audit log)")
    p.add_argument("--restore-at", type=parse_instant, default=None, dest="restore_at",
                   help="estimate: when the outage or leak is expected to be restored")
    p.add_argument("--all", action="store_true")
    p.add_argument("--late", action="store_true",
                   help="only orders late on a step (done late, or overdue) as of --at")
    p.add_argument("--json", action="store_true")
    at_arg(p)
    p = command("notices", lambda a: notices_command(load(a), a.json), "resident notices")
    p.add_argument("--json", action="store_true")
    p = command("kpi", lambda a: kpi_command(load(a), a.by, a.period, a.json, a.at),
                "repair timeliness per crew, substation and period")
    p.add_argument("--by", choices=["all", "crew", "substation"], default="all")
    p.add_argument("--period", choices=["all", "day", "week", "month"], default="all")
    p.add_argument("--json", action="store_true")
    at_arg(p)
