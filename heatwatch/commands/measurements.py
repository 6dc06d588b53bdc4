"""`heatwatch measurements` and `heatwatch instruments`: measurement visits (入户测温, issue 22).

    heatwatch instruments add ID --accuracy K --certificate NO --expires YYYY-MM-DD
    heatwatch measurements [list] [--account A] [--json]
    heatwatch measurements show ID [--json | --format pdf [--out FILE]]
    heatwatch measurements add ACCOUNT --reading bedroom=15.5 [--reading living=15.6 ...]
        --instrument ID --at T --by MEASURER --height M --closed-since T --outdoor-mean C
        [--hand-held] [--radiators-covered] [--direct-sun] [--reported-at T]
    heatwatch measurements correct ID --reason R --approved-by SUPERVISOR [--reading ...] [--at T]
    heatwatch measurements refund ACCOUNT --season YYYY [--json]
    heatwatch measurements verify
    heatwatch measurements kpi [--at T] [--json]
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import time
from collections.abc import Callable
from typing import Any

from desk.kpi import measurer_figures
from desk.measured import decide, record_state
from district.records import ROOM_TYPES, Records
from heatwatch.bootstrap import measurement_outdoor, readings_or_none
from heatwatch.bootstrap import records as load_records
from heatwatch.common import analyzer_config, timezone
from heatwatch.config import Config
from heatwatch.errors import UserError
from heatwatch.measurement_refunds import account_measured
from heatwatch.measurement_sheet import write_pdf
from policy.measurements import Conditions
from policy.season import season_days
from workflow.measurement_links import Link
from workflow.measurements import MeasurementConflict, Record, StoredInstrument
from workflow.measuring import MeasurementRefused, Taken, judged_record
from workflow.unit import Repositories, WorkflowDb

Instant = Callable[[str], float]


def _local(seconds: float, tz: dt.tzinfo) -> dt.datetime:
    return dt.datetime.fromtimestamp(seconds, tz)


def _readings(pairs: list[str]) -> list[list[Any]]:
    """`bedroom=15.5` pairs as [room kind, °C] (0.1 °C)."""
    out: list[list[Any]] = []
    for p in pairs:
        kind, _, value = p.partition("=")
        if kind not in ROOM_TYPES:
            raise UserError(f"--reading {p!r}: the room is one of {', '.join(ROOM_TYPES)}")
        try:
            out.append([kind, round(float(value), 1)])
        except ValueError:
            raise UserError(f"--reading {p!r} is not ROOM=°C (e.g. bedroom=15.5)") from None
    return out


def _instrument(repos: Repositories, instrument_id: str) -> StoredInstrument:
    got = repos.measurements.instrument(instrument_id)
    if got is None:
        raise UserError(f"instrument {instrument_id} is not in the register "
                        "(heatwatch instruments add)")
    return got


def _design_c(recs: Records, account_id: str) -> float:
    acc = recs.accounts.get(account_id)
    if acc is None:
        raise UserError(f"account {account_id} is not in the records")
    return recs.substations[recs.buildings[acc.building_id].substation_id].design_outdoor_c


def _staff_role(repos: Repositories, name: str, role: str, flag: str) -> None:
    person = repos.staff.get(name)
    if person is None or not person.active or person.role != role:
        raise UserError(f"{flag} {name}: not an active {role} (heatwatch staff add)")


def _outdoor(cfg: Config, a: argparse.Namespace, base: Record | None, account: str,
             at: float) -> tuple[float, float | None]:
    """The day's outdoor mean and the hour's outdoor temperature: as given, as the corrected
    record had them, else from the weather station's (or substation's) stored readings."""
    if a.outdoor_mean is not None:
        return a.outdoor_mean, None
    if base is not None and base.outdoor_mean_c is not None:
        return base.outdoor_mean_c, base.conditions.get("outdoor_c")
    got = measurement_outdoor(cfg, account, int(at * 1000))
    if got.day_mean_c is None:
        raise UserError("no outdoor reading stored for that day: give --outdoor-mean C "
                        "(the day's outdoor mean)")
    return got.day_mean_c, got.hour_c


def build_record(cfg: Config, repos: Repositories, a: argparse.Namespace,
                 base: Record | None = None) -> Record:
    """A record from the command's flags (over `base`, a record being corrected), judged by the
    city's measurement rules: an expired or coarse instrument is refused; a time outside the
    windows, a missed condition or a late report is marked."""
    rules, tz = cfg.desk.measurements, timezone(cfg)
    account = base.account_id if base else a.target
    at = a.at if a.at is not None else (base.measured_ms / 1000 if base else None)
    if not account or at is None or not (a.reading or base):
        raise UserError("measurements add needs ACCOUNT --reading ROOM=°C --at T --by MEASURER")
    measured = _local(at, tz)
    inst = _instrument(repos, a.instrument or (base.instrument_id if base else ""))
    measurer = a.by or (base.measurer if base else "")
    _staff_role(repos, measurer, "measurer", "--by")
    old = base.conditions if base else {}
    closed = a.closed_since if a.closed_since is not None else old.get("closed_since_s")
    height = a.height if a.height is not None else old.get("height_m")
    if closed is None or height is None:
        raise UserError("measurements add needs --height M and --closed-since T")
    cond = Conditions(height, _local(closed, tz), a.hand_held or old.get("hand_held", False),
                      a.radiators_covered or old.get("radiators_covered", False),
                      a.direct_sun or old.get("direct_sun", False))
    outdoor, hour_c = _outdoor(cfg, a, base, account, at)
    reported = _local(a.reported_at if a.reported_at is not None else time.time(), tz)
    readings = _readings(a.reading) if a.reading else base.readings if base else []
    try:
        taken = Taken(account, measured, measurer, inst, readings, cond,
                      {"outdoor_c": hour_c})
        return judged_record(taken, reported, outdoor, _design_c(load_records(cfg), account),
                             rules)
    except MeasurementRefused as e:
        raise UserError(str(e)) from None
    except ValueError as e:
        raise UserError(f"[desk.measurements] {e}") from None


def record_json(r: Record, cfg: Config, corrected_by: str = "") -> dict[str, Any]:
    tz = timezone(cfg)
    d = r.as_dict()
    d.update(measured=_local(r.measured_ms / 1000, tz).isoformat(timespec="seconds"),
             reported=_local(r.reported_ms / 1000, tz).isoformat(timespec="seconds"),
             verdict=record_state(r, analyzer_config(cfg).rules()).name.lower(),
             corrected_by=corrected_by)
    return d


def _line(d: dict[str, Any]) -> str:
    rooms = " ".join(f"{k} {c:.1f}°C" for k, c in d["readings"])
    marks = (["时间不在测温时段"] if d["outside_window"] else []) + \
        (["超时上报"] if d["late"] else []) + list(d["problems"])
    extra = (f" corrects {d['corrects']} ({d['reason']}, approved by {d['approved_by']})"
             if d["corrects"] else "") + (f" corrected by {d['corrected_by']}"
                                          if d["corrected_by"] else "")
    dec = d.get("decision") or {}
    if dec.get("incident_key"):
        extra += f" -> {'opened' if dec['opened'] else 'joined'} {dec['incident_key']}"
    return (f"{d['record_id']} {d['account_id']} {d['measured']} {rooms} {d['verdict']} "
            f"instrument {d['instrument_id']} by {d['measurer']}"
            f"{' [' + '; '.join(marks) + ']' if marks else ''}{extra}")


def _print(items: list[dict[str, Any]], as_json: bool, empty: str) -> None:
    if as_json:
        print(json.dumps(items, ensure_ascii=False))
        return
    print("\n".join(_line(d) for d in items) or empty)


def _add(cfg: Config, db: WorkflowDb, a: argparse.Namespace) -> int:
    with db.unit() as u:
        r = u.measurements.append(build_record(cfg, u, a))
        link = _decide(cfg, u, r)
    _print([record_json(r, cfg) | {"decision": link}], a.json, "")
    return 0


def _decide(cfg: Config, u: Repositories, r: Record) -> dict[str, Any] | None:
    """What the record decides (desk.measured): the incident it opened or joined."""
    return _link_json(decide(u, r, load_records(cfg), analyzer_config(cfg).rules(),
                             timezone(cfg), int(time.time() * 1000)))


def _link_json(link: Link | None) -> dict[str, Any] | None:
    return None if link is None else {
        "verdict": link.verdict, "incident_key": link.incident_key or None,
        "opened": link.opened, "quote": link.quote}


def _correct(cfg: Config, db: WorkflowDb, a: argparse.Namespace) -> int:
    if not a.target or not a.reason or not a.approved_by:
        raise UserError("measurements correct needs ID --reason R --approved-by SUPERVISOR")
    with db.unit() as u:
        old = u.measurements.get(a.target)
        if old is None:
            raise UserError(f"measurement {a.target} not found")
        if a.target in u.measurements.corrected():
            raise UserError(f"measurement {a.target} is already corrected by "
                            f"{u.measurements.corrected()[a.target]}: correct that one")
        _staff_role(u, a.approved_by, "supervisor", "--approved-by")
        new = build_record(cfg, u, a, base=old)
        new.corrects, new.reason, new.approved_by = old.record_id, a.reason, a.approved_by
        r = u.measurements.append(new)
        link = _decide(cfg, u, r)
    _print([record_json(r, cfg) | {"decision": link}], a.json, "")
    return 0


def _list(cfg: Config, db: WorkflowDb, a: argparse.Namespace) -> int:
    if a.verb == "show" and a.format == "pdf":
        print(f"measurement record {a.target}: {write_pdf(cfg, db, a.target or '', a.out)}")
        return 0
    if a.verb == "show":
        r = db.measurements.get(a.target or "")
        if r is None:
            raise UserError(f"measurement {a.target} not found")
        rows = [r]
    else:
        rows = db.measurements.find(a.account)
    by = db.measurements.corrected()
    links = db.measurement_links
    _print([record_json(r, cfg, by.get(r.record_id, ""))
            | {"decision": _link_json(links.get(r.record_id))} for r in rows], a.json,
           "no measurements")
    return 0


def _verify(db: WorkflowDb) -> int:
    n, broken, why = db.measurements.verify()
    if broken is None:
        print(f"measurements: chain intact, {n} records")
        return 0
    print(f"measurements: chain broken at {broken} (after {n} good records): {why}")
    return 1


def _refund(cfg: Config, db: WorkflowDb, a: argparse.Namespace) -> int:
    """The household's measured refund periods, as `heatwatch refunds` lists them."""
    if not a.target or a.season is None:
        raise UserError("measurements refund needs ACCOUNT --season YYYY")
    if not 1970 <= a.season <= 9998:
        raise UserError(f"--season {a.season} is not a year")
    records = load_records(cfg)
    if a.target not in records.accounts:
        raise UserError(f"account {a.target} is not in the records")
    rules, opened = analyzer_config(cfg).rules(), readings_or_none(cfg)
    try:
        got = account_measured(db, records, opened.store if opened else None, rules,
                               season_days(rules.season, a.season, timezone(cfg)),
                               cfg.desk.limits, a.target)
    finally:
        if opened is not None:
            opened.store.close()
    items = [m.as_dict() for m in got]
    if a.json:
        print(json.dumps(items, ensure_ascii=False))
        return 0
    for d in items:
        print(f"{d['account_id']} {d['from']}..{d['to'] or 'open'} {d['days']} days at "
              f"{d['reading_c']:.1f}°C: {d['refund_cny']} 元 (basis {', '.join(d['basis'])})")
    if not items:
        print("no refund from measurements")
    return 0


def _kpi(db: WorkflowDb, a: argparse.Namespace) -> int:
    """Per measurer: records reported, late (past the city's limit), outside the windows."""
    at_ms = int((time.time() if a.at is None else a.at) * 1000)
    rows = measurer_figures(db.measurements.find(), at_ms)
    if a.json:
        print(json.dumps([dataclasses.asdict(f) | {"on_time_pct": f.on_time_pct} for f in rows],
                         ensure_ascii=False))
        return 0
    for f in rows:
        rate = "-" if f.on_time_pct is None else f"{f.on_time_pct:g} %"
        print(f"{f.measurer:10} 测温记录 {f.records:4d}  按时上报 {rate:>7}  超时上报 {f.late:3d}"
              f"  时段外 {f.outside_window:3d}")
    if not rows:
        print("no measurement reports")
    return 0


def measurements_command(cfg: Config, a: argparse.Namespace) -> int:
    db = WorkflowDb(cfg.workflow_path())
    try:
        verbs: dict[str, Callable[[], int]] = {
            "add": lambda: _add(cfg, db, a), "correct": lambda: _correct(cfg, db, a),
            "verify": lambda: _verify(db), "refund": lambda: _refund(cfg, db, a),
            "kpi": lambda: _kpi(db, a)}
        return verbs.get(a.verb, lambda: _list(cfg, db, a))()
    finally:
        db.close()


def instruments_command(cfg: Config, a: argparse.Namespace) -> int:
    """`instruments add ID ...` registers one; `instruments` alone lists the register."""
    db = WorkflowDb(cfg.workflow_path())
    try:
        if a.verb == "add":
            if not a.target or a.accuracy is None or not a.certificate or not a.expires:
                raise UserError("instruments add needs ID --accuracy K --certificate NO "
                                "--expires YYYY-MM-DD")
            try:
                expires = dt.date.fromisoformat(a.expires).isoformat()
            except ValueError:
                raise UserError(f"--expires {a.expires!r} is not YYYY-MM-DD") from None
            with db.unit() as u:
                u.measurements.add_instrument(StoredInstrument(
                    a.target, a.accuracy, a.certificate, expires, int(time.time() * 1000)))
        rows = [dataclasses.asdict(i) for i in db.measurements.instruments()
                if a.verb != "add" or i.instrument_id == a.target]
    except MeasurementConflict as e:
        raise UserError(str(e)) from None
    finally:
        db.close()
    if a.json:
        print(json.dumps(rows, ensure_ascii=False))
    for i in rows if not a.json else []:
        print(f"{i['instrument_id']} ±{i['accuracy_k']:g} K certificate {i['certificate']} "
              f"expires {i['expires']}")
    return 0


def add_measurement_parsers(command: Callable[..., argparse.ArgumentParser],
                            instant: Instant, load: Callable[[argparse.Namespace], Config]
                            ) -> None:
    """`heatwatch measurements` and `heatwatch instruments` via the CLI's `command`."""
    p = command("measurements", lambda a: measurements_command(load(a), a),
                "measurement visits (入户测温): list, show, add, correct, refund, verify, kpi")
    p.add_argument("verb", nargs="?", default="list",
                   choices=["list", "show", "add", "correct", "refund", "verify", "kpi"])
    p.add_argument("target", nargs="?", help="add / refund: the account; show / correct: the id")
    p.add_argument("--account", default=None, help="list: one household's records")
    p.add_argument("--reading", action="append", default=[], metavar="ROOM=°C",
                   help=f"a room's reading, ROOM one of {', '.join(ROOM_TYPES)} (repeat)")
    p.add_argument("--instrument", default="", help="the instrument's id in the register")
    p.add_argument("--at", type=instant, default=None,
                   help="add: when measured; kpi: as of (RFC 3339)")
    p.add_argument("--by", default="", help="the measurer (a staff member, role measurer)")
    p.add_argument("--height", type=float, default=None, help="the sensor's height, m")
    p.add_argument("--closed-since", type=instant, default=None,
                   help="doors and windows closed since, RFC 3339")
    p.add_argument("--hand-held", action="store_true")
    p.add_argument("--radiators-covered", action="store_true")
    p.add_argument("--direct-sun", action="store_true")
    p.add_argument("--outdoor-mean", type=float, default=None, help="the day's outdoor mean, °C")
    p.add_argument("--reported-at", type=instant, default=None,
                   help="when reported, RFC 3339 (default: now)")
    p.add_argument("--reason", default="", help="correct: why")
    p.add_argument("--approved-by", default="", help="correct: the approving supervisor")
    p.add_argument("--season", type=int, default=None, help="refund: the season's start year")
    p.add_argument("--json", action="store_true")
    p.add_argument("--format", default="text", choices=["text", "pdf"],
                   help="show: pdf prints the record (测温记录单), A4")
    p.add_argument("--out", default=None, help="show --format pdf: the file to write")
    p = command("instruments", lambda a: instruments_command(load(a), a),
                "the thermometers' register: add, list")
    p.add_argument("verb", nargs="?", default="list", choices=["list", "add"])
    p.add_argument("target", nargs="?", help="add: the instrument's id")
    p.add_argument("--accuracy", type=float, default=None, help="± K")
    p.add_argument("--certificate", default="", help="calibration certificate number")
    p.add_argument("--expires", default="", help="certificate expiry, YYYY-MM-DD (inclusive)")
    p.add_argument("--json", action="store_true")
