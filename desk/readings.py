"""What the sensors say of a household now: its room sensors' and its meter's latest readings
(read from the store, when the desk has one), and whether the data says the flat is heated."""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field

from district.records import Records
from policy.calls import CallLimits, meter_delivers_heat
from storage.base import Store, StoreError


@dataclass(slots=True)
class Latest:
    rooms: list[tuple[str, float, int]] = field(default_factory=list)  # device, °C, ts_ms
    meter: dict[str, float] | None = None  # its fields and ts_ms
    error: str = ""
    # the latest daily means (the site's days): its rooms', and its building's (all its rooms)
    room_days: list[tuple[str, float, str]] = field(default_factory=list)  # device, °C, date
    building_day: tuple[float, str] | None = None  # °C, date


def daily_means(out: Latest, store: Store, records: Records, account_id: str, at_ms: int,
                tz: dt.tzinfo) -> None:
    """The household's room sensors' and its building's latest daily mean temperatures, the
    day before `at_ms` and the day so far (the newest day with data wins). Read device by
    device, the building's rooms only: a card view never aggregates the whole city."""
    acc = records.accounts.get(account_id)
    if acc is None:
        return
    today = dt.datetime.fromtimestamp(at_ms / 1000, tz).date()
    start_ms = int(dt.datetime.combine(today - dt.timedelta(days=1), dt.time(), tz)
                   .timestamp() * 1000)
    rooms = [d for d in records.devices.values()
             if d.kind == "room" and d.building_id == acc.building_id]
    building: dict[str, list[float]] = {}
    try:
        for d in sorted(rooms, key=lambda d: d.device_id):
            frame = store.read_device("room", d.device_id, start_ms, at_ms + 1, ["temp_c"])
            temps = frame.fields.get("temp_c")
            days: dict[str, list[float]] = {}
            for ts, v in zip(frame.ts_ms.tolist(), [] if temps is None else temps.tolist(),
                             strict=True):
                if not math.isnan(v):
                    day = dt.datetime.fromtimestamp(ts / 1000, tz).date().isoformat()
                    days.setdefault(day, []).append(v)
                    building.setdefault(day, []).append(v)
            if d.account_id == account_id and days:
                last = max(days)
                out.room_days.append((d.device_id, sum(days[last]) / len(days[last]), last))
    except StoreError as e:
        out.error = str(e)
    if building:
        last = max(building)
        out.building_day = (sum(building[last]) / len(building[last]), last)


def latest_of(store: Store | None, records: Records, account_id: str,
              at: tuple[int, dt.tzinfo] | None = None) -> Latest:
    """The latest room temperatures and meter reading of one account (empty without a store);
    with `at` (now, the site's zone), its rooms' and building's latest daily means too."""
    out = Latest()
    if store is None:
        return out
    if at is not None:
        daily_means(out, store, records, account_id, *at)
    devices = {d.device_id: d.kind for d in records.devices.values()
               if d.account_id == account_id and d.kind in ("room", "meter")}
    if not devices:
        return out
    try:
        for kind in sorted(set(devices.values())):
            frame = store.latest(kind)
            for i, dev in enumerate(frame.device_id.tolist()):
                if devices.get(dev) != kind:
                    continue
                values = {k: float(v[i]) for k, v in frame.fields.items()}
                if kind == "room" and not math.isnan(values.get("temp_c", math.nan)):
                    out.rooms.append((dev, values["temp_c"], int(frame.ts_ms[i])))
                elif kind == "meter":
                    out.meter = {**values, "ts_ms": float(frame.ts_ms[i])}
    except StoreError as e:
        out.error = str(e)
    return out


def heated_note(latest: Latest, min_c: float, limits: CallLimits) -> str:
    """What the data shows when it says the flat is heated; empty when it does not."""
    warm = [t for _, t, _ in latest.rooms if t >= min_c]
    if warm:
        return f"数据显示：室温传感器 {max(warm):.1f} °C（不低于 {min_c:g} °C）"
    m = latest.meter
    if m is not None:
        flow = m.get("flow_m3h", math.nan)
        delta = m.get("supply_c", math.nan) - m.get("return_c", math.nan)
        if meter_delivers_heat(flow, m.get("supply_c", math.nan), m.get("return_c", math.nan),
                               limits):
            return f"数据显示：热表有流量 {flow:.2f} m³/h，供回水温差 {delta:.1f} K"
    return ""
