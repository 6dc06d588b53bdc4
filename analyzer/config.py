"""The `[analyzer]` config section: the runner's schedule and a city's rules, as simple TOML."""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from analyzer.rules import (
    CityRules,
    Compensation,
    LeakRules,
    MeterRules,
    OutageRules,
    RefundBand,
    RoomRules,
    Season,
    Tariff,
    UnderTemperatureRefund,
)


class AnalyzerConfigError(ValueError):
    """A bad `[analyzer]` value; the message is one line naming the key."""


@dataclass(slots=True)
class SeasonConfig:
    # DOMAIN: season 15 Nov to 15 Mar
    start: str = "11-15"  # MM-DD
    end: str = "03-15"  # MM-DD, inclusive


@dataclass(slots=True)
class RoomsConfig:
    min_c: float = 18.0
    target_rate: float = 0.97
    trailing_h: float = 6.0
    trailing_min_coverage: float = 0.5
    valid_min_c: float = -30.0
    valid_max_c: float = 60.0
    min_day_coverage: float = 0.5
    # on hourly means a stuck sensor repeats its mean exactly; 8 h keeps a steady room clear
    stuck_h: float = 8.0
    stuck_tolerance_c: float = 0.0
    # DOMAIN: sensors sample every 10–60 min, so this many hours without one is silence
    silent_h: float = 3.0
    # DOMAIN: Tianjin 10 % / 50 % / 100 % for 0–2 K / 2–6 K / > 6 K below 18 °C
    refund_bands_k: list[float] = field(default_factory=lambda: [2.0, 6.0, 1e9])
    refund_shares: list[float] = field(default_factory=lambda: [0.10, 0.50, 1.00])


@dataclass(slots=True)
class MetersConfig:
    interval_s: int = 3600  # DOMAIN: meters are read hourly
    valid_min_c: float = 2.0
    valid_max_c: float = 150.0
    frozen_intervals: int = 3
    swapped_h: float = 6.0
    k_kwh_m3k: float = 1.16
    dtheta_min_k: float = 3.0
    qp_m3h: float = 1.5
    comm_loss_intervals: int = 2
    human_bits: list[int] = field(default_factory=lambda: [7, 8])


@dataclass(slots=True)
class OutagesConfig:
    step_s: int = 300  # DOMAIN: substations report every 1–5 min
    min_supply_c: float = 35.0
    min_dt_k: float = 2.0
    min_duration_min: float = 30.0
    escalation_h: list[float] = field(default_factory=lambda: [8.0, 12.0, 24.0])
    over_h: float = 24.0
    round_up_days: bool = True
    multiplier: float = 1.0
    counts_from_h: float = 0.0


@dataclass(slots=True)
class LeaksConfig:
    makeup_share: float = 0.02
    window_h: float = 1.0
    sag_mpa: float = 0.10
    sag_min_duration_min: float = 15.0


@dataclass(slots=True)
class TariffConfig:
    # DOMAIN: Beijing area 24 元/m² per season; metered 12 元/m² + 0.16 元/kWh
    area_cny_m2_season: float = 24.0
    basic_cny_m2_season: float = 12.0
    energy_cny_kwh: float = 0.16


@dataclass(slots=True)
class AnalyzerConfig:
    interval_s: float = 300.0  # how often `heatwatch analyze` runs a cycle
    lookback_h: float = 48.0  # each cycle re-reads this much plus the current day
    max_catchup_h: float = 168.0  # after downtime, cycles replay at most this far back
    workflow_path: str = ""  # empty: <data_dir>/workflow.sqlite
    write_back: bool = True
    season: SeasonConfig = field(default_factory=SeasonConfig)
    rooms: RoomsConfig = field(default_factory=RoomsConfig)
    meters: MetersConfig = field(default_factory=MetersConfig)
    outages: OutagesConfig = field(default_factory=OutagesConfig)
    leaks: LeaksConfig = field(default_factory=LeaksConfig)
    tariff: TariffConfig = field(default_factory=TariffConfig)

    def rules(self) -> CityRules:
        """The kernels' rules; raises AnalyzerConfigError on a value they cannot use."""
        check(self)
        r, m, o, lk, t = self.rooms, self.meters, self.outages, self.leaks, self.tariff
        sm, sd = _month_day(self.season.start, "season.start")
        em, ed = _month_day(self.season.end, "season.end")
        bands = tuple(RefundBand(float(k), float(s))
                      for k, s in zip(r.refund_bands_k, r.refund_shares, strict=True))
        return CityRules(
            season=Season(sm, sd, em, ed),
            rooms=RoomRules(r.min_c, r.target_rate, r.trailing_h, r.trailing_min_coverage,
                            r.valid_min_c, r.valid_max_c, r.min_day_coverage, r.stuck_h,
                            r.stuck_tolerance_c, r.silent_h),
            refund=UnderTemperatureRefund(bands, r.min_c),
            tariff=Tariff(_money(t.area_cny_m2_season), _money(t.basic_cny_m2_season),
                          _money(t.energy_cny_kwh)),
            outages=OutageRules(o.min_supply_c, o.min_dt_k, o.min_duration_min,
                                tuple(float(x) for x in o.escalation_h), o.over_h),
            compensation=Compensation(o.round_up_days, _money(o.multiplier), o.counts_from_h),
            leaks=LeakRules(lk.makeup_share, lk.window_h, lk.sag_mpa, lk.sag_min_duration_min),
            meters=MeterRules(valid_min_c=m.valid_min_c, valid_max_c=m.valid_max_c,
                              frozen_intervals=m.frozen_intervals, swapped_h=m.swapped_h,
                              k_kwh_m3k=m.k_kwh_m3k, dtheta_min_k=m.dtheta_min_k,
                              qp_m3h=m.qp_m3h, comm_loss_intervals=m.comm_loss_intervals,
                              human_bits=tuple(int(b) for b in m.human_bits)),
        )


def _money(x: float) -> Decimal:
    # the shortest decimal that round-trips the TOML float: 0.16 stays 0.16 to the fen
    return Decimal(repr(float(x)))


def _month_day(text: str, where: str) -> tuple[int, int]:
    try:
        month, day = (int(p) for p in text.split("-"))
        Season(month, day, month, day).start(2000)  # 2000 is a leap year: 02-29 is allowed
    except ValueError:
        raise AnalyzerConfigError(f"[analyzer] {where} {text!r} is not MM-DD") from None
    return month, day


def _positive(value: float, where: str) -> None:
    if not value > 0:
        raise AnalyzerConfigError(f"[analyzer] {where} must be positive, got {value!r}")


def _share(value: float, where: str) -> None:
    if not 0 <= value <= 1:
        raise AnalyzerConfigError(f"[analyzer] {where} must be between 0 and 1, got {value!r}")


def check(cfg: AnalyzerConfig) -> None:
    """Every value the runner and kernels rely on, with a one-line error for the first bad one."""
    _positive(cfg.interval_s, "interval_s")
    _positive(cfg.lookback_h, "lookback_h")
    if cfg.max_catchup_h < cfg.lookback_h:
        raise AnalyzerConfigError("[analyzer] max_catchup_h must be at least lookback_h")
    _month_day(cfg.season.start, "season.start")
    _month_day(cfg.season.end, "season.end")
    r = cfg.rooms
    for name in ("trailing_h", "stuck_h", "silent_h"):
        _positive(getattr(r, name), f"rooms.{name}")
    for name in ("target_rate", "trailing_min_coverage", "min_day_coverage"):
        _share(getattr(r, name), f"rooms.{name}")
    if r.valid_min_c >= r.valid_max_c:
        raise AnalyzerConfigError("[analyzer] rooms.valid_min_c must be below valid_max_c")
    if len(r.refund_bands_k) != len(r.refund_shares) or not r.refund_bands_k:
        raise AnalyzerConfigError("[analyzer] rooms.refund_bands_k and refund_shares must be "
                                  "non-empty lists of the same length")
    if any(b <= a for a, b in zip(r.refund_bands_k, r.refund_bands_k[1:], strict=False)):
        raise AnalyzerConfigError("[analyzer] rooms.refund_bands_k must be ascending")
    for s in r.refund_shares:
        _share(s, "rooms.refund_shares")
    m = cfg.meters
    # hourly slots: an interval must divide a day so days stay whole
    if m.interval_s <= 0 or 86400 % m.interval_s:
        raise AnalyzerConfigError("[analyzer] meters.interval_s must divide a day (e.g. 3600)")
    if m.frozen_intervals < 1 or m.comm_loss_intervals < 1:
        raise AnalyzerConfigError("[analyzer] meters.frozen_intervals and comm_loss_intervals "
                                  "must be at least 1")
    if any(not 0 <= b <= 15 for b in m.human_bits):
        raise AnalyzerConfigError("[analyzer] meters.human_bits must be status bits 0..15")
    o = cfg.outages
    if o.step_s <= 0 or 3600 % o.step_s:
        raise AnalyzerConfigError("[analyzer] outages.step_s must divide an hour (e.g. 300)")
    if sorted(o.escalation_h) != list(o.escalation_h) or any(x <= 0 for x in o.escalation_h):
        raise AnalyzerConfigError("[analyzer] outages.escalation_h must be ascending and "
                                  "positive")
    _positive(o.multiplier, "outages.multiplier")
    _positive(cfg.leaks.window_h, "leaks.window_h")
    _share(cfg.leaks.makeup_share, "leaks.makeup_share")
    for name in ("area_cny_m2_season", "basic_cny_m2_season", "energy_cny_kwh"):
        if getattr(cfg.tariff, name) < 0:
            raise AnalyzerConfigError(f"[analyzer] tariff.{name} must not be negative")


def _coerce(value: Any, kind: Any, where: str) -> Any:
    origin = typing.get_origin(kind)
    if origin is list:
        (item,) = typing.get_args(kind)
        if not isinstance(value, list):
            raise AnalyzerConfigError(f"[analyzer] {where}: expected a list, got {value!r}")
        return [_coerce(v, item, f"{where}[{i}]") for i, v in enumerate(value)]
    if kind is bool and isinstance(value, bool):
        return value
    if kind is int and isinstance(value, int) and not isinstance(value, bool):
        return value
    if kind is float and isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if kind is str and isinstance(value, str):
        return value
    raise AnalyzerConfigError(f"[analyzer] {where}: expected {getattr(kind, '__name__', kind)}, "
                              f"got {value!r}")


def _fill(obj: Any, data: Mapping[str, Any], where: str) -> None:
    hints = typing.get_type_hints(type(obj))
    names = [f.name for f in dataclasses.fields(obj)]
    for key, value in data.items():
        path = f"{where}.{key}" if where else key
        if key not in names:
            raise AnalyzerConfigError(f"[analyzer] unknown key {path!r} "
                                      f"(known: {', '.join(names)})")
        current = getattr(obj, key)
        if dataclasses.is_dataclass(current):
            if not isinstance(value, Mapping):
                raise AnalyzerConfigError(f"[analyzer] {path} must be a table")
            _fill(current, value, path)
        else:
            setattr(obj, key, _coerce(value, hints[key], path))


def from_mapping(data: Mapping[str, Any]) -> AnalyzerConfig:
    """Parse the `[analyzer]` table over the defaults and check it."""
    cfg = AnalyzerConfig()
    _fill(cfg, data, "")
    check(cfg)
    return cfg
