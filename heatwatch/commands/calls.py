"""`heatwatch calls`: residents' calls taken at the desk, for machines and scripts.

    heatwatch calls add <account_id> --kind KIND --at T --by STAFF [--text T]
    heatwatch calls [list] [--all] [--json]
    heatwatch calls show <call_id> [--json]
    heatwatch calls act <call_id> resolve|visit|reassign --by STAFF [--result R --reply R |
        --satisfaction S | --to NAME] [--at T]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import time
from collections.abc import Callable
from typing import Any
from zoneinfo import ZoneInfo

from desk.actions import ACTIONS, Act, ActionRefused, act
from desk.intake import DeskError
from desk.kpi import call_figures
from heatwatch.bootstrap import build_intake, open_workflow, readings_or_none
from heatwatch.config import Config
from heatwatch.errors import UserError
from policy.calls import CALL_KINDS, KIND_NAMES, SATISFACTION
from workflow.calls import Call
from workflow.unit import WorkflowDb

FIELDS = ("call_id", "kind", "account_id", "received", "owner", "due", "state", "incident_key",
          "order_id", "result", "reply", "satisfaction", "taken_by", "building_id",
          "substation_id", "text", "visit_due", "closed")


def iso(ms: int | None, tz: str) -> str | None:
    if ms is None:
        return None
    return dt.datetime.fromtimestamp(ms / 1000, ZoneInfo(tz)).isoformat(timespec="seconds")


def call_json(c: Call, tz: str) -> dict[str, Any]:
    """The contract's fields of a call (the reporter of a report is never printed here)."""
    d = c.as_dict()
    d.update(received=iso(c.received_ms, tz), due=iso(c.due_ms, tz),
             visit_due=iso(c.visit_due_ms, tz), closed=iso(c.closed_ms, tz))
    return {k: d[k] for k in FIELDS}


def _at_ms(at: float | None) -> int:
    return int((time.time() if at is None else at) * 1000)


def calls_command(cfg: Config, a: argparse.Namespace) -> int:
    db = open_workflow(cfg)
    try:
        if a.verb == "add":
            return _add(cfg, db, a)
        if a.verb == "act":
            return _act(cfg, db, a)
        if a.verb == "show":
            return _show(cfg, db, a)
        if a.verb == "kpi":
            return _kpi(cfg, db, a)
        return _list(cfg, db, a)
    finally:
        db.close()


def _add(cfg: Config, db: WorkflowDb, a: argparse.Namespace) -> int:
    if not a.target or not a.kind or not a.by:
        raise UserError("calls add needs <account_id> --kind KIND --by STAFF")
    opened = readings_or_none(cfg) if a.kind == "temperature" else None
    try:
        intake = build_intake(cfg, db, opened.store if opened else None)
        taken = intake.take(a.target, a.kind, _at_ms(a.at), a.by, a.text, a.reporter)
    except DeskError as e:
        raise UserError(str(e)) from None
    finally:
        if opened is not None:
            opened.store.close()
    if taken.refused:
        print(f"heatwatch: refused: {taken.call.call_id}: {taken.refused}", file=sys.stderr)
        return 1
    if a.json:
        print(json.dumps(call_json(taken.call, cfg.site.timezone), ensure_ascii=False))
    else:
        print(taken.call.call_id)
        if taken.data_note:
            print(f"  {taken.data_note}", file=sys.stderr)
        if taken.incident_key:
            print(f"  {taken.incident_cause} ({taken.incident_key})", file=sys.stderr)
    return 0


def _act(cfg: Config, db: WorkflowDb, a: argparse.Namespace) -> int:
    if not a.target or a.action not in ACTIONS or not a.by:
        raise UserError(f"calls act needs <call_id> {'|'.join(ACTIONS)} --by STAFF")
    try:
        call = act(db, Act(a.target, a.action, a.by, _at_ms(a.at), a.result, a.reply,
                           a.satisfaction, a.to, cfg.site.timezone), cfg.alerts.limits)
    except ActionRefused as e:
        print(f"heatwatch: refused: {e}", file=sys.stderr)
        return 1
    print(json.dumps(call_json(call, cfg.site.timezone), ensure_ascii=False) if a.json
          else f"{call.call_id} {call.state} (owner {call.owner})")
    return 0


def _show(cfg: Config, db: WorkflowDb, a: argparse.Namespace) -> int:
    call = db.calls.get(a.target or "")
    if call is None:
        raise UserError(f"no call {a.target!r}")
    d = call_json(call, cfg.site.timezone)
    if a.json:
        d["history"] = db.calls.history(call.call_id)
        print(json.dumps(d, ensure_ascii=False))
        return 0
    for k in FIELDS:
        print(f"{k:14} {d[k] if d[k] is not None else '-'}")
    for h in db.calls.history(call.call_id):
        print(f"  {iso(h['at_ms'], cfg.site.timezone)} {h['actor']} {h['action']} "
              f"{h['from_state']}->{h['to_state']} {h['note']}")
    return 0


def _list(cfg: Config, db: WorkflowDb, a: argparse.Namespace) -> int:
    calls = db.calls.find(include_closed=a.all)
    tz = cfg.site.timezone
    if a.json:
        print(json.dumps([call_json(c, tz) for c in calls], ensure_ascii=False))
        return 0
    if not calls:
        print("no open calls" if not a.all else "no calls")
    for c in calls:
        print(f"{c.call_id} {KIND_NAMES[c.kind]:8} {c.account_id:10} {iso(c.received_ms, tz)} "
              f"{c.owner:8} due {iso(c.due_ms, tz) or '-'} {c.state} {c.incident_key} "
              f"{c.order_id}")
    return 0


def _kpi(cfg: Config, db: WorkflowDb, a: argparse.Namespace) -> int:
    """Per kind: calls, answered within the limit, late, overdue now, satisfaction."""
    rows = call_figures(db.calls.find(include_closed=True), _at_ms(a.at))
    if a.json:
        print(json.dumps([{"kind": r.kind, "calls": r.calls, "timed": r.timed, "late": r.late,
                           "open_overdue": r.open_overdue, "rate_pct": r.rate_pct,
                           "satisfaction": r.satisfaction} for r in rows], ensure_ascii=False))
        return 0
    if not rows:
        print("no calls taken")
    for r in rows:
        rate = "-" if r.rate_pct is None else f"{r.rate_pct:g} %"
        sat = " ".join(f"{k} {n}" for k, n in r.satisfaction.items() if n)
        print(f"{KIND_NAMES[r.kind]:10} calls {r.calls:4d}  in time {rate:>7}  late {r.late:3d}"
              f"  overdue now {r.open_overdue:3d}  {sat}")
    return 0


def add_calls_parsers(command: Callable[..., argparse.ArgumentParser],
                      parse_instant: Callable[[str], float],
                      load: Callable[[argparse.Namespace], Config]) -> None:
    """`heatwatch calls` via the CLI's `command(name, fn, help)`."""
    p = command("calls", lambda a: calls_command(load(a), a),
                "residents' calls: add, list, show, act (resolve, visit, reassign), kpi")
    p.add_argument("verb", nargs="?", choices=["add", "list", "show", "act", "kpi"],
                   default="list")
    p.add_argument("target", nargs="?", help="add: the account; show / act: the call id")
    p.add_argument("action", nargs="?", help=f"act: {', '.join(ACTIONS)}")
    p.add_argument("--kind", choices=CALL_KINDS, default=None)
    p.add_argument("--at", type=parse_instant, default=None, help="RFC 3339 (default: now)")
    p.add_argument("--by", default=None, help="the staff member who takes or acts")
    p.add_argument("--text", default="", help="what the resident said")
    p.add_argument("--reporter", default="", help="a report's reporter (supervisors only see it)")
    p.add_argument("--result", default="")
    p.add_argument("--reply", default="", help="the reply given to the resident")
    p.add_argument("--satisfaction", choices=SATISFACTION, default="")
    p.add_argument("--to", default="", help="reassign: the new owner")
    p.add_argument("--all", action="store_true")
    p.add_argument("--json", action="store_true")
