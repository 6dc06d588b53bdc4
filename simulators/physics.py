"""District physics: weather, substations, rooms and heat meters as numpy arrays, seeded."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from district.records import Records

Floats = npt.NDArray[np.float64]
Ints = npt.NDArray[np.intp]
Bools = npt.NDArray[np.bool_]

# docs/rules.md: k ≈ 1.15–1.16 kWh/(m³·K) for water at 40–60 °C; 1.16 is the usual round figure
K_KWH_PER_M3K = 1.16
# a household draws ~50 W/m² at a 10 K drop: 0.05 kW / (1.16 × 10) m³/h per m²
FLOW_M3H_PER_M2 = 0.05 / (K_KWH_PER_M3K * 10.0)
LOCAL_UTC_OFFSET_S = 8 * 3600  # the district lives at +08:00
PLANT_ROOM_C = 20.0  # where still water in a stopped loop settles
SUPPLY_MPA_ABOVE_RETURN = 0.10  # docs/rules.md: supply ~0.45, holding/return ~0.35 MPa
HOLDING_MPA = 0.35
NORMAL_MAKEUP_PCT = 0.5  # docs/rules.md: a tight loop loses ~0.5 % of its flow


@dataclass(frozen=True, slots=True)
class Weather:
    """Outdoor temperature: a daily mean, a diurnal swing and a slow day-to-day wobble."""

    daily_mean_c: float = -5.0
    diurnal_amplitude_c: float = 4.0
    day_to_day_c: float = 1.0
    warmest_hour: float = 15.0


@dataclass(frozen=True, slots=True)
class HeatingCurve:
    """Secondary supply set-point against outdoor temperature, and the loop's drop."""

    supply_at_ref_c: float = 55.0
    ref_outdoor_c: float = -5.0
    slope_k_per_k: float = 0.8
    min_supply_c: float = 40.0
    max_supply_c: float = 75.0
    drop_at_ref_k: float = 10.0
    room_target_c: float = 18.0  # not a rule: the simulated building's thermostat

    def supply_c(self, outdoor_c: float) -> float:
        s = self.supply_at_ref_c + self.slope_k_per_k * (self.ref_outdoor_c - outdoor_c)
        return min(max(s, self.min_supply_c), self.max_supply_c)

    def drop_k(self, outdoor_c: float) -> float:
        load = (self.room_target_c - outdoor_c) / (self.room_target_c - self.ref_outdoor_c)
        return min(max(self.drop_at_ref_k * load, 4.0), 14.0)


@dataclass(frozen=True, slots=True)
class Layout:
    """Where every simulated thing sits: ids and index arrays built once from the records."""

    substation_ids: tuple[str, ...]
    sub_index: dict[str, int]
    design_outdoor_c: Floats
    sub_area_m2: Floats
    room_ids: tuple[str, ...]
    room_index: dict[str, int]
    room_sub: Ints
    meter_ids: tuple[str, ...]
    meter_index: dict[str, int]
    meter_sub: Ints
    meter_area_m2: Floats

    @classmethod
    def from_records(cls, rec: Records) -> Layout:
        """Index substations, room sensors and heat meters in records order."""
        subs = tuple(rec.substations)
        sub_index = {s: i for i, s in enumerate(subs)}
        area = np.zeros(len(subs))
        for a in rec.accounts.values():
            area[sub_index[rec.buildings[a.building_id].substation_id]] += a.area_m2
        rooms = rec.devices_of("room")
        meters = rec.devices_of("meter")
        return cls(
            substation_ids=subs,
            sub_index=sub_index,
            design_outdoor_c=np.array([rec.substations[s].design_outdoor_c for s in subs]),
            sub_area_m2=area,
            room_ids=tuple(d.device_id for d in rooms),
            room_index={d.device_id: i for i, d in enumerate(rooms)},
            room_sub=np.array([sub_index[d.substation_id] for d in rooms], dtype=np.intp),
            meter_ids=tuple(d.device_id for d in meters),
            meter_index={d.device_id: i for i, d in enumerate(meters)},
            meter_sub=np.array([sub_index[d.substation_id] for d in meters], dtype=np.intp),
            meter_area_m2=np.array([rec.accounts[d.account_id].area_m2 for d in meters]),
        )


@dataclass(slots=True)
class Controls:
    """What behaviours may force for one step; reset to normal before every step."""

    pump_on: Bools
    makeup_pct: Floats
    holding_mpa: Floats
    room_settle_c: Floats  # NaN: the room follows its heating
    room_settle_tau_h: Floats
    meter_frozen: Bools
    meter_status: npt.NDArray[np.int64]
    meter_swapped: Bools
    meter_energy_step_kwh: Floats  # one-shot jumps of the cumulative totals
    meter_volume_step_m3: Floats

    @classmethod
    def normal(cls, lay: Layout) -> Controls:
        s, r, m = len(lay.substation_ids), len(lay.room_ids), len(lay.meter_ids)
        return cls(
            pump_on=np.ones(s, dtype=np.bool_),
            makeup_pct=np.full(s, NORMAL_MAKEUP_PCT),
            holding_mpa=np.full(s, HOLDING_MPA),
            room_settle_c=np.full(r, np.nan),
            room_settle_tau_h=np.full(r, 3.0),
            meter_frozen=np.zeros(m, dtype=np.bool_),
            meter_status=np.zeros(m, dtype=np.int64),
            meter_swapped=np.zeros(m, dtype=np.bool_),
            meter_energy_step_kwh=np.zeros(m),
            meter_volume_step_m3=np.zeros(m),
        )


@dataclass(slots=True)
class State:
    """The district at one instant; cumulative meter totals are integrated, not derived."""

    t: float
    outdoor_c: float
    pump_on: Bools
    sub_supply_c: Floats
    sub_return_c: Floats
    sub_flow_m3h: Floats
    sub_makeup_m3h: Floats
    sub_supply_mpa: Floats
    sub_return_mpa: Floats
    room_c: Floats
    meter_supply_c: Floats
    meter_return_c: Floats
    meter_flow_m3h: Floats
    meter_power_kw: Floats
    meter_energy_kwh: Floats
    meter_volume_m3: Floats
    meter_status: npt.NDArray[np.int64]
    meter_hours_ok: Floats
    meter_hours_fault: Floats


@dataclass(slots=True)
class _Params:
    """Per-element constants drawn once from the seed."""

    room_gain: Floats  # radiator coupling: settles 20–22 °C on the heating curve
    room_swing_c: Floats
    room_phase_h: Floats
    meter_flow_m3h: Floats
    meter_drop_factor: Floats
    meter_wobble_phase: Floats
    sub_supply_offset_c: Floats
    weather_phase: float


def local_hour(t: float) -> float:
    """Hour of day at +08:00."""
    return ((t + LOCAL_UTC_OFFSET_S) % 86400.0) / 3600.0


class DistrictPhysics:
    """Steps the whole district forward; deterministic for a given seed and step times."""

    room_tau_h = 12.0  # building thermal mass: a stopped loop cools rooms over hours
    loop_tau_h = 0.5  # loop water temperature follows the set-point within the hour
    pressure_tau_h = 1.0
    max_step_s = 300.0

    def __init__(self, layout: Layout, start_t: float, seed: int,
                 weather: Weather | None = None, curve: HeatingCurve | None = None) -> None:
        self.lay = layout
        self.weather = weather or Weather()
        self.curve = curve or HeatingCurve()
        rng = np.random.default_rng(seed)
        r, m, s = len(layout.room_ids), len(layout.meter_ids), len(layout.substation_ids)
        self.p = _Params(
            room_gain=rng.uniform(0.86, 0.95, r),
            room_swing_c=rng.uniform(0.2, 0.6, r),
            room_phase_h=rng.uniform(17.0, 21.0, r),
            meter_flow_m3h=layout.meter_area_m2 * FLOW_M3H_PER_M2 * rng.uniform(0.85, 1.15, m),
            meter_drop_factor=rng.uniform(0.85, 1.15, m),
            meter_wobble_phase=rng.uniform(0.0, 2 * math.pi, m),
            sub_supply_offset_c=rng.uniform(-1.0, 1.0, s),
            weather_phase=float(rng.uniform(0.0, 2 * math.pi)),
        )
        ctl = Controls.normal(layout)
        outdoor = self.outdoor_c(start_t)
        supply = self.curve.supply_c(outdoor) + self.p.sub_supply_offset_c
        ret = supply - self.curve.drop_k(outdoor)
        self.state = State(
            t=start_t, outdoor_c=outdoor, pump_on=ctl.pump_on.copy(),
            sub_supply_c=supply, sub_return_c=ret,
            sub_flow_m3h=layout.sub_area_m2 * FLOW_M3H_PER_M2,
            sub_makeup_m3h=layout.sub_area_m2 * FLOW_M3H_PER_M2 * NORMAL_MAKEUP_PCT / 100,
            sub_supply_mpa=np.full(s, HOLDING_MPA + SUPPLY_MPA_ABOVE_RETURN),
            sub_return_mpa=np.full(s, HOLDING_MPA),
            room_c=np.zeros(r),
            meter_supply_c=np.zeros(m), meter_return_c=np.zeros(m),
            meter_flow_m3h=np.zeros(m), meter_power_kw=np.zeros(m),
            # meters were installed seasons ago: totals start well above zero
            meter_energy_kwh=np.round(rng.uniform(2_000.0, 40_000.0, m), 2),
            meter_volume_m3=np.round(rng.uniform(200.0, 4_000.0, m), 3),
            meter_status=np.zeros(m, dtype=np.int64),
            meter_hours_ok=np.round(rng.uniform(5_000.0, 30_000.0, m)),
            meter_hours_fault=np.zeros(m),
        )
        self.state.room_c = self._room_equilibrium_c(start_t, ctl)
        self._meters(ctl)

    def outdoor_c(self, t: float) -> float:
        """Outdoor temperature at district time t: smooth, so any step size sees the same."""
        w = self.weather
        diurnal = w.diurnal_amplitude_c * math.cos(2 * math.pi * (local_hour(t) - w.warmest_hour)
                                                   / 24.0)  # not a rule: hours a day
        wobble = w.day_to_day_c * math.sin(2 * math.pi * t / (3.7 * 86400) + self.p.weather_phase)
        return w.daily_mean_c + diurnal + wobble

    def _room_equilibrium_c(self, t: float, ctl: Controls) -> Floats:
        s, lay = self.state, self.lay
        flow_frac = s.pump_on.astype(np.float64)[lay.room_sub]
        mean_water_c = ((s.sub_supply_c + s.sub_return_c) / 2)[lay.room_sub]
        a = self.p.room_gain * flow_frac
        # first-order balance: radiator gain a·(T_water − T) = loss (T − T_out)
        eq = (a * mean_water_c + s.outdoor_c) / (1 + a)
        # occupancy and sun: warmer evenings, cooler mornings
        eq = eq + self.p.room_swing_c * np.cos(2 * np.pi * (local_hour(t) - self.p.room_phase_h)
                                               / 24.0) * flow_frac  # not a rule: hours a day
        return np.where(np.isnan(ctl.room_settle_c), eq, ctl.room_settle_c)

    def step(self, t_new: float, ctl: Controls) -> State:
        """Advance to t_new under the given controls, in sub-steps of at most max_step_s."""
        s = self.state
        # one-shot jumps apply once, however the interval is cut
        s.meter_energy_kwh = np.maximum(s.meter_energy_kwh + ctl.meter_energy_step_kwh, 0.0)
        s.meter_volume_m3 = np.maximum(s.meter_volume_m3 + ctl.meter_volume_step_m3, 0.0)
        while s.t < t_new:
            dt = min(self.max_step_s, t_new - s.t)
            self._advance(s.t + dt, dt, ctl)
        return s

    def _advance(self, t: float, dt_s: float, ctl: Controls) -> None:
        s, lay, curve = self.state, self.lay, self.curve
        dt_h = dt_s / 3600.0
        s.t = t
        s.outdoor_c = self.outdoor_c(t)
        s.pump_on = ctl.pump_on.copy()
        on = s.pump_on
        target_supply = np.where(on, curve.supply_c(s.outdoor_c) + self.p.sub_supply_offset_c,
                                 PLANT_ROOM_C)
        target_return = np.where(on, target_supply - curve.drop_k(s.outdoor_c), PLANT_ROOM_C)
        k = math.exp(-dt_h / self.loop_tau_h)
        s.sub_supply_c = target_supply + (s.sub_supply_c - target_supply) * k
        s.sub_return_c = target_return + (s.sub_return_c - target_return) * k
        s.sub_flow_m3h = np.where(on, lay.sub_area_m2 * FLOW_M3H_PER_M2, 0.0)
        s.sub_makeup_m3h = s.sub_flow_m3h * ctl.makeup_pct / 100.0
        kp = math.exp(-dt_h / self.pressure_tau_h)
        s.sub_return_mpa = ctl.holding_mpa + (s.sub_return_mpa - ctl.holding_mpa) * kp
        s.sub_supply_mpa = s.sub_return_mpa + np.where(on, SUPPLY_MPA_ABOVE_RETURN, 0.0)

        eq = self._room_equilibrium_c(t, ctl)
        tau_h = np.where(np.isnan(ctl.room_settle_c), self.room_tau_h, ctl.room_settle_tau_h)
        s.room_c = eq + (s.room_c - eq) * np.exp(-dt_h / tau_h)

        self._meters(ctl)
        counting = ~ctl.meter_frozen
        # the meter integrates what it measures: ΔE = 1.16·ΔV·Δθ step by step
        s.meter_energy_kwh = s.meter_energy_kwh + np.where(counting, s.meter_power_kw * dt_h, 0.0)
        s.meter_volume_m3 = s.meter_volume_m3 + np.where(counting, s.meter_flow_m3h * dt_h, 0.0)
        s.meter_status = ctl.meter_status.copy()
        faulty = s.meter_status != 0
        s.meter_hours_ok = s.meter_hours_ok + np.where(faulty, 0.0, dt_h)
        s.meter_hours_fault = s.meter_hours_fault + np.where(faulty, dt_h, 0.0)

    def _meters(self, ctl: Controls) -> None:
        s, lay, p = self.state, self.lay, self.p
        on = s.pump_on[lay.meter_sub].astype(np.float64)
        supply = s.sub_supply_c[lay.meter_sub] - 0.5  # a little lost on the way up the building
        drop = (s.sub_supply_c - s.sub_return_c)[lay.meter_sub] * p.meter_drop_factor
        ret = supply - drop
        wobble = 1.0 + 0.03 * np.sin(2 * np.pi * s.t / 86400.0 + p.meter_wobble_phase)
        s.meter_flow_m3h = p.meter_flow_m3h * wobble * on
        s.meter_power_kw = K_KWH_PER_M3K * s.meter_flow_m3h * np.maximum(drop, 0.0)
        s.meter_supply_c = np.where(ctl.meter_swapped, ret, supply)
        s.meter_return_c = np.where(ctl.meter_swapped, supply, ret)
