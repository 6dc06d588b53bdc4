"""What the sensors say of a household now: its room sensors' and its meter's latest readings
(read from the store, when the desk has one), and whether the data says the flat is heated."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from district.records import Records
from storage.base import Store, StoreError

# DOMAIN: a meter with flow and a supply/return difference is delivering heat
MIN_FLOW_M3H = 0.01
MIN_DELTA_K = 3.0


@dataclass(slots=True)
class Latest:
    rooms: list[tuple[str, float, int]] = field(default_factory=list)  # device, °C, ts_ms
    meter: dict[str, float] | None = None  # its fields and ts_ms
    error: str = ""


def latest_of(store: Store | None, records: Records, account_id: str) -> Latest:
    """The latest room temperatures and meter reading of one account (empty without a store)."""
    out = Latest()
    if store is None:
        return out
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


def heated_note(latest: Latest, min_c: float) -> str:
    """What the data shows when it says the flat is heated; empty when it does not."""
    warm = [t for _, t, _ in latest.rooms if t >= min_c]
    if warm:
        return f"数据显示：室温传感器 {max(warm):.1f} °C（不低于 {min_c:g} °C）"
    m = latest.meter
    if m is not None:
        flow = m.get("flow_m3h", math.nan)
        delta = m.get("supply_c", math.nan) - m.get("return_c", math.nan)
        if flow >= MIN_FLOW_M3H and delta >= MIN_DELTA_K:
            return f"数据显示：热表有流量 {flow:.2f} m³/h，供回水温差 {delta:.1f} K"
    return ""
