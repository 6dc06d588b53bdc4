"""The whole-city meter kernel as it was before issue 25 (analyzer/kernels/meter_signs.py at
commit c7d579b), kept verbatim as the baseline `bench/meter_speed.py` times the current kernel
against. Only changes: the rule it had (check_min_kwh) is a constant here, since MeterRules no
longer has it; the verification re-exports are dropped.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from analyzer.grid import TimeAxis, day_any
from analyzer.runs import Intervals, ffill_index, intervals, rows_with_any, runs_at_least
from policy.rules import DEFAULT_METERS, Cause, MeterRules

FloatGrid = npt.NDArray[np.floating]
BoolGrid = npt.NDArray[np.bool_]
IntArray = npt.NDArray[np.intp]
# MeterRules.check_min_kwh before issue 25
CHECK_MIN_KWH = 0.5


@dataclass(frozen=True, slots=True, eq=False)
class MeterGrid:
    """One window of meter readings, each field (meters, slots); NaN where no reading.

    Keep the cumulative totals in float64: float32 loses the 0.01 kWh step above ~1e5 kWh.
    `status` is 0 where there is no reading; `comm_fault` marks failed polls; `qp_m3h` is the
    permanent flow of each meter (rules' default when None).
    """

    energy_kwh: FloatGrid
    volume_m3: FloatGrid
    flow_m3h: FloatGrid
    supply_c: FloatGrid
    return_c: FloatGrid
    status: npt.NDArray[np.integer]
    comm_fault: BoolGrid | None = None
    qp_m3h: FloatGrid | None = None

    @property
    def shape(self) -> tuple[int, int]:
        n, t = self.energy_kwh.shape
        return int(n), int(t)

    def take(self, rows: IntArray) -> MeterGrid:
        """The same window for a subset of meters."""
        return MeterGrid(
            self.energy_kwh[rows], self.volume_m3[rows], self.flow_m3h[rows],
            self.supply_c[rows], self.return_c[rows], np.asarray(self.status)[rows],
            None if self.comm_fault is None else self.comm_fault[rows],
            None if self.qp_m3h is None else np.asarray(self.qp_m3h)[rows],
        )


def _prev(grid: FloatGrid, valid: BoolGrid) -> tuple[FloatGrid, BoolGrid]:
    """Each slot's latest earlier valid value and whether there is one."""
    idx = np.full(valid.shape, -1, dtype=np.int32)
    idx[:, 1:] = ffill_index(valid)[:, :-1]
    has = idx >= 0
    prev = np.take_along_axis(grid, np.maximum(idx, 0), axis=1)
    return prev, has


def _decreased(total: FloatGrid, step: FloatGrid, valid: BoolGrid) -> BoolGrid:
    """Slots whose total is below the latest earlier valid one (gaps bridged)."""
    out = np.zeros(valid.shape, dtype=bool)
    with np.errstate(invalid="ignore"):
        out[:, 1:] = step < 0
    # only rows with gaps need the slower look-back past missing slots
    gappy = rows_with_any(~valid)
    if gappy.size:
        prev, has = _prev(total[gappy], valid[gappy])
        with np.errstate(invalid="ignore"):
            out[gappy] = valid[gappy] & has & (total[gappy] < prev)
    return out


def _bits(status: npt.NDArray[np.integer], present: BoolGrid, bits: tuple[int, ...]
          ) -> dict[Cause, BoolGrid]:
    """One mask per status bit; rows that never raise a bit are skipped."""
    rows = rows_with_any(status != 0)
    sub = status[rows].astype(np.int64)
    out: dict[Cause, BoolGrid] = {}
    for bit in bits:
        # contract: each status bit is its own cause
        m = np.zeros(present.shape, dtype=bool)
        m[rows] = present[rows] & (((sub >> bit) & 1) == 1)
        out[Cause(bit)] = m
    return out


def suspect_rows(g: MeterGrid, rules: MeterRules = DEFAULT_METERS) -> IntArray:
    """Meters that may show a fault sign; every other row is provably clean.

    A row is clean when both totals rise every slot (so no gap, fall or freeze), no status
    bit is set, both temperatures stay inside the valid range, ΔT never goes negative and
    every energy step is within 3 % of ΔV·Δθ·k — the class-2 limit is never tighter than
    that. A handful of row reductions decide it, instead of the full rule set per slot.
    """
    n, t = g.shape
    exact_outside = all(
        not rules.valid_min_c <= x <= rules.valid_max_c for x in (rules.short_c, rules.open_c)
    )
    if t < 2 or not exact_outside or (g.comm_fault is not None and g.comm_fault.any()):
        return np.arange(n, dtype=np.intp)
    sup, ret = g.supply_c, g.return_c
    mid = np.float32(0.5 * (rules.valid_min_c + rules.valid_max_c))
    half = np.float32(0.5 * (rules.valid_max_c - rules.valid_min_c))
    ok = np.ones((n, t), dtype=bool)
    # cell by cell, then one reduction per row: short per-row reductions are the slow kind
    with np.errstate(invalid="ignore"):
        d_e = g.energy_kwh[:, 1:] - g.energy_kwh[:, :-1]
        d_v = g.volume_m3[:, 1:] - g.volume_m3[:, :-1]
        # NaN compares False, so a gap lands on the suspect side
        ok[:, 1:] = d_e > 0
        ok[:, 1:] &= d_v > 0
        ok &= np.abs(sup - mid) <= half
        ok &= np.abs(ret - mid) <= half
        dt_k = np.subtract(sup, ret, dtype=np.float32)
        ok &= dt_k >= 0
        ok &= np.asarray(g.status) == 0
        expected = d_v.astype(np.float32)
        expected *= dt_k[:, 1:] + dt_k[:, :-1]
        expected *= np.float32(0.5 * rules.k_kwh_m3k)
        miss = d_e.astype(np.float32)
        miss -= expected
        np.abs(miss, out=miss)
        # limit·E/100 >= 3 % of E (2 % flow + 0.5 % + 0.5 %, plus positive Δθmin terms)
        expected *= np.float32(0.03)
        ok[:, 1:] &= miss <= expected
    np.logical_not(ok, out=ok)
    return rows_with_any(ok)


def fault_masks(g: MeterGrid, axis: TimeAxis, rules: MeterRules = DEFAULT_METERS) -> dict[
    Cause, BoolGrid
]:
    """Per cause, the slots that show that fault sign (only suspect rows are worked out)."""
    n, t = g.shape
    rows = suspect_rows(g, rules)
    sub = _masks(g.take(rows), axis, rules)
    out: dict[Cause, BoolGrid] = {}
    for c, m in sub.items():
        full = np.zeros((n, t), dtype=bool)
        full[rows] = m
        out[c] = full
    return out


def _temperature_masks(sup: FloatGrid, ret: FloatGrid, present: BoolGrid, rules: MeterRules,
                       out: dict[Cause, BoolGrid]) -> BoolGrid:
    """Short, open and out-of-range temperature slots into `out`; the slots whose pair is fine."""
    n, t = present.shape
    with np.errstate(invalid="ignore"):
        off = (sup < rules.valid_min_c) | (sup > rules.valid_max_c)
        off |= (ret < rules.valid_min_c) | (ret > rules.valid_max_c)
    # 0.00 and 185.00 are outside 2–150 too, so rows without `off` have no temperature fault
    rows = rows_with_any(off & present)
    short = np.zeros((n, t), dtype=bool)
    opened = np.zeros((n, t), dtype=bool)
    oor = np.zeros((n, t), dtype=bool)
    tol = rules.exact_tolerance_c
    with np.errstate(invalid="ignore"):
        for temp in (sup[rows], ret[rows]):
            p = present[rows]
            # docs/rules.md: exactly 0.00 / 185.00 °C is a sensor short / open
            s = p & (np.abs(temp - rules.short_c) <= tol)
            o = p & (np.abs(temp - rules.open_c) <= tol)
            short[rows] |= s
            opened[rows] |= o
            oor[rows] |= p & ~s & ~o & ((temp < rules.valid_min_c) | (temp > rules.valid_max_c))
    out[Cause.SENSOR_SHORT] = short
    out[Cause.SENSOR_OPEN] = opened
    out[Cause.TEMP_OUT_OF_RANGE] = oor
    temps_ok: BoolGrid = present & ~np.isnan(sup) & ~np.isnan(ret)
    temps_ok[rows] &= ~(short[rows] | opened[rows] | oor[rows])
    return temps_ok


def _masks(g: MeterGrid, axis: TimeAxis, rules: MeterRules) -> dict[Cause, BoolGrid]:
    """Every rule, slot by slot, for the rows given."""
    n, t = g.shape
    present = ~np.isnan(g.energy_kwh)
    if g.comm_fault is not None:
        present &= ~g.comm_fault
    out = _bits(np.asarray(g.status), present, rules.status_bits)

    sup, ret = g.supply_c, g.return_c
    temps_ok = _temperature_masks(sup, ret, present, rules, out)

    d_e = g.energy_kwh[:, 1:] - g.energy_kwh[:, :-1]
    d_v = g.volume_m3[:, 1:] - g.volume_m3[:, :-1]
    v_valid = present & ~np.isnan(g.volume_m3)
    # docs/rules.md: cumulative energy or volume going down
    out[Cause.ENERGY_DECREASED] = _decreased(g.energy_kwh, d_e, present)
    out[Cause.VOLUME_DECREASED] = _decreased(g.volume_m3, d_v, v_valid)

    with np.errstate(invalid="ignore"):
        flowing = present & (g.flow_m3h > 0)
        dt_k = sup - ret
        consecutive = np.zeros((n, t), dtype=bool)
        consecutive[:, 1:] = present[:, 1:] & present[:, :-1]
        same = np.zeros((n, t), dtype=bool)
        # energy may rightly stand still with flow but no ΔT; volume never may
        same[:, 1:] = (d_v == 0) | ((d_e == 0) & (dt_k[:, 1:] >= rules.dtheta_min_k)
                                    & temps_ok[:, 1:])
        frozen_step = consecutive & flowing & same
    # docs/rules.md: cumulative value frozen for >= 3 intervals while flow > 0
    out[Cause.TOTAL_FROZEN] = runs_at_least(frozen_step, rules.frozen_intervals)

    with np.errstate(invalid="ignore"):
        swapped = temps_ok & flowing & (dt_k < 0)
    # docs/rules.md: ΔT < 0 with flow > 0 for more than 6 h (a run of k slots lasts k × step)
    need = int(np.floor(rules.swapped_h * 3_600_000 / axis.step_ms + 1e-9)) + 1
    out[Cause.SENSORS_SWAPPED] = runs_at_least(swapped, need)

    mismatch = np.zeros((n, t), dtype=bool)
    mismatch[:, 1:] = _energy_mismatch(d_e, d_v, dt_k, axis, rules, g.qp_m3h)
    # a faulty temperature or a failed poll at either end voids the check
    void = ~temps_ok
    void[:, 1:] |= ~temps_ok[:, :-1]
    bad_rows = rows_with_any(void & mismatch)
    mismatch[bad_rows] &= ~void[bad_rows]
    out[Cause.ENERGY_MISMATCH] = mismatch

    # docs/rules.md: no reading for >= 2 expected intervals = communication loss
    out[Cause.COMM_LOSS] = runs_at_least(~present, rules.comm_loss_intervals)
    return out


def _energy_mismatch(
    d_e: FloatGrid,
    d_v: FloatGrid,
    dt_k: FloatGrid,
    axis: TimeAxis,
    rules: MeterRules,
    qp_m3h: FloatGrid | None,
) -> BoolGrid:
    """Steps whose energy misses ΔV·Δθ·k by more than the class-2 limit (no division).

    With E = ΔV·Δθ·k and q = ΔV/Δt, the limit L·E/100 expands to
    min(2E + 0.02·qp·Δt·Δθ·k, 5E) + E + 4·Δθmin·ΔV·k, all over 100.
    """
    step_h = axis.step_ms / 3_600_000
    k = rules.k_kwh_m3k
    qp: npt.NDArray[np.float32] = (
        np.full((d_v.shape[0], 1), rules.qp_m3h, dtype=np.float32) if qp_m3h is None
        else np.asarray(qp_m3h, dtype=np.float32)[:, None]
    )
    # float32 is ample against a limit of several percent, and halves the memory traffic
    dv = d_v.astype(np.float32)
    dtheta = np.add(dt_k[:, 1:], dt_k[:, :-1], dtype=np.float32)
    dtheta *= 0.5
    # docs/rules.md: energy = ΔV·Δθ·k, k 1.16 kWh/(m³·K) the usual round figure
    expected = dv * dtheta
    expected *= k
    with np.errstate(invalid="ignore"):
        # docs/rules.md: class 2 — flow ±(2 + 0.02·qp/q) % (≤ 5 %) + pair ±(0.5 + 3·Δθmin/Δθ) %
        # + calculator ±(0.5 + Δθmin/Δθ) %
        limit = dtheta * (qp * np.float32(0.02 * k * step_h))
        limit += 2.0 * expected
        np.minimum(limit, np.float32(rules.flow_cap_pct) * expected, out=limit)
        limit += expected
        limit += np.float32(4.0 * rules.dtheta_min_k * k) * dv
        miss = d_e.astype(np.float32)
        miss -= expected
        np.abs(miss, out=miss)
        miss *= 100.0
        out: BoolGrid = miss > limit
        out &= dtheta >= rules.dtheta_min_k
        out &= expected >= CHECK_MIN_KWH
    return out


@dataclass(frozen=True, slots=True)
class FaultInterval:
    """One fault of one meter: [start_ms, end_ms), its cause and class."""

    meter: int
    start_ms: int
    end_ms: int
    cause: Cause
    human: bool
    ongoing: bool


@dataclass(frozen=True, slots=True, eq=False)
class MeterFaults:
    """Fault intervals as parallel arrays, plus each slot's non-human / human fault state."""

    meter: IntArray
    start: IntArray
    end: IntArray
    cause: npt.NDArray[np.int16]
    human: npt.NDArray[np.bool_]
    nonhuman_slots: BoolGrid
    human_slots: BoolGrid

    def __len__(self) -> int:
        return int(self.meter.shape[0])

    def items(self, axis: TimeAxis) -> list[FaultInterval]:
        """The intervals as objects with times (for incidents and dispute evidence)."""
        s = axis.ts_ms(self.start)
        e = axis.ts_ms(self.end)
        return [
            FaultInterval(int(m), int(a), int(b), Cause(int(c)), bool(h), int(z) == axis.n_slots)
            for m, a, b, c, h, z in zip(self.meter, s, e, self.cause, self.human, self.end,
                                        strict=True)
        ]

    def day_flags(self, slots_per_day: int) -> tuple[BoolGrid, BoolGrid]:
        """Per meter and day: any non-human fault, any human fault."""
        return day_any(self.nonhuman_slots, slots_per_day), day_any(self.human_slots,
                                                                     slots_per_day)


def detect_meter_faults(
    g: MeterGrid, axis: TimeAxis, rules: MeterRules = DEFAULT_METERS
) -> MeterFaults:
    """Every fault sign as intervals, ordered by meter, start, cause."""
    n, t = g.shape
    rows = suspect_rows(g, rules)
    masks = _masks(g.take(rows), axis, rules)
    parts: list[tuple[Intervals, int]] = [(intervals(m), int(c)) for c, m in masks.items()]
    meter = rows[np.concatenate([iv.row for iv, _ in parts])] if parts else np.zeros(0, np.intp)
    start = np.concatenate([iv.start for iv, _ in parts]) if parts else np.zeros(0, np.intp)
    end = np.concatenate([iv.end for iv, _ in parts]) if parts else np.zeros(0, np.intp)
    cause = np.concatenate(
        [np.full(len(iv), c, dtype=np.int16) for iv, c in parts]
    ) if parts else np.zeros(0, np.int16)
    order = np.lexsort((cause, start, meter))
    human_codes = np.array(rules.human_bits, dtype=np.int16)
    human = np.isin(cause[order], human_codes)
    sub_nonhuman = np.zeros((rows.size, t), dtype=bool)
    sub_human = np.zeros((rows.size, t), dtype=bool)
    for c, m in masks.items():
        # contract: bits 7–8 (tamper, cover) are human causes
        if rules.is_human(int(c)):
            sub_human |= m
        else:
            sub_nonhuman |= m
    nonhuman_slots = np.zeros((n, t), dtype=bool)
    human_slots = np.zeros((n, t), dtype=bool)
    nonhuman_slots[rows] = sub_nonhuman
    human_slots[rows] = sub_human
    return MeterFaults(meter[order], start[order], end[order], cause[order], human,
                       nonhuman_slots, human_slots)
