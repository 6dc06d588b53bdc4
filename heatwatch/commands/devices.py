"""`heatwatch devices`: every device of the records and when the analyzer first heard from it;
`--never` lists those never heard from (at go-live, most of a district)."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from typing import Any

from heatwatch.common import timezone
from heatwatch.config import Config


def device_rows(cfg: Config) -> list[dict[str, Any]]:
    """One row per device: its place, its commissioned date and its first reading (or none)."""
    from heatwatch import bootstrap

    tz = timezone(cfg)
    rec = bootstrap.records(cfg)
    seen: dict[str, int] = {}
    if bootstrap.workflow_exists(cfg):
        marks = bootstrap.watermarks(cfg)
        try:
            seen = marks.first_seen()
        finally:
            marks.close()
    out = []
    for d in sorted(rec.devices.values(), key=lambda d: (d.kind, d.device_id)):
        first = seen.get(d.device_id)
        out.append({
            "device_id": d.device_id, "kind": d.kind, "building_id": d.building_id,
            "substation_id": d.substation_id,
            "gateway": f"{d.host}:{d.port}" if d.protocol == "modbus" else "",
            "commissioned": None if d.commissioned is None else d.commissioned.isoformat(),
            "first_reading": None if first is None else
            dt.datetime.fromtimestamp(first / 1000, tz).isoformat(timespec="minutes"),
            "reported": first is not None,
        })
    return out


def devices_command(cfg: Config, never: bool, json_: bool,
                    say: Callable[[str], None] = print) -> int:
    """The devices (or only those never heard from), as a table or JSON."""
    rows = [r for r in device_rows(cfg) if not (never and r["reported"])]
    if json_:
        say(json.dumps(rows, ensure_ascii=False, indent=2))
        return 0
    if not rows:
        say("every device has reported" if never else "no devices in the records")
        return 0
    say(f"{'kind':<11} {'device':<22} {'building':<10} {'gateway':<22} {'commissioned':<12} "
        f"first reading")
    for r in rows:
        say(f"{r['kind']:<11} {r['device_id']:<22} {r['building_id']:<10} {r['gateway']:<22} "
            f"{r['commissioned'] or '—':<12} {r['first_reading'] or 'never'}")
    say(f"{sum(1 for r in rows if not r['reported'])} of {len(rows)} never reported")
    return 0
