"""Heat-meter fault signs to fault intervals with a cause and a class.

The verification (校表) of a disputed meter is in policy/verification.py; its names are
kept importable from here.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from analyzer.grid import TimeAxis, day_any
from analyzer.runs import Intervals, ffill_index, intervals, rows_with_any, runs_at_least
from policy.meters import MeterSpecs, comm_loss, effective_resolution, energy_verdicts
from policy.rules import DEFAULT_METERS, Cause, MeterRules
from policy.verification import Verification as Verification
from policy.verification import class2_limit_pct as class2_limit_pct
from policy.verification import settle_verification as settle_verification
from policy.verification import verification_limit_parts as verification_limit_parts
from policy.verification import verification_limit_pct as verification_limit_pct

FloatGrid = npt.NDArray[np.floating]
BoolGrid = npt.NDArray[np.bool_]
IntArray = npt.NDArray[np.intp]


@dataclass(frozen=True, slots=True, eq=False)
class MeterGrid:
    """One window of meter readings, each field (meters, slots); NaN where no reading.

    Keep the cumulative totals in float64: float32 loses the 0.01 kWh step above ~1e5 kWh.
    `status` is 0 where there is no reading; `comm_fault` marks failed polls; `qp_m3h` is the
    permanent flow of each meter, `energy_res_kwh` / `volume_res_m3` its registers' declared
    resolution (rules' defaults when None or NaN); `due_from` each meter's first expected slot
    (comm loss counts from it; from slot 0 when None).
    """

    energy_kwh: FloatGrid
    volume_m3: FloatGrid
    flow_m3h: FloatGrid
    supply_c: FloatGrid
    return_c: FloatGrid
    status: npt.NDArray[np.integer]
    comm_fault: BoolGrid | None = None
    qp_m3h: FloatGrid | None = None
    energy_res_kwh: FloatGrid | None = None
    volume_res_m3: FloatGrid | None = None
    due_from: IntArray | None = None

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
            _rows(self.qp_m3h, rows), _rows(self.energy_res_kwh, rows),
            _rows(self.volume_res_m3, rows),
            None if self.due_from is None else np.asarray(self.due_from)[rows],
        )

    def specs(self, rules: MeterRules = DEFAULT_METERS) -> MeterSpecs:
        """Each meter's rated range and declared resolutions (policy/meters.py)."""
        return MeterSpecs.of(self.shape[0], rules, self.qp_m3h, self.energy_res_kwh,
                             self.volume_res_m3)


def _rows(x: FloatGrid | None, rows: IntArray) -> FloatGrid | None:
    return None if x is None else np.asarray(x)[rows]


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


def suspect_rows(g: MeterGrid, rules: MeterRules = DEFAULT_METERS,
                 axis: TimeAxis | None = None) -> IntArray:
    """Meters that may show a fault sign; every other row is provably clean.

    A row is clean when both totals rise every slot (so no gap, fall or freeze), no status
    bit is set, both temperatures stay inside the valid range, ΔT never goes negative and
    every energy step is within 3 % of ΔV·Δθ·k — the class-2 limit is never tighter than
    that, over any window — with Δθ ≥ Δθmin and the flow within qi..qs (so no interval is out
    of the rated range). A handful of row reductions decide it, instead of the full rule set.
    """
    n, t = g.shape
    axis = axis or TimeAxis(0, 3_600_000, t)
    exact_outside = all(
        not rules.valid_min_c <= x <= rules.valid_max_c for x in (rules.short_c, rules.open_c)
    )
    if t < 2 or not exact_outside or (g.comm_fault is not None and g.comm_fault.any()):
        return np.arange(n, dtype=np.intp)
    specs = g.specs(rules)
    step_h = axis.step_ms / 3_600_000
    # the rated flow range as volume steps, a hair inside so float32 never clears a step the
    # exact rule would not
    f32 = np.float32
    lo = (specs.qi_m3h * (step_h * (1 + 1e-6))).astype(f32)
    hi = (specs.qs_m3h * (step_h * (1 - 1e-6))).astype(f32)
    ok = np.empty((n, t), dtype=bool)
    step_ok = ok[:, 1:]
    scratch = np.empty((n, t), dtype=bool)
    # both steps worked out in float64 and kept in float32: ample against a limit of percents
    d_e = np.empty((n, t - 1), dtype=f32)
    d_v = np.empty((n, t - 1), dtype=f32)
    # cell by cell, then one reduction per row: short per-row reductions are the slow kind
    with np.errstate(invalid="ignore"):
        np.subtract(g.energy_kwh[:, 1:], g.energy_kwh[:, :-1], out=d_e, casting="same_kind")
        np.subtract(g.volume_m3[:, 1:], g.volume_m3[:, :-1], out=d_v, casting="same_kind")
        # NaN compares False, so a gap lands on the suspect side
        ok[:, 0] = True
        np.greater(d_e, 0, out=step_ok)
        step_ok &= np.greater_equal(d_v, lo, out=scratch[:, 1:])
        step_ok &= np.less_equal(d_v, hi, out=scratch[:, 1:])
        # supply ≤ max, return ≥ min and ΔT ≥ Δθmin ≥ 0 keep both inside the valid range
        ok &= np.less_equal(g.supply_c, f32(rules.valid_max_c), out=scratch)
        ok &= np.greater_equal(g.return_c, f32(rules.valid_min_c), out=scratch)
        dt_k = np.subtract(g.supply_c, g.return_c, dtype=f32)
        ok &= np.greater_equal(dt_k, f32(max(rules.dtheta_min_k, 0.0)), out=scratch)
        ok &= np.equal(g.status, 0, out=scratch)
        expected = np.add(dt_k[:, 1:], dt_k[:, :-1])
        expected *= d_v
        expected *= f32(0.5 * rules.k_kwh_m3k)
        miss = d_e
        miss -= expected
        np.abs(miss, out=miss)
        # limit·E/100 >= 3 % of E (2 % flow + 0.5 % + 0.5 %, plus positive Δθmin terms)
        expected *= f32(0.03)
        step_ok &= np.less_equal(miss, expected, out=scratch[:, 1:])
    np.logical_not(ok, out=ok)
    return rows_with_any(ok)


def fault_masks(g: MeterGrid, axis: TimeAxis, rules: MeterRules = DEFAULT_METERS) -> dict[
    Cause, BoolGrid
]:
    """Per cause, the slots that show that fault sign (only suspect rows are worked out)."""
    n, t = g.shape
    rows = suspect_rows(g, rules, axis)
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


def _frozen_steps(g: MeterGrid, present: BoolGrid, temps_ok: BoolGrid, d_e: FloatGrid,
                  d_v: FloatGrid, dt_k: FloatGrid, specs: MeterSpecs, res_e: FloatGrid,
                  step_h: float, rules: MeterRules) -> tuple[BoolGrid, BoolGrid]:
    """Steps whose total stood still while it should have moved its last digit; flowing slots."""
    n, t = present.shape
    with np.errstate(invalid="ignore"):
        flowing = present & (g.flow_m3h > 0)
        zero_v = d_v == 0
        zero_e = d_e == 0
        same = np.zeros((n, t), dtype=bool)
        # only rows where a total stood still at all are worked out
        rows = rows_with_any(zero_v | zero_e)
        if rows.size:
            # a register stands still rightly while the step adds less than its last digit;
            # energy also with flow but no ΔT; volume never may
            v_step = g.flow_m3h[rows, 1:] * step_h
            dt = dt_k[rows, 1:]
            same[rows, 1:] = (zero_v[rows] & (v_step >= specs.volume_res_m3[rows])) | (
                zero_e[rows] & (dt >= specs.dtheta_min_k[rows]) & temps_ok[rows, 1:]
                & (v_step * dt * rules.k_kwh_m3k >= res_e[rows]))
        # two consecutive readings, the later one flowing
        frozen_step = flowing & same
        frozen_step[:, 1:] &= present[:, :-1]
    return frozen_step, flowing


def _masks(g: MeterGrid, axis: TimeAxis, rules: MeterRules,
           extra: dict[str, BoolGrid] | None = None) -> dict[Cause, BoolGrid]:
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

    specs = g.specs(rules)
    res_e = effective_resolution(g.energy_kwh, specs.energy_res_kwh)
    res_v = specs.volume_res_m3
    step_h = axis.step_ms / 3_600_000
    dt_k = sup - ret
    frozen_step, flowing = _frozen_steps(g, present, temps_ok, d_e, d_v, dt_k, specs, res_e,
                                         step_h, rules)
    # docs/rules.md: cumulative value frozen for >= 3 intervals while flow > 0
    out[Cause.TOTAL_FROZEN] = runs_at_least(frozen_step, rules.frozen_intervals)

    with np.errstate(invalid="ignore"):
        swapped = temps_ok & flowing & (dt_k < 0)
    # docs/rules.md: ΔT < 0 with flow > 0 for more than 6 h (a run of k slots lasts k × step)
    need = int(np.floor(rules.swapped_h * 3_600_000 / axis.step_ms + 1e-9)) + 1
    out[Cause.SENSORS_SWAPPED] = runs_at_least(swapped, need)

    # a faulty temperature or a failed poll at either end voids the check
    valid = temps_ok[:, 1:] & temps_ok[:, :-1]
    # in the readings' own precision: the exact float64 work casts the rows it takes
    dtheta = dt_k[:, 1:] + dt_k[:, :-1]
    dtheta *= 0.5
    checked = MeterSpecs(specs.qp_m3h, specs.qi_m3h, specs.qs_m3h, specs.dtheta_min_k, res_e,
                         res_v, specs.meter_class)
    # docs/rules.md: energy must match ΔV·Δθ·k within the class error (policy/meters.py)
    v = energy_verdicts(d_e, d_v, dtheta, valid, step_h, checked, rules)
    mismatch = np.zeros((n, t), dtype=bool)
    mismatch[:, 1:] = v.fault
    out[Cause.ENERGY_MISMATCH] = mismatch
    if extra is not None:
        extra["out_of_range"] = np.zeros((n, t), dtype=bool)
        extra["out_of_range"][:, 1:] = v.out_of_range

    missing = ~present
    if g.due_from is not None:
        missing &= np.arange(t)[None, :] >= np.asarray(g.due_from)[:, None]
    # docs/rules.md: no reading for >= 2 expected intervals = communication loss
    out[Cause.COMM_LOSS] = comm_loss(missing, rules)
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
    # slots outside the meter's rated range (Δθ < Δθmin, q < qi or > qs): no mismatch verdict
    out_of_range: BoolGrid | None = None

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
    rows = suspect_rows(g, rules, axis)
    extra: dict[str, BoolGrid] = {}
    masks = _masks(g.take(rows), axis, rules, extra)
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
    out_of_range = np.zeros((n, t), dtype=bool)
    if "out_of_range" in extra:
        out_of_range[rows] = extra["out_of_range"]
    return MeterFaults(meter[order], start[order], end[order], cause[order], human,
                       nonhuman_slots, human_slots, out_of_range)
