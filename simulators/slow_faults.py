"""Slow faults over a slice of a season: substations and their buildings' heat meters as
numpy arrays, each fault building up over days and knowing the day it first makes a room cold.

The live simulator (`physics.py`) steps a district minute by minute for the demo; a slow fault
needs weeks, so this one draws a whole slice at once (stations × slots) from the same heating
curve and weather model. The room side is a daily heat balance: the coldest room of a station
(or building) settles at `T_out + (T_eq − T_out) × share`, where `T_eq` is its healthy
equilibrium (physics' radiator balance) and `share` the heat the fault still lets through to it.
The first day that daily mean falls below the room rule's minimum is the fault's cold day.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from policy.rules import DEFAULT_ROOMS
from simulators.physics import K_KWH_PER_M3K, NORMAL_MAKEUP_PCT, PLANT_ROOM_C, HeatingCurve

Floats = npt.NDArray[np.float64]
DAY_S = 86_400.0

# how fast each fault builds up (per day since onset); the figures issue 24 names
FOULING_DT_K_PER_DAY = 0.2  # exchanger fouling: ΔT shrinks by about 0.2 K a day
VALVE_RETURN_K_PER_DAY = 0.3  # a valve stuck open: the return rises
VALVE_FLOW_PER_DAY = 0.03
DRIFT_K_PER_DAY = 0.3  # the supply sensor reads high; the controller delivers that much less
SUPPLY_LOW_K_PER_DAY = 0.3
LEAK_START_PCT, LEAK_END_PCT, LEAK_DAYS = NORMAL_MAKEUP_PCT, 1.9, 14.0
BYPASS_RETURN_K_PER_DAY = 0.35
BYPASS_FLOW_PER_DAY = 0.03
HOURS_A_DAY = 24.0  # not a rule: hours a day
RADIATOR_SHARE_PER_K = 1 / 30  # radiators lose about 1/30 of their output per K cooler water
WEEKEND_FLOW = 0.02  # not a rule: households' weekend habits, a little more flow
LOOP_COOLING_MIN = 30.0  # not a rule: still water cools towards the plant room within the hour
DARK_H = (6.0, 30.0)  # not a rule: how long a dark station stays dark
FAULT_KINDS = ("fouling", "valve", "sensor_drift", "supply_low", "slow_leak", "bypass")
# the cause an early warning should name for each simulated fault
EXPECTED_CAUSE = {"fouling": "fouling", "valve": "valve", "sensor_drift": "sensor_drift",
                  "supply_low": "supply_low", "slow_leak": "slow_leak",
                  "bypass": "poor_cooling"}


@dataclass(frozen=True, slots=True)
class SlowFault:
    """One slow fault: its kind, where (a station; a building for a bypass) and onset day."""

    kind: str
    station: int
    onset_day: float
    building: int = -1  # global building index, for a bypass


@dataclass(frozen=True, slots=True)
class SliceSpec:
    """What to draw: sizes, cadence, losses and the healthy disturbances."""

    n_stations: int = 20
    days: int = 42
    step_min: int = 15
    buildings_per_station: int = 3
    meters_per_building: int = 4
    loss: float = 0.05  # share of station reports lost
    meter_loss: float = 0.05
    outages: int = 2  # pump-off spells of 3–8 h on random healthy stations
    dark: int = 2  # stations that report nothing for 6–30 h
    cold_snaps: int = 2  # spells of 3–5 days, 4–7 K colder
    life_noise: float = 1.0  # scale of the day-to-day wobble no model explains
    seed: int = 0
    faults: tuple[SlowFault, ...] = ()


@dataclass(slots=True)
class SeasonSlice:
    """The drawn telemetry: station grids (stations × slots), hourly meter grids (meters × hours),
    and the truth (each fault's cold day, -1 when no room went cold in the slice)."""

    spec: SliceSpec
    outdoor_c: Floats
    supply_c: Floats
    return_c: Floats
    flow_m3h: Floats
    makeup_m3h: Floats
    pump_on: Floats
    meter_supply_c: Floats
    meter_return_c: Floats
    meter_flow_m3h: Floats
    meter_power_kw: Floats
    meter_building: npt.NDArray[np.intp]
    building_station: npt.NDArray[np.intp]
    cold_day: list[int] = field(default_factory=list)


def _weather(spec: SliceSpec, rng: np.random.Generator, t_days: Floats) -> Floats:
    """Outdoor temperature per slot: the physics' weather plus cold snaps."""
    base = -5.0 + 1.0 * np.sin(2 * math.pi * t_days / 3.7 + rng.uniform(0, 2 * math.pi))
    hour = (t_days % 1.0) * HOURS_A_DAY
    diurnal = 4.0 * np.cos(2 * math.pi * (hour - 15.0) / HOURS_A_DAY)
    out = base + diurnal
    for _ in range(spec.cold_snaps):
        a = rng.uniform(spec.days * 0.2, spec.days * 0.9)
        length, depth = rng.uniform(3.0, 5.0), rng.uniform(4.0, 7.0)
        # smooth ramps: a front comes in over a day
        ramp = np.clip(np.minimum(t_days - a, a + length - t_days), 0.0, 1.0)
        out = out - depth * ramp
    return out


def _severity(t_days: Floats, onset: float) -> Floats:
    """Days since onset, zero before."""
    return np.maximum(t_days - onset, 0.0)


@dataclass(slots=True)
class _Effects:
    """What the faults do, per station (or building) and slot."""

    supply_true: Floats  # K off the set-point, delivered
    supply_bias: Floats  # K the sensor reads above the delivered supply
    return_k: Floats  # K added to the return
    flow_f: Floats  # flow factor
    makeup_pct: Floats
    b_return_k: Floats  # buildings
    b_flow_f: Floats
    share_loss: Floats  # heat share lost to the coldest room, stations × slots
    b_share_loss: Floats


def _effects(spec: SliceSpec, t_days: Floats, drop_k: Floats) -> _Effects:
    """Each fault's build-up on the channels it moves, and on the coldest room's heat."""
    s, n = spec.n_stations, t_days.size
    nb = s * spec.buildings_per_station
    e = _Effects(np.zeros((s, n)), np.zeros((s, n)), np.zeros((s, n)), np.ones((s, n)),
                 np.full((s, n), NORMAL_MAKEUP_PCT), np.zeros((nb, n)), np.ones((nb, n)),
                 np.zeros((s, n)), np.zeros((nb, n)))
    for f in spec.faults:
        d, i = _severity(t_days, f.onset_day), f.station
        if f.kind == "fouling":
            shrink = FOULING_DT_K_PER_DAY * d
            # the exchanger falls short of the set-point, the building cools the water less
            e.supply_true[i] -= 0.6 * shrink
            e.return_k[i] += shrink
            # radiators draw some of it back from a cooler loop: half the ΔT lost reaches rooms
            e.share_loss[i] += 0.5 * shrink / drop_k[i]
        elif f.kind == "valve":
            e.return_k[i] += VALVE_RETURN_K_PER_DAY * d
            e.flow_f[i] *= 1.0 + VALVE_FLOW_PER_DAY * d
            # the open branch short-circuits the far risers
            e.share_loss[i] += 0.012 * d
        elif f.kind in ("sensor_drift", "supply_low"):
            k = (DRIFT_K_PER_DAY if f.kind == "sensor_drift" else SUPPLY_LOW_K_PER_DAY) * d
            e.supply_true[i] -= k
            e.return_k[i] -= 0.2 * k  # the same drop below a cooler supply, a little less
            if f.kind == "sensor_drift":
                e.supply_bias[i] += k  # the controller holds the reading on the curve
            e.share_loss[i] += k * RADIATOR_SHARE_PER_K
        elif f.kind == "slow_leak":
            frac = np.clip(d / LEAK_DAYS, 0.0, 1.0)
            e.makeup_pct[i] = LEAK_START_PCT + (LEAK_END_PCT - LEAK_START_PCT) * frac
            # air gathers in the top radiators once make-up cannot keep the loop full
            e.share_loss[i] += np.where(d >= LEAK_DAYS, 0.2, 0.0)
        elif f.kind == "bypass":
            b = f.building
            e.b_return_k[b] += BYPASS_RETURN_K_PER_DAY * d
            e.b_flow_f[b] *= 1.0 + BYPASS_FLOW_PER_DAY * d
            e.b_share_loss[b] += 0.012 * d
    return e


def _coldest_room_days(outdoor: Floats, water_c: Floats, gain: Floats, loss: Floats,
                       spd: int) -> Floats:
    """Daily mean of the coldest room: physics' radiator balance, scaled by the heat share."""
    eq = (gain[:, None] * water_c + outdoor[None, :]) / (1.0 + gain[:, None])
    room = outdoor[None, :] + (eq - outdoor[None, :]) * (1.0 - loss)
    rows, n = room.shape
    out: Floats = room[:, : n - n % spd].reshape(rows, -1, spd).mean(axis=2)
    return out


def _first_cold_day(room_days: Floats, onset_day: float) -> int:
    """The fault's cold day: the first day from its onset on that the coldest room's mean is
    below the room minimum (a weak station cold in a snap before the fault is not the fault's
    doing); -1 if none in the slice."""
    days = np.flatnonzero((room_days < DEFAULT_ROOMS.min_c)
                          & (np.arange(room_days.size) >= onset_day))
    return int(days[0]) if days.size else -1


def _curve(curve: HeatingCurve, outdoor: Floats) -> tuple[Floats, Floats]:
    """The heating curve's supply set-point and loop drop, vectorised."""
    supply = np.clip(curve.supply_at_ref_c + curve.slope_k_per_k * (curve.ref_outdoor_c - outdoor),
                     curve.min_supply_c, curve.max_supply_c)
    load = (curve.room_target_c - outdoor) / (curve.room_target_c - curve.ref_outdoor_c)
    return supply, np.clip(curve.drop_at_ref_k * load, 4.0, 14.0)


def _day_noise(rng: np.random.Generator, rows: int, days: int, sd: float) -> Floats:
    """A day-to-day AR(1) wobble (persistence 0.5) of standard deviation `sd`."""
    e = rng.normal(0.0, sd * math.sqrt(1 - 0.25), (rows, days))
    out = np.zeros((rows, days))
    out[:, 0] = rng.normal(0.0, sd, rows)
    for d in range(1, days):
        out[:, d] = 0.5 * out[:, d - 1] + e[:, d]
    return out


def _spells(rng: np.random.Generator, rows: int, count: int, n: int, spd: int,
            hours: tuple[float, float]) -> npt.NDArray[np.bool_]:
    """`count` spells of `hours` on random rows, as a rows × slots mask."""
    mask = np.zeros((rows, n), dtype=np.bool_)
    for _ in range(count):
        r = int(rng.integers(rows))
        length = int(rng.uniform(*hours) * spd / 24)
        a = int(rng.integers(spd, max(n - length, spd + 1)))
        mask[r, a : a + length] = True
    return mask


def draw_slice(spec: SliceSpec, curve: HeatingCurve | None = None) -> SeasonSlice:
    """Draw a season slice with its slow faults; deterministic for a given spec."""
    curve = curve or HeatingCurve()
    rng = np.random.default_rng(spec.seed)
    s, spd = spec.n_stations, 1440 // spec.step_min
    n = spec.days * spd
    t_days = np.arange(n) * spec.step_min / 1440.0
    outdoor = _weather(spec, rng, t_days)
    set_c, drop0 = _curve(curve, outdoor)
    set_c = set_c[None, :] + rng.uniform(-1.0, 1.0, (s, 1))
    drop = drop0[None, :] * rng.uniform(0.85, 1.15, (s, 1))
    e = _effects(spec, t_days, drop)
    bps = spec.buildings_per_station
    b_station = np.repeat(np.arange(s), bps)
    weekend = ((t_days // 1) % 7 >= 5).astype(np.float64)[None, :]
    delivered = set_c + e.supply_true
    b_ret = e.b_return_k.reshape(s, bps, n).mean(axis=1)
    b_flow = e.b_flow_f.reshape(s, bps, n).mean(axis=1)
    # day-to-day life no model explains (sun, wind, habits), the same through each day
    day = (t_days // 1).astype(np.intp)
    wobble = [_day_noise(rng, s, spec.days, sd * spec.life_noise)[:, day]
              for sd in (0.15, 0.25, 0.007)]
    delivered = delivered + wobble[0]
    ret = delivered - drop + e.return_k + b_ret + 0.2 * weekend + wobble[1]
    flow = rng.uniform(20.0, 60.0, (s, 1)) * e.flow_f * b_flow * (1.0 + WEEKEND_FLOW * weekend
                                                                   + wobble[2])
    supply = delivered + e.supply_bias
    # the room side: healthy loop water, thermal mass riding through outages
    gain = rng.uniform(0.9, 0.95, s)
    rooms = _coldest_room_days(outdoor, set_c - drop / 2, gain, e.share_loss, spd)
    b_rooms = _coldest_room_days(outdoor, (set_c - drop / 2)[b_station], gain[b_station],
                                 e.share_loss[b_station] + e.b_share_loss, spd)
    cold = [_first_cold_day(b_rooms[f.building] if f.kind == "bypass" else rooms[f.station],
                            f.onset_day) for f in spec.faults]
    meters = _meters(spec, rng, delivered, drop, e, b_station, spd)
    g = _observe(spec, rng, supply, ret, flow, e.makeup_pct, spd)
    return SeasonSlice(spec, outdoor, g[0], g[1], g[2], g[3], g[4], meters[0], meters[1],
                       meters[2], meters[3], meters[4], b_station, cold)


def _observe(spec: SliceSpec, rng: np.random.Generator, supply: Floats, ret: Floats,
             flow: Floats, makeup_pct: Floats, spd: int
             ) -> tuple[Floats, Floats, Floats, Floats, Floats]:
    """What the stations report: noise, pump-off spells, lost reports and dark hours."""
    s, n = supply.shape
    healthy = np.ones(s, dtype=np.bool_)
    healthy[[f.station for f in spec.faults]] = False
    off = _spells(rng, s, spec.outages, n, spd, (3.0, 8.0)) & healthy[:, None]
    # still water cools towards the plant room within the hour
    total = np.cumsum(off, axis=1)
    run: npt.NDArray[np.int64] = total - np.maximum.accumulate(np.where(off, 0, total), axis=1)
    decay = np.exp(-run * spec.step_min / LOOP_COOLING_MIN)
    sup = np.where(off, PLANT_ROOM_C + (supply - PLANT_ROOM_C) * decay, supply)
    ret_o = np.where(off, PLANT_ROOM_C + (ret - PLANT_ROOM_C) * decay, ret)
    flow_o = np.where(off, 0.0, flow * (1.0 + rng.normal(0.0, 0.005, (s, n))))
    makeup = flow_o * makeup_pct / 100.0 * (1.0 + rng.normal(0.0, 0.05, (s, n)))
    sup = sup + rng.normal(0.0, 0.1, (s, n))
    ret_o = ret_o + rng.normal(0.0, 0.1, (s, n))
    lost = (rng.random((s, n)) < spec.loss) | _spells(rng, s, spec.dark, n, spd, DARK_H)
    pump = np.where(off, 0.0, 1.0)
    o = [np.where(lost, np.nan, g) for g in (sup, ret_o, flow_o, makeup, pump)]
    return o[0], o[1], o[2], o[3], o[4]


def _meters(spec: SliceSpec, rng: np.random.Generator, delivered: Floats, drop: Floats,
            e: _Effects, b_station: npt.NDArray[np.intp], spd: int
            ) -> tuple[Floats, Floats, Floats, Floats, npt.NDArray[np.intp]]:
    """Households' heat meters, read hourly: supply a little below the station's, their own
    drop, and a building's bypass on its meters' return and flow."""
    per_h = spd // 24
    mpb = spec.meters_per_building
    m_building = np.repeat(np.arange(b_station.size), mpb)
    m_station = b_station[m_building]
    hourly = slice(0, None, per_h)
    sup_b = delivered[:, hourly][b_station] - rng.uniform(0.3, 0.8, (b_station.size, 1))
    sup = sup_b[m_building] + rng.normal(0.0, 0.1, (m_building.size, sup_b.shape[1]))
    m_drop = drop[:, hourly][m_station] * rng.uniform(0.85, 1.15, (m_building.size, 1))
    ret = sup - m_drop + e.b_return_k[:, hourly][m_building]
    ret = ret + rng.normal(0.0, 0.1, ret.shape)
    hours = np.arange(sup.shape[1])
    phase = rng.uniform(0, 2 * np.pi, (sup.shape[0], 1))
    wobble = 1.0 + 0.03 * np.sin(2 * np.pi * hours / HOURS_A_DAY + phase)
    flow = rng.uniform(0.3, 0.9, (m_building.size, 1)) * wobble * e.b_flow_f[:, hourly][m_building]
    power = K_KWH_PER_M3K * flow * np.maximum(sup - ret, 0.0)
    lost = rng.random(sup.shape) < spec.meter_loss
    out = tuple(np.where(lost, np.nan, g) for g in (sup, ret, flow, power))
    return out[0], out[1], out[2], out[3], m_building


def random_faults(rng: np.random.Generator, n_stations: int, buildings_per_station: int,
                  share: float, days: int, first_day: int) -> tuple[SlowFault, ...]:
    """Slow faults on a random `share` of stations, one kind each, onsets after `first_day`."""
    k = max(1, int(round(share * n_stations)))
    chosen = rng.choice(n_stations, size=k, replace=False)
    out = []
    for i, st in enumerate(sorted(int(x) for x in chosen)):
        kind = FAULT_KINDS[i % len(FAULT_KINDS)]
        onset = float(rng.uniform(first_day, max(first_day + 1, days - 20)))
        b = st * buildings_per_station + int(rng.integers(buildings_per_station))
        out.append(SlowFault(kind, st, onset, b if kind == "bypass" else -1))
    return tuple(out)
