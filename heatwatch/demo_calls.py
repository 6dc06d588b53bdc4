"""The demo's residents on the phone (issue 21): some call during an outage, a cluster calls
from a building without room sensors, one applies to suspend heating 20 days before the season,
one complains. Each is taken at the desk's intake; the summary says what became of it."""

from __future__ import annotations

import datetime as dt
import secrets
from zoneinfo import ZoneInfo

from desk.auth import add_staff
from desk.intake import DeskError, Intake
from desk.taken import Taken
from heatwatch.config import Config
from policy.calls import KIND_NAMES
from storage.base import Store
from workflow.incidents import Incident

CLERK = "demo-clerk"
MINUTE_MS = 60_000
OUTAGE_KINDS = ("outage", "building_outage", "leak")


def residents_call(intake: Intake, end_ms: int) -> list[str]:
    """Take the demo's calls as of the scenario's end; one line per call for the summary."""
    add_staff(intake.db, CLERK, "clerk", secrets.token_urlsafe(16), end_ms)
    lines: list[str] = []
    for acc, kind, at_ms, why in _script(intake, end_ms):
        try:
            taken = intake.take(acc, kind, at_ms, CLERK, why)
        except DeskError as e:
            lines.append(f"  {KIND_NAMES[kind]} {acc}: not taken: {e}")
            continue
        lines.append(_line(intake, taken, why))
    return lines


def _script(intake: Intake, end_ms: int) -> list[tuple[str, str, int, str]]:
    rec = intake.records
    out: list[tuple[str, str, int, str]] = []
    outage = _latest_outage(intake, end_ms)
    if outage is not None:
        sid = outage.substation_id or rec.buildings[outage.building_id].substation_id
        covered = sorted(a.account_id for a in rec.accounts.values()
                         if (a.building_id == outage.building_id if outage.building_id else
                             rec.buildings[a.building_id].substation_id == sid))
        at = min(max(outage.started_ms + 60 * MINUTE_MS, outage.detected_ms), end_ms)
        for acc in covered[:3]:
            out.append((acc, "temperature", at, "during the outage"))
    rooms = {d.account_id for d in rec.devices.values() if d.kind == "room"}
    counts = {b: sum(1 for a in rec.accounts.values() if a.building_id == b and
                     a.account_id in rooms) for b in rec.buildings}
    quiet = min(sorted(counts), key=lambda b: counts[b])
    cold = [a.account_id for a in rec.accounts.values()
            if a.building_id == quiet and a.account_id not in rooms][:3]
    for i, acc in enumerate(cold):
        out.append((acc, "temperature", end_ms - (30 - i * 10) * MINUTE_MS,
                    f"a cluster from {quiet} ({counts[quiet]} room sensors)"))
    tz = ZoneInfo(intake.tz)
    day = dt.datetime.fromtimestamp(end_ms / 1000, tz).date()
    start = intake.season.start(intake.season.year_of(day) + 1)
    apply = dt.datetime.combine(start - dt.timedelta(days=20), dt.time(10), tz)
    first = sorted(rec.accounts)[0]
    out.append((first, "suspend", int(apply.timestamp() * 1000), "20 days before the season"))
    out.append((sorted(rec.accounts)[-1], "complaint", end_ms, "a complaint"))
    return out


def _latest_outage(intake: Intake, end_ms: int) -> Incident | None:
    found = [i for i in intake.db.incidents.find(include_closed=True)
             if i.kind in OUTAGE_KINDS and i.started_ms <= end_ms]
    # an outage (the households' heat off) before a leak
    return max(found, key=lambda i: (i.kind != "leak", i.started_ms)) if found else None


def _line(intake: Intake, t: Taken, why: str) -> str:
    c = t.call
    head = f"  {c.call_id} {KIND_NAMES[c.kind]} {c.account_id} ({why}): "
    if t.refused:
        return head + f"refused: {t.refused}"
    if t.cluster:
        return head + f"raised suspected fault {c.incident_key}, order {c.order_id}"
    if c.incident_key:
        return head + (f"attached to {c.incident_key} ({t.incident_cause})"
                       + (f", its order {c.order_id}" if c.order_id else ", no new order"))
    if c.order_id:
        return head + f"order {c.order_id}"
    due = dt.datetime.fromtimestamp(c.due_ms / 1000, ZoneInfo(intake.tz)) if c.due_ms else None
    return head + (f"open, due {due:%Y-%m-%d %H:%M}" if due else "open") + (
        f"; {t.data_note}" if t.data_note else "")


def print_demo_calls(cfg: Config, store: Store, end_ms: int) -> None:
    """Residents call the desk as the scenario ends (issue 21); what became of each call."""
    from heatwatch.bootstrap import build_intake, open_workflow

    db = open_workflow(cfg)
    try:
        lines = residents_call(build_intake(cfg, db, store), end_ms)
    finally:
        db.close()
    print("\nresidents' calls at the desk as the scenario ends (heatwatch calls --all):")
    print("\n".join(lines))
