"""`heatwatch scorecard --day D [--json]`: stations and buildings ranked by the heat and the
return temperature they wasted that day, against their own normal, with the money (kWh × the
tariff's energy price) where the meters allow, and the early warnings open on them."""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import math
from collections.abc import Callable
from typing import Any

from analyzer.early_store import Ranked, early_for_day, rank_buildings, rank_stations
from analyzer.index import DistrictIndex
from heatwatch import bootstrap
from heatwatch.common import timezone
from heatwatch.config import Config
from heatwatch.errors import UserError
from storage.base import StoreError


def _clean(x: Any) -> Any:
    """NaN as null in JSON (a day without the readings to judge it)."""
    if isinstance(x, float) and not math.isfinite(x):
        return None
    if isinstance(x, dict):
        return {k: _clean(v) for k, v in x.items()}
    if isinstance(x, list):
        return [_clean(v) for v in x]
    return x


def _row(r: Ranked, rank: int, id_key: str) -> dict[str, Any]:
    d = dataclasses.asdict(r)
    extra = d.pop("extra")
    ident = d.pop("id")
    out: dict[str, Any] = _clean({"rank": rank, id_key: ident, **d, **extra})
    return out


def scorecard_data(cfg: Config, day: dt.date) -> dict[str, Any]:
    """The ranking as the JSON the README documents."""
    rec = bootstrap.records(cfg)
    index = DistrictIndex.from_records(rec)
    rules = cfg.analyzer.city
    opened = bootstrap.open_store(cfg, read_only=True, spool=False)
    try:
        res, first = early_for_day(opened.store, index, day, timezone(cfg), rules.early)
    except StoreError as e:
        raise UserError(f"cannot read the store: {e}") from None
    finally:
        opened.store.close()
    price = rules.tariff.energy_cny_kwh
    stations = rank_stations(res, index, price, first)
    buildings = rank_buildings(res, index, price)
    return {"day": day.isoformat(), "baseline_from": first.isoformat(),
            "energy_cny_kwh": float(price),
            "stations": [_row(r, i + 1, "substation_id") for i, r in enumerate(stations)],
            "buildings": [_row(r, i + 1, "building_id") for i, r in enumerate(buildings)]}


def scorecard_command(cfg: Config, day_text: str, json_: bool,
                      say: Callable[[str], None] = print) -> int:
    try:
        day = dt.date.fromisoformat(day_text)
    except ValueError:
        raise UserError(f"--day {day_text!r} is not a date (YYYY-MM-DD)") from None
    data = scorecard_data(cfg, day)
    if json_:
        say(json.dumps(data, ensure_ascii=False, indent=2))
        return 0
    say(f"{day} 能效排名 scorecard (baseline from {data['baseline_from']})")
    say(f"{'#':>3} {'换热站 station':<16} {'浪费 kWh':>10} {'元 CNY':>9} {'回水 °C':>8} "
        f"{'回水超 K':>8}  预警 warning")
    for s in data["stations"][:20]:
        w = s["warning"]["cause"] if s["warning"] else ""
        say(f"{s['rank']:>3} {s['substation_id']:<16} {_f(s['wasted_kwh']):>10} "
            f"{_f(s['wasted_cny']):>9} {_f(s['return_c']):>8} {_f(s['return_excess_k']):>8}  {w}")
    say(f"{'#':>3} {'楼栋 building':<16} {'浪费 kWh':>10} {'元 CNY':>9} {'回水 °C':>8} "
        f"{'比邻高 K':>8}  突出热表 meters")
    for b in data["buildings"][:20]:
        say(f"{b['rank']:>3} {b['building_id']:<16} {_f(b['wasted_kwh']):>10} "
            f"{_f(b['wasted_cny']):>9} {_f(b['return_c']):>8} {_f(b['return_excess_k']):>8}  "
            f"{' '.join(b['meters_standing_out'])}")
    return 0


def add_scorecard_parser(command: Callable[..., argparse.ArgumentParser],
                         config: Callable[[argparse.Namespace], Config]) -> None:
    """`heatwatch scorecard --day D [--json]`."""
    sp = command("scorecard", lambda a: scorecard_command(config(a), a.day, a.json),
                 "stations and buildings ranked by the heat and return temperature they "
                 "wasted on a day, with their early warnings")
    sp.add_argument("--day", required=True, help="the day (YYYY-MM-DD)")
    sp.add_argument("--json", action="store_true")


def _f(x: float | None) -> str:
    return "—" if x is None else f"{x:.1f}"
