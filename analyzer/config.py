"""The `[analyzer]` config section: the runner's schedule, and a city's rules parsed straight
into the frozen types of `policy.rules` (their defaults are the only defaults).

The TOML keeps a city's words: `[analyzer.season] start = "11-15"`, the refund bands as two
lists under `[analyzer.rooms]`, the compensation rule under `[analyzer.outages]`. `table_to_fields`
turns that table into the shape of `AnalyzerConfig`, and `toml_key` names a field of it the way
the TOML does, so every error names the key the operator wrote.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any

from annotated_types import Gt

from policy.early import EarlyRules
from policy.rules import (
    CityRules,
    Compensation,
    LeakRules,
    MeterRules,
    OutageRules,
    RoomRules,
    Season,
    SignalRules,
    Tariff,
    UnderTemperatureRefund,
)

# TOML table -> the rule type its keys fill (besides the keys mapped below)
_TABLES: dict[str, type] = {"rooms": RoomRules, "meters": MeterRules, "outages": OutageRules,
                            "leaks": LeakRules, "tariff": Tariff, "signals": SignalRules,
                            "early": EarlyRules}
_REFUND_KEYS = ("refund_bands_k", "refund_shares")  # [analyzer.rooms] -> refund.bands
_COMPENSATION_KEYS = tuple(f.name for f in dataclasses.fields(Compensation))  # [analyzer.outages]


@dataclass(slots=True)
class AnalyzerConfig:
    interval_s: Annotated[float, Gt(0)] = 300.0  # incremental = false: a whole cycle this often
    lookback_h: Annotated[float, Gt(0)] = 48.0  # each cycle re-reads this plus the current day
    max_catchup_h: Annotated[float, Gt(0)] = 168.0  # after downtime, replay at most this far
    write_back: bool = True
    # each kind at its own pace (issue 11): the fast path (outages, leaks), rooms, and meters
    # once an hour after the poll has landed (meter_delay_s past the hour)
    substation_interval_s: Annotated[float, Gt(0)] = 60.0
    room_interval_s: Annotated[float, Gt(0)] = 600.0
    meter_interval_s: Annotated[float, Gt(0)] = 3600.0
    meter_delay_s: float = 300.0
    incremental: bool = True  # keep the window between cycles; read only what is new
    catchup_step_h: Annotated[float, Gt(0)] = 6.0  # catch-up evaluates this often (incremental)
    # this analyzer's share of the district: "k/n" (substations by a stable hash), or a list
    shard: str = ""
    substations: list[str] = field(default_factory=list)
    city: CityRules = field(default_factory=CityRules)

    def __post_init__(self) -> None:
        if self.shard:
            parse_shard(self.shard)
            if self.substations:
                raise ValueError("[analyzer] shard: give shard or substations, not both")
        if not 0 <= self.meter_delay_s < self.meter_interval_s:
            raise ValueError("[analyzer] meter_delay_s: must be at least 0 and less than "
                             "meter_interval_s")
        if self.max_catchup_h < self.lookback_h:
            raise ValueError("[analyzer] max_catchup_h: must be at least lookback_h")
        if self.lookback_h < self.city.rooms.stuck_h:
            # a stuck stretch must fit in one window to be seen
            raise ValueError("[analyzer] lookback_h: must be at least rooms.stuck_h")
        check_rules(self.city)

    def rules(self) -> CityRules:
        return self.city

    @property
    def rooms(self) -> RoomRules:
        return self.city.rooms

    @property
    def outages(self) -> OutageRules:
        return self.city.outages


def parse_shard(text: str) -> tuple[int, int]:
    """ "k/n" as (k, n), 1 <= k <= n; ValueError naming the key otherwise."""
    try:
        k, n = (int(p) for p in text.split("/"))
        if not 1 <= k <= n:
            raise ValueError
    except ValueError:
        raise ValueError(f"[analyzer] shard: {text!r} is not k/n with 1 <= k <= n") from None
    return k, n


def _names(kind: type) -> list[str]:
    return [f.name for f in dataclasses.fields(kind)]


def toml_shape() -> dict[str, Any]:
    """Every key the `[analyzer]` table takes: a leaf is None, a sub-table a dict."""
    top: dict[str, Any] = {k: None for k in (
        "interval_s", "lookback_h", "max_catchup_h", "write_back", "substation_interval_s",
        "room_interval_s", "meter_interval_s", "meter_delay_s", "incremental", "catchup_step_h",
        "shard", "substations")}
    top["season"] = {"start": None, "end": None}
    for name, kind in _TABLES.items():
        top[name] = dict.fromkeys(_names(kind))
    top["rooms"].update(dict.fromkeys(_REFUND_KEYS))
    top["outages"].update(dict.fromkeys(_COMPENSATION_KEYS))
    return top


def _month_day(text: Any, key: str) -> tuple[int, int]:
    try:
        if not isinstance(text, str):
            raise ValueError
        month, day = (int(p) for p in text.split("-"))
        Season(month, day, month, day).start(2000)  # 2000 is a leap year: 02-29 is allowed
    except ValueError:
        raise ValueError(f"[analyzer.season] {key}: {text!r} is not MM-DD") from None
    return month, day


def table_to_fields(table: Mapping[str, Any]) -> dict[str, Any]:
    """The `[analyzer]` TOML table in the shape of AnalyzerConfig (unknown keys are checked
    before); raises ValueError naming the key for what cannot be reshaped."""
    out = {k: v for k, v in table.items() if k not in toml_shape() or toml_shape()[k] is None}
    city: dict[str, Any] = {}
    for name in _TABLES:
        if name in table:
            if not isinstance(table[name], Mapping):
                raise ValueError(f"[analyzer.{name}]: must be a table")
            city[name] = dict(table[name])
    season = table.get("season", {})
    if not isinstance(season, Mapping):
        raise ValueError("[analyzer.season]: must be a table")
    if season:
        city["season"] = _season_fields(season)
    refund = _refund_fields(city.get("rooms", {}))
    if refund:
        city["refund"] = refund
    outages = city.get("outages", {})
    compensation = {k: outages.pop(k) for k in _COMPENSATION_KEYS if k in outages}
    if compensation:
        city["compensation"] = compensation
    if city:
        out["city"] = city
    return out


def _season_fields(season: Mapping[str, Any]) -> dict[str, int]:
    """`start` and `end` (MM-DD) as Season's fields."""
    default = Season()
    sm, sd = _month_day(season.get("start", f"{default.start_month}-{default.start_day}"),
                        "start")
    em, ed = _month_day(season.get("end", f"{default.end_month}-{default.end_day}"), "end")
    return {"start_month": sm, "start_day": sd, "end_month": em, "end_day": ed}


def _refund_fields(rooms: dict[str, Any]) -> dict[str, Any]:
    """The refund keys of `[analyzer.rooms]` (taken out of it) as UnderTemperatureRefund's."""
    refund: dict[str, Any] = {}
    if any(k in rooms for k in _REFUND_KEYS):
        default_bands = UnderTemperatureRefund().bands
        ks = rooms.pop("refund_bands_k", [b.max_below_k for b in default_bands])
        shares = rooms.pop("refund_shares", [b.share for b in default_bands])
        for key, value in (("refund_bands_k", ks), ("refund_shares", shares)):
            if not isinstance(value, list) or not value:
                raise ValueError(f"[analyzer.rooms] {key}: must be a non-empty list of "
                                 f"numbers, got {value!r}")
        if len(ks) != len(shares):
            raise ValueError("[analyzer.rooms] refund_shares: must have one share per "
                             "refund_bands_k entry")
        refund["bands"] = [{"max_below_k": k, "share": s} for k, s in zip(ks, shares,
                                                                            strict=True)]
    return refund


def toml_key(loc: tuple[str | int, ...]) -> tuple[str, str]:
    """A location in AnalyzerConfig as the TOML (table, key) the operator wrote."""
    if not loc or loc[0] != "city":
        return "analyzer", ".".join(str(p) for p in loc)
    rest = loc[1:]
    if not rest:
        return "analyzer", ""
    table, tail = str(rest[0]), rest[1:]
    if table == "season":
        key = str(tail[0]) if tail else ""
        return "analyzer.season", "start" if key.startswith("start") else "end" if key else ""
    if table == "compensation":
        return "analyzer.outages", ".".join(str(p) for p in tail)
    if table == "refund":
        if tail[:1] == ("bands",) and len(tail) >= 2:
            key = "refund_shares" if tail[-1] == "share" else "refund_bands_k"
            return "analyzer.rooms", f"{key}[{tail[1]}]"
        return "analyzer.rooms", ".".join(str(p) for p in tail) or "refund_bands_k"
    return f"analyzer.{table}", ".".join(str(p) for p in tail)


def _positive(value: float, where: str) -> None:
    if not value > 0:
        raise ValueError(f"{where}: must be positive, got {value!r}")


def _share(value: float, where: str) -> None:
    if not 0 <= value <= 1:
        raise ValueError(f"{where}: must be between 0 and 1, got {value!r}")


def _finite(value: float, where: str) -> None:
    if not math.isfinite(value):
        raise ValueError(f"{where}: must be a finite number, got {value!r}")


def check_rules(c: CityRules) -> None:
    """Every value the kernels rely on, with a one-line error naming the first bad key."""
    _check_rooms(c)
    _check_meters(c.meters)
    _check_outages(c)
    _check_signals(c)
    _check_early(c.early)
    lk = c.leaks
    _positive(lk.window_h, "[analyzer.leaks] window_h")
    _share(lk.makeup_share, "[analyzer.leaks] makeup_share")
    _finite(lk.sag_mpa, "[analyzer.leaks] sag_mpa")
    for name in ("area_cny_m2_season", "basic_cny_m2_season", "energy_cny_kwh"):
        price = getattr(c.tariff, name)
        if not (price.is_finite() and price >= 0):
            raise ValueError(f"[analyzer.tariff] {name}: must be a price, not {price}")


def _check_early(e: EarlyRules) -> None:
    """The early-warning rules: counts at least one, shares in 0..1, levels positive."""
    for name in ("baseline_days", "fit_passes", "close_days"):
        if getattr(e, name) < 1:
            raise ValueError(f"[analyzer.early] {name}: must be at least 1")
    for name in ("min_day_coverage", "min_match"):
        _share(getattr(e, name), f"[analyzer.early] {name}")
    for name in ("huber_k", "cusum_k", "cusum_h", "cusum_cap", "meter_outlier_z",
                 "sigma_prior_days"):
        _positive(getattr(e, name), f"[analyzer.early] {name}")
    if e.cusum_cap < e.cusum_h:
        raise ValueError("[analyzer.early] cusum_cap: must be at least cusum_h")
    if len(e.sigma_floor) != 6 or not all(math.isfinite(f) and f > 0 for f in e.sigma_floor):
        raise ValueError("[analyzer.early] sigma_floor: six positive numbers (dt, return, "
                         "supply, flow, supply_gap, makeup)")
    _finite(e.balance_point_c, "[analyzer.early] balance_point_c")
    if not 0 <= e.run_hour <= 23:
        raise ValueError("[analyzer.early] run_hour: must be an hour, 0 to 23")


def _check_rooms(c: CityRules) -> None:
    r = c.rooms
    for name in ("min_c", "valid_min_c", "valid_max_c", "stuck_tolerance_c"):
        _finite(getattr(r, name), f"[analyzer.rooms] {name}")
    for name in ("trailing_h", "stuck_h", "silent_h"):
        _positive(getattr(r, name), f"[analyzer.rooms] {name}")
    for name in ("target_rate", "trailing_min_coverage", "min_day_coverage"):
        _share(getattr(r, name), f"[analyzer.rooms] {name}")
    if r.valid_min_c >= r.valid_max_c:
        raise ValueError("[analyzer.rooms] valid_min_c: must be below valid_max_c")
    ks = [b.max_below_k for b in c.refund.bands]
    if not ks or any(not k > 0 for k in ks) or any(b <= a for a, b in zip(ks, ks[1:],
                                                                         strict=False)):
        raise ValueError(f"[analyzer.rooms] refund_bands_k: must be positive and ascending, "
                         f"got {ks!r}")
    for b in c.refund.bands:
        _share(b.share, "[analyzer.rooms] refund_shares")


def _check_meters(m: MeterRules) -> None:
    for name in ("valid_min_c", "valid_max_c", "swapped_h", "k_kwh_m3k", "dtheta_min_k",
                 "qp_m3h", "flow_cap_pct"):
        _finite(getattr(m, name), f"[analyzer.meters] {name}")
    if m.valid_min_c >= m.valid_max_c:
        raise ValueError("[analyzer.meters] valid_min_c: must be below valid_max_c")
    for name in ("swapped_h", "k_kwh_m3k", "dtheta_min_k", "qp_m3h", "flow_cap_pct"):
        _positive(getattr(m, name), f"[analyzer.meters] {name}")
    if m.frozen_intervals < 1 or m.comm_loss_intervals < 1:
        raise ValueError("[analyzer.meters] frozen_intervals: frozen_intervals and "
                         "comm_loss_intervals must be at least 1")
    if any(not 0 <= b <= 15 for b in (*m.human_bits, *m.status_bits)):
        raise ValueError("[analyzer.meters] human_bits: status bits are 0..15")


def _check_outages(c: CityRules) -> None:
    """The outage detector's keys and the compensation rule."""
    o = c.outages
    if o.step_s <= 0 or 3600 % o.step_s:
        raise ValueError("[analyzer.outages] step_s: must divide an hour (e.g. 300)")
    if list(o.escalation_h) != sorted(o.escalation_h) or any(not 0 < x < math.inf
                                                             for x in o.escalation_h):
        raise ValueError("[analyzer.outages] escalation_h: must be ascending and positive")
    for name in ("min_supply_c", "min_dt_k", "over_h"):
        _finite(getattr(o, name), f"[analyzer.outages] {name}")
    _positive(o.min_duration_min, "[analyzer.outages] min_duration_min")
    comp = c.compensation
    if not (comp.multiplier.is_finite() and comp.multiplier > 0):
        raise ValueError(f"[analyzer.outages] multiplier: must be positive, got "
                         f"{comp.multiplier}")
    if not 0 <= comp.counts_from_h < math.inf:
        raise ValueError("[analyzer.outages] counts_from_h: must not be negative")


def _check_signals(c: CityRules) -> None:
    """The keys of issue 9: staleness, merge gap, grace period, a flat building."""
    for name in ("substation_stale_min", "room_stale_h", "meter_stale_h", "merge_gap_min",
                 "never_reported_grace_h", "substation_silent_min", "weather_silent_h"):
        value = getattr(c.signals, name)
        if not 0 <= value < math.inf:
            raise ValueError(f"[analyzer.signals] {name}: must not be negative, got {value!r}")
    if c.signals.silent_group_rooms < 2:
        raise ValueError("[analyzer.signals] silent_group_rooms: a group is at least 2 rooms, "
                         f"got {c.signals.silent_group_rooms!r}")
    _share(c.rooms.flat_building_share, "[analyzer.rooms] flat_building_share")
    _finite(c.rooms.flat_building_range_c, "[analyzer.rooms] flat_building_range_c")


class AnalyzerConfigError(ValueError):
    """A bad `[analyzer]` value; the message is one line naming the key."""


def from_mapping(table: Mapping[str, Any]) -> AnalyzerConfig:
    """Parse an `[analyzer]` table on its own (tests and tools; `heatwatch.config` parses the
    whole file with the same shape and key names)."""
    from pydantic import TypeAdapter, ValidationError

    def unknown(data: Mapping[str, Any], shape: Mapping[str, Any], where: str) -> None:
        for key, value in data.items():
            if key not in shape:
                raise AnalyzerConfigError(f"[{where}] unknown key {key!r}")
            if shape[key] is not None and isinstance(value, Mapping):
                unknown(value, shape[key], f"{where}.{key}")

    unknown(table, toml_shape(), "analyzer")
    try:
        return TypeAdapter(AnalyzerConfig).validate_python(table_to_fields(table))
    except ValidationError as e:
        err = e.errors(include_url=False)[0]
        where, key = toml_key(tuple(err["loc"]))
        msg = str(err["msg"]).removeprefix("Value error, ")
        raise AnalyzerConfigError(msg if msg.startswith("[") else
                                  f"[{where}] {key}: {msg} (got {err.get('input')!r})") from None
    except ValueError as e:
        raise AnalyzerConfigError(str(e)) from None
