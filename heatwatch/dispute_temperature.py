"""The dispute's temperature part (issue 22): the household's measurement records of the season,
its room sensors' daily means beside them, and the temperature dispute settled by the city's
rules (policy.measurements) as a meter dispute is by its verification: what the standing
records decide and the refund they are the basis of."""

from __future__ import annotations

import datetime as dt
import math
from decimal import Decimal
from typing import Any

from district.records import Account, Device, Records
from heatwatch.config import Config
from heatwatch.measurement_refunds import account_measured, effective, local_day, record_state
from policy.measurements import lowest_counted, settle, verdict
from policy.rooms import RoomState
from policy.rules import CityRules
from policy.season import SeasonDays
from workflow.measurements import Record
from workflow.unit import WorkflowDb

Daily = dict[str, dict[str, float]]  # device id -> date -> daily mean °C


def room_sensors(records: Records, account_id: str) -> list[Device]:
    """The household's own room sensors (about 4 % of households have them)."""
    return sorted((d for d in records.devices.values()
                   if d.kind == "room" and d.account_id == account_id),
                  key=lambda d: d.device_id)


def sensor_daily_means(cfg: Config, sensors: list[Device], season: SeasonDays) -> Daily:
    """Each sensor's daily mean temperature over the season's site days, read device by device
    (never the whole city's rooms)."""
    if not sensors:
        return {}
    from heatwatch import bootstrap

    out: Daily = {}
    opened = bootstrap.open_store(cfg, read_only=True)
    try:
        for d in sensors:
            frame = opened.store.read_device("room", d.device_id, season.start_ms,
                                             season.end_ms, ["temp_c"])
            temps = frame.fields.get("temp_c")
            days: dict[str, list[float]] = {}
            for ts, v in zip(frame.ts_ms.tolist(), [] if temps is None else temps.tolist(),
                             strict=True):
                if not math.isnan(v):
                    days.setdefault(local_day(ts, season.tz).isoformat(), []).append(v)
            # to 0.1 °C, as a measurer reads
            out[d.device_id] = {k: round(sum(v) / len(v), 1) for k, v in sorted(days.items())}
    finally:
        opened.store.close()
    return out


def _series(sensors: list[Device], daily: Daily, outdoor: dict[str, float | None],
            city: CityRules, design_c: float) -> list[dict[str, Any]]:
    """One row per day any sensor reported: each room's mean, and the counted rooms below the
    standard that day (none on a day colder than design: it is excluded)."""
    dates = sorted({day for d in daily.values() for day in d})
    rows = []
    for day in dates:
        rooms = {d.device_id: daily.get(d.device_id, {}).get(day) for d in sensors}
        o = outdoor.get(day)
        # each room's day judged as a visit would be (no outdoor mean: not excluded)
        cold = [d.device_id for d in sensors if (c := rooms[d.device_id]) is not None
                and verdict([(d.room_type, c)], design_c if o is None else o, design_c,
                            city.rooms) == RoomState.COLD]
        rows.append({"date": day, "outdoor_mean_c": outdoor.get(day), "rooms": rooms,
                     "cold": cold})
    return rows


def _record_row(r: Record, corrected: dict[str, str], city: CityRules, tz: dt.tzinfo,
                daily: Daily) -> dict[str, Any]:
    day = local_day(r.measured_ms, tz).isoformat()
    return {
        "record_id": r.record_id,
        "measured": dt.datetime.fromtimestamp(r.measured_ms / 1000, tz).isoformat(
            timespec="minutes"),
        "readings": r.readings,
        "lowest_c": lowest_counted([(str(k), float(c)) for k, c in r.readings]),
        "verdict": record_state(r, city).name.lower(), "outdoor_mean_c": r.outdoor_mean_c,
        "outside_window": r.outside_window, "late": r.late, "problems": r.problems,
        "instrument_id": r.instrument_id, "measurer": r.measurer,
        "corrects": r.corrects, "corrected_by": corrected.get(r.record_id, ""),
        "sensor_c": {dev: days.get(day) for dev, days in daily.items()},
        "hash": r.hash,
    }


def _settlement(standing: list[Record], refunds: list[dict[str, Any]], city: CityRules,
                cold_sensor_days: int) -> dict[str, Any]:
    states = {r.record_id: record_state(r, city) for r in standing}
    state = settle(list(states.values()))
    judged = [k for k, s in states.items() if s in (RoomState.COLD, RoomState.PASS)]
    cold = [k for k, s in states.items() if s == RoomState.COLD]
    total = sum((Decimal(x["refund_cny"]) for x in refunds), Decimal("0.00"))
    days = sum(int(x["days"]) for x in refunds)
    std = f"{city.rooms.min_c:g} °C"
    if state is None:
        text = ("本采暖季无入户测温记录 (no measurement visit this season)" if not standing
                else "测温记录均不判定：未测卧室、客厅，或当日室外日均温低于设计温度 (not judged)")
    elif state == RoomState.PASS:
        text = (f"室温达标 (passes)：测温记录 {'、'.join(judged)} 卧室、客厅均不低于 {std}，"
                "不予退费 (no refund)")
    else:
        text = (f"室温不达标 (fails)：测温记录 {'、'.join(cold)} 低于 {std}；"
                f"按退费档位退费 {days} 天，共 {total} 元 (refund)")
        if any(x["to"] is None for x in refunds):
            text += "；尚未复测的，待复测达标后计算 (open until re-measured)"
    if cold_sensor_days:
        text += (f"；室温传感器 {cold_sensor_days} 天日均温低于 {std} "
                 "(sensor days below the standard; their refund: heatwatch refunds)")
    return {"state": None if state is None else state.name.lower(), "text": text,
            "basis": judged, "refunds": refunds, "refund_cny": str(total), "refund_days": days,
            "standard_c": city.rooms.min_c}


def _measured(cfg: Config, db: WorkflowDb, records: Records, account: Account,
              season: SeasonDays, city: CityRules) -> list[dict[str, Any]]:
    """The household's measured refund periods as `heatwatch refunds` lists them (ended by its
    sensors' or meter's recovery, its outage days left out): one amount everywhere."""
    from heatwatch import bootstrap

    opened = bootstrap.readings_or_none(cfg)
    try:
        return [m.as_dict() for m in account_measured(
            db, records, opened.store if opened else None, city, season, cfg.desk.limits,
            account.account_id)]
    finally:
        if opened is not None:
            opened.store.close()


def temperature_doc(cfg: Config, records: Records, account: Account, season: SeasonDays,
                    city: CityRules, outdoor: dict[str, float | None]) -> dict[str, Any]:
    """The dossier's temperature section as plain data (what JSON, Markdown and the printed
    dossier show): records, sensors, their daily series and the settlement."""
    sensors = room_sensors(records, account.account_id)
    daily = sensor_daily_means(cfg, sensors, season)
    last = season.first + dt.timedelta(days=season.n_days - 1)
    found: list[Record] = []
    corrected: dict[str, str] = {}
    refunds: list[dict[str, Any]] = []
    path = cfg.workflow_path()
    if path.exists():
        db = WorkflowDb(path)
        try:
            found = [r for r in db.measurements.find(account.account_id)
                     if season.first <= local_day(r.measured_ms, season.tz) <= last]
            corrected = db.measurements.corrected()
            refunds = _measured(cfg, db, records, account, season, city)
        finally:
            db.close()
    design_c = records.substations[records.buildings[account.building_id].substation_id
                                   ].design_outdoor_c
    series = _series(sensors, daily, outdoor, city, design_c)
    return {
        "records": [_record_row(r, corrected, city, season.tz, daily) for r in found],
        "sensors": [{"device_id": d.device_id, "room_type": d.room_type} for d in sensors],
        "series": series,
        "settlement": _settlement(effective(found, corrected), refunds, city,
                                  sum(1 for row in series if row["cold"])),
    }
