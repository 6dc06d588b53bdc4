"""Thresholds, tariffs and season rules the kernels apply; every number is a default of
docs/rules.md."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal
from enum import IntEnum
from typing import Final

from policy.early import EarlyRules


@dataclass(frozen=True, slots=True)
class Season:
    """A heating season by month and day, both ends included."""

    # docs/rules.md: season 15 Nov to 15 Mar (121 days, 122 in a leap year)
    start_month: int = 11
    start_day: int = 15
    end_month: int = 3
    end_day: int = 15

    def start(self, year: int) -> dt.date:
        """First day of the season that starts in `year`."""
        return dt.date(year, self.start_month, self.start_day)

    def end(self, year: int) -> dt.date:
        """Last day (inclusive) of the season that starts in `year`."""
        wraps = (self.end_month, self.end_day) < (self.start_month, self.start_day)
        return dt.date(year + 1 if wraps else year, self.end_month, self.end_day)

    def days(self, year: int) -> int:
        """Season length in days, computed from the dates (so leap years count)."""
        return (self.end(year) - self.start(year)).days + 1

    def year_of(self, day: dt.date) -> int:
        """The year whose season a date belongs to (or follows): the season that started last
        on or before it, by the configured start month *and* day."""
        return day.year if (day.month, day.day) >= (self.start_month, self.start_day) \
            else day.year - 1

    def contains(self, day: dt.date) -> bool:
        """Whether a date lies inside a heating season, both ends included."""
        return day <= self.end(self.year_of(day))


@dataclass(frozen=True, slots=True)
class RoomRules:
    """Room-temperature compliance (室温合格率) thresholds."""

    # docs/rules.md: bedrooms and living rooms must be >= 18 °C (daily mean)
    min_c: float = 18.0
    # docs/rules.md: compliance target >= 97 %
    target_rate: float = 0.97
    # dispatch's faster signal: trailing mean over this many hours below min_c
    trailing_h: float = 6.0
    # share of the trailing window that must hold samples before it may signal
    trailing_min_coverage: float = 0.5
    # docs/rules.md: a thermometer reading outside -30…60 °C is a sensor fault
    valid_min_c: float = -30.0
    valid_max_c: float = 60.0
    # a day with samples in fewer than this share of its slots is a silent sensor
    min_day_coverage: float = 0.5
    # docs/rules.md: a stuck thermometer is a sensor fault; unchanged this long = stuck
    stuck_h: float = 24.0
    # docs/rules.md: 0.1 °C resolution, so values closer than half of it are "unchanged"
    stuck_tolerance_c: float = 0.05
    # a room holding its value is not stuck while at least this share of its building's other
    # rooms stayed within flat_building_range_c over the same stretch: the building is flat
    # (an outage, a steady building), not the sensor
    flat_building_share: float = 0.5
    flat_building_range_c: float = 0.2
    # docs/rules.md: sensors sample every 10–60 min, so this many hours without one is silence
    silent_h: float = 3.0


@dataclass(frozen=True, slots=True)
class RefundBand:
    """Share of the daily fee refunded when a day's mean is up to `max_below_k` under min."""

    max_below_k: float
    share: float


# docs/rules.md: Tianjin 10 % / 50 % / 100 % for 0–2 K / 2–6 K / > 6 K below 18 °C
TIANJIN_BANDS: Final[tuple[RefundBand, ...]] = (
    RefundBand(2.0, 0.10),
    RefundBand(6.0, 0.50),
    RefundBand(float("inf"), 1.00),
)


@dataclass(frozen=True, slots=True)
class UnderTemperatureRefund:
    """Under-temperature refund bands (upper bounds inclusive, ascending), in kelvin below the
    rooms' standard (`RoomRules.min_c`: one setting for the standard and the refund)."""

    bands: tuple[RefundBand, ...] = TIANJIN_BANDS


@dataclass(frozen=True, slots=True)
class Tariff:
    """Prices of one city's two-part tariff, and its area tariff."""

    # docs/rules.md: Beijing area billing 24 元/m² per season
    area_cny_m2_season: Decimal = Decimal("24")
    # docs/rules.md: Beijing metered 12 元/m² + 0.16 元/kWh
    basic_cny_m2_season: Decimal = Decimal("12")
    energy_cny_kwh: Decimal = Decimal("0.16")
    # docs/rules.md: degree-days Σ(18 − daily outdoor mean) (CJJ/T 223), the estimate's base
    degree_day_base_c: float = 18.0


@dataclass(frozen=True, slots=True)
class OutageRules:
    """When a substation or building is out, and when dispatch escalates."""

    # docs/rules.md: supply below ~35 °C with supply−return under 2 K, for >= 30 min
    min_supply_c: float = 35.0
    min_dt_k: float = 2.0
    min_duration_min: float = 30.0
    # docs/rules.md: escalation points 8 h, 12 h, 24 h are per city
    escalation_h: tuple[float, ...] = (8.0, 12.0, 24.0)
    # seed: an outage not restored within 24 h is explained to its residents (the notice, which
    # promises compensation); whether and how much is paid is Compensation's (counts_from_h)
    over_h: float = 24.0
    # a building meter shows "no flow" at or below this
    no_flow_m3h: float = 0.0
    # docs/rules.md: substations report every 1–5 min; outages are judged on this grid
    step_s: int = 300


@dataclass(frozen=True, slots=True)
class Compensation:
    """How an outage is paid back after the season."""

    # docs/rules.md: part days round up (30 h -> 2 days)
    round_up_days: bool = True
    # docs/rules.md: Dandong pays 2×
    multiplier: Decimal = Decimal("1")
    # seed: an outage not restored within 24 h is compensated; docs/rules.md: Luoyang counts from
    # 12 h. Read as "shorter outages are not compensated", which is what makes the worked
    # example's 30 h give 2 days (35.70 元, and 9.72 元 in Luoyang), not 1
    counts_from_h: float = 24.0
    # docs/rules.md: Luoyang metered accounts get 0.054 元/(m²·day) basic fee back; None = unused
    metered_basic_cny_m2_day: Decimal | None = None


LUOYANG: Final = Compensation(counts_from_h=12.0, metered_basic_cny_m2_day=Decimal("0.054"))
DANDONG: Final = Compensation(multiplier=Decimal("2"))


@dataclass(frozen=True, slots=True)
class LeakRules:
    """Signs of a leak at a substation."""

    # docs/rules.md: make-up water above 2 % of circulating flow per hour means a leak
    makeup_share: float = 0.02
    window_h: float = 1.0
    # docs/rules.md: the pressure-holding point sags (e.g. 0.35 -> 0.25 MPa)
    sag_mpa: float = 0.10
    sag_min_duration_min: float = 15.0


class Cause(IntEnum):
    """Why a meter interval is faulty; codes 0–8 are the status bits (docs/devices.md)."""

    NO_FLOW_SIGNAL = 0
    SUPPLY_SENSOR = 1
    RETURN_SENSOR = 2
    REVERSE_FLOW = 3
    FLOW_ABOVE_QS = 4
    LOW_BATTERY = 5
    MEMORY = 6
    TAMPER = 7
    COVER_OPENED = 8
    SENSOR_SHORT = 16
    SENSOR_OPEN = 17
    TEMP_OUT_OF_RANGE = 18
    ENERGY_DECREASED = 19
    VOLUME_DECREASED = 20
    TOTAL_FROZEN = 21
    SENSORS_SWAPPED = 22
    ENERGY_MISMATCH = 23
    COMM_LOSS = 24


# Causes in words (and the outage reasons): policy/causes.py


@dataclass(frozen=True, slots=True)
class MeterRules:
    """Heat-meter fault signs (docs/rules.md) and the class-2 error limit (EN 1434)."""

    # docs/rules.md: temperature outside 2–150 °C, or exactly 0.00 / 185.00 °C (short / open)
    valid_min_c: float = 2.0
    valid_max_c: float = 150.0
    short_c: float = 0.00
    open_c: float = 185.00
    # contract: temperatures carry 0.01 °C resolution, so "exactly" is within half of it
    exact_tolerance_c: float = 0.005
    # docs/rules.md: cumulative value frozen for >= 3 intervals while flow > 0
    frozen_intervals: int = 3
    # docs/rules.md: ΔT < 0 with flow > 0 for > 6 h
    swapped_h: float = 6.0
    # docs/rules.md: k ≈ 1.15 kWh/(m³·K) at 40–60 °C; 1.16 is the usual round figure
    k_kwh_m3k: float = 1.16
    # docs/rules.md: class-2 limit parameters (EN 1434)
    dtheta_min_k: float = 3.0
    qp_m3h: float = 1.5
    flow_cap_pct: float = 5.0
    # EN 1434 class of the meters (1, 2 or 3) and their rated flow range: qi = qp / qp_over_qi,
    # qs = qp · qs_over_qp (docs/devices.md: defaults unless a meter's profile or records say)
    meter_class: int = 2
    qp_over_qi: float = 100.0
    qs_over_qp: float = 2.0
    # register resolution of cumulative energy and volume when neither the meter's profile nor
    # the records declare one (docs/devices.md, "Register resolution and rated range")
    energy_resolution_kwh: float = 0.01
    volume_resolution_m3: float = 0.001
    # a window is judged once its readings' quantisation is at most this share of its class
    # limit; consecutive steps accumulate up to verdict_max_h, else no verdict
    verdict_quantisation_share: float = 1.0 / 3.0
    verdict_max_h: float = 24.0
    # docs/rules.md: no reading for >= 2 expected intervals = communication loss
    comm_loss_intervals: int = 2
    # contract: status bits 7–8 are human causes
    human_bits: tuple[int, ...] = (7, 8)
    status_bits: tuple[int, ...] = (0, 1, 2, 3, 4, 5, 6, 7, 8)

    def is_human(self, cause: int) -> bool:
        """Human causes go to inspection (稽查), never to area billing."""
        return cause in self.human_bits


@dataclass(frozen=True, slots=True)
class SignalRules:
    """How readings hold between reports, when two stretches are one event, when silence counts."""

    # a reading stands for its device until it is this old; after that the slot is unknown
    # docs/rules.md: substations report every 1–15 min, rooms every 10–60 min, meters hourly
    substation_stale_min: float = 20.0
    room_stale_h: float = 2.0
    meter_stale_h: float = 2.0
    # a condition that clears for at most this long and comes back is the same incident
    merge_gap_min: float = 30.0
    # docs/rules.md: devices are commissioned over weeks; one never heard from is raised only after
    # this long since the district's first reading (or its own commissioned date)
    never_reported_grace_h: float = 24.0
    # a station is silent once its readings have been stale this much longer (no reading for
    # substation_stale_min + this); a weather station after this long without a reading
    substation_silent_min: float = 60.0
    weather_silent_h: float = 3.0
    # this many rooms of one building whose silence starts within room_stale_h of each other
    # are one incident for the building (its gateway or router), not one per room
    silent_group_rooms: int = 2


@dataclass(frozen=True, slots=True)
class CityRules:
    """Everything one city configures, with docs/rules.md defaults."""

    season: Season = field(default_factory=Season)
    rooms: RoomRules = field(default_factory=RoomRules)
    refund: UnderTemperatureRefund = field(default_factory=UnderTemperatureRefund)
    tariff: Tariff = field(default_factory=Tariff)
    outages: OutageRules = field(default_factory=OutageRules)
    compensation: Compensation = field(default_factory=Compensation)
    leaks: LeakRules = field(default_factory=LeakRules)
    meters: MeterRules = field(default_factory=MeterRules)
    signals: SignalRules = field(default_factory=SignalRules)
    early: EarlyRules = field(default_factory=EarlyRules)


# Module-level defaults, so signatures can name them (the dataclasses are frozen).
DEFAULT_ROOMS: Final = RoomRules()
DEFAULT_REFUND: Final = UnderTemperatureRefund()
DEFAULT_TARIFF: Final = Tariff()
DEFAULT_OUTAGES: Final = OutageRules()
DEFAULT_COMPENSATION: Final = Compensation()
DEFAULT_LEAKS: Final = LeakRules()
DEFAULT_METERS: Final = MeterRules()
DEFAULT_SIGNALS: Final = SignalRules()
