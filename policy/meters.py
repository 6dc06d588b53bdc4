"""Heat-meter checks that hold on real meters (issue 25): the EN 1434 class limit at each
interval's own flow and Δθ plus the quantisation of both readings, a window long enough for
the registers' resolution to allow a verdict, the meter's rated range, and communication loss.

One rule, used by the meter-fault kernel (and through it the detector and billing's basis) and
by the dispute dossier's verification.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Final

import numpy as np
import numpy.typing as npt

from policy.rules import DEFAULT_METERS, MeterRules

FloatGrid = npt.NDArray[np.floating]
BoolGrid = npt.NDArray[np.bool_]
Number = float | Decimal

# EN 1434 flow-sensor part ±(a + b·qp/q) %, at most cap: class -> (a, b, cap)
CLASS_FLOW: Final[dict[int, tuple[Decimal, Decimal, Decimal]]] = {
    1: (Decimal(1), Decimal("0.01"), Decimal("3.5")),
    2: (Decimal(2), Decimal("0.02"), Decimal(5)),
    3: (Decimal(3), Decimal("0.05"), Decimal(5)),
}
# whole-kWh energy registers (1 kWh, 10 kWh, or MWh with 2–3 decimals) are common in
# residential meters: a row whose every reading is such a multiple is read at that resolution
# even when nothing declares it (finer steps are left to the declarations: steady test data
# lands on them by chance)
INFERRED_KWH: Final = (1.0, 10.0)
# EN 1434 temperature-pair part ±(0.5 + 3·Δθmin/Δθ) % and calculator part ±(0.5 + Δθmin/Δθ) %
PAIR_PCT: Final = (0.5, 3.0)
CALCULATOR_PCT: Final = (0.5, 1.0)
# the float32 screen clears a step only this far (relative) inside its limit: float32 carries
# about 7 digits, so its verdict there is the exact one
SCREEN_MARGIN: Final = 1e-3


def class_limit_parts(qp_over_q: Number, dtheta_min_over_dtheta: Number, meter_class: int = 2,
                      flow_cap_pct: Number | None = None) -> tuple[Number, Number, Number]:
    """EN 1434 limit parts in percent: flow (a + b·qp/q, capped), temperature pair
    (0.5 + 3·Δθmin/Δθ), calculator (0.5 + Δθmin/Δθ). Exact in Decimal for Decimal input."""
    a, b, cap = CLASS_FLOW[meter_class]
    if flow_cap_pct is not None:
        cap = Decimal(repr(flow_cap_pct)) if isinstance(flow_cap_pct, float) else flow_cap_pct
    r = dtheta_min_over_dtheta
    if isinstance(qp_over_q, Decimal) and isinstance(r, Decimal):
        return min(a + b * qp_over_q, cap), Decimal("0.5") + 3 * r, Decimal("0.5") + r
    x, rf = float(qp_over_q), float(r)
    return min(float(a) + float(b) * x, float(cap)), 0.5 + 3.0 * rf, 0.5 + rf


def permitted_error_pct(q_m3h: npt.ArrayLike, dtheta_k: npt.ArrayLike, qp_m3h: npt.ArrayLike,
                        dtheta_min_k: npt.ArrayLike, meter_class: int = 2,
                        flow_cap_pct: float | None = None) -> FloatGrid:
    """The class limit of the whole meter in percent at flow q and Δθ (arrays broadcast)."""
    a, b, cap = (float(x) for x in CLASS_FLOW[meter_class])
    cap = cap if flow_cap_pct is None else flow_cap_pct
    with np.errstate(divide="ignore", invalid="ignore"):
        flow = np.minimum(a + b * np.asarray(qp_m3h, dtype=np.float64)
                          / np.asarray(q_m3h, dtype=np.float64), cap)
        ratio = np.asarray(dtheta_min_k, dtype=np.float64) / np.asarray(dtheta_k,
                                                                         dtype=np.float64)
    out: FloatGrid = flow + (PAIR_PCT[0] + PAIR_PCT[1] * ratio) + (
        CALCULATOR_PCT[0] + CALCULATOR_PCT[1] * ratio)
    return out


@dataclass(frozen=True, slots=True, eq=False)
class MeterSpecs:
    """Each meter's rated range, class and register resolutions, as (meters, 1) columns."""

    qp_m3h: FloatGrid
    qi_m3h: FloatGrid
    qs_m3h: FloatGrid
    dtheta_min_k: FloatGrid
    energy_res_kwh: FloatGrid
    volume_res_m3: FloatGrid
    meter_class: int = 2

    @classmethod
    def of(cls, n: int, rules: MeterRules = DEFAULT_METERS, qp_m3h: npt.ArrayLike | None = None,
           energy_res_kwh: npt.ArrayLike | None = None,
           volume_res_m3: npt.ArrayLike | None = None) -> MeterSpecs:
        """The rules' documented defaults, overridden per meter where given (NaN = default)."""
        def col(x: npt.ArrayLike | None, default: float) -> FloatGrid:
            out = np.full((n, 1), default)
            if x is not None:
                v = np.broadcast_to(np.asarray(x, dtype=np.float64).reshape(-1), (n,))
                out[:, 0] = np.where(np.isfinite(v) & (v > 0), v, default)
            return out

        qp = col(qp_m3h, rules.qp_m3h)
        # EN 1434: qi and qs follow qp by the meter's ratios
        return cls(qp, qp / rules.qp_over_qi, qp * rules.qs_over_qp,
                   np.full((n, 1), rules.dtheta_min_k), col(energy_res_kwh,
                                                            rules.energy_resolution_kwh),
                   col(volume_res_m3, rules.volume_resolution_m3), rules.meter_class)

    def take(self, rows: npt.NDArray[np.intp]) -> MeterSpecs:
        return MeterSpecs(self.qp_m3h[rows], self.qi_m3h[rows], self.qs_m3h[rows],
                          self.dtheta_min_k[rows], self.energy_res_kwh[rows],
                          self.volume_res_m3[rows], self.meter_class)


def misaligned(values: FloatGrid, resolution: FloatGrid) -> npt.NDArray[np.bool_]:
    """Per row: a reading that is not a whole multiple of its declared resolution (a warning
    worth giving once per device, never a fault)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        x = values / resolution
        off = np.abs(x - np.rint(x)) > 1e-6 * np.maximum(1.0, np.abs(x) * 1e-9)
    out: npt.NDArray[np.bool_] = np.asarray((off & np.isfinite(values)).any(axis=1))
    return out


def effective_resolution(values: FloatGrid, declared: FloatGrid,
                         candidates: tuple[float, ...] = INFERRED_KWH) -> FloatGrid:
    """The coarser of the declared resolution and the coarsest candidate step every reading of
    the row is a multiple of: an undeclared whole-kWh register never looks like a fault."""
    out = declared.copy()
    rows = np.flatnonzero(np.isfinite(values).any(axis=1))
    # ascending candidates: a row off one step is off every coarser one
    for r in sorted(candidates):
        # the first and last readings first: most rows are out after two columns
        rows = rows[_fits(values[rows, :1], r) & _fits(values[rows, -1:], r)]
        if rows.size == 0:
            break
        rows = rows[_fits(values[rows], r)]
        out[rows] = np.maximum(out[rows], r)
    return out


def _fits(values: FloatGrid, step: float) -> npt.NDArray[np.bool_]:
    """Per row: every reading a whole multiple of `step` (missing ones fit)."""
    with np.errstate(invalid="ignore"):
        x = values / step
        out: npt.NDArray[np.bool_] = ((np.abs(x - np.rint(x)) <= 1e-6) | np.isnan(x)).all(axis=1)
    return out


@dataclass(frozen=True, slots=True, eq=False)
class EnergyVerdicts:
    """Per step (meters, steps): judged faulty, and outside the meter's rated range."""

    fault: BoolGrid
    out_of_range: BoolGrid


def _ladder(max_steps: int) -> list[int]:
    out, n = [], 1
    while n < max_steps:
        out.append(n)
        n *= 2
    return [*out, max(max_steps, 1)]


def _windows(c: FloatGrid, n: int) -> FloatGrid:
    """Sums over every window of n steps, ending at step n-1 onwards, from a cumulative sum
    with a leading zero column."""
    out: FloatGrid = c[:, n:] - c[:, :-n]
    return out


def energy_verdicts(d_e: FloatGrid, d_v: FloatGrid, dtheta: FloatGrid, valid: BoolGrid,
                    step_h: float, specs: MeterSpecs, rules: MeterRules = DEFAULT_METERS
                    ) -> EnergyVerdicts:
    """Steps whose energy misses ΔV·Δθ·k by more than the class limit plus quantisation.

    Inside the rated range (Δθ ≥ Δθmin, qi ≤ q ≤ qs) a window of consecutive steps is judged
    once the quantisation of its end readings is at most `verdict_quantisation_share` of its
    class limit (each step's limit at its own q and Δθ): faulty when |E − ΔV·Δθ·k| exceeds
    limit + quantisation, passed when below limit − quantisation, else the window grows (up to
    `verdict_max_h`) or no verdict is given. Rounding alone never makes a fault.

    Rows whose every step a cheap float32 screen clears are passed as they are; the others
    are worked out exactly, in float64.
    """
    n, s = d_e.shape
    in_range = in_rated_range(d_v, dtheta, step_h, specs)
    out_of_range = out_of_range_steps(d_e, d_v, dtheta, valid, step_h, specs, in_range)
    with np.errstate(invalid="ignore", divide="ignore"):
        # a flow in range is a finite one, and so is its Δθ
        ok = valid & in_range
        ok &= np.isfinite(d_e)
        unclear = _clear_steps(d_e, d_v, dtheta, specs, rules)
        np.logical_not(unclear, out=unclear)
        unclear &= ok
    fault = np.zeros((n, s), dtype=bool)
    rows = np.flatnonzero(unclear.any(axis=1))
    if rows.size:
        fault[rows] = _exact(d_e[rows], d_v[rows], dtheta[rows].astype(np.float64), step_h,
                             ok[rows], specs.take(rows), rules)
    return EnergyVerdicts(fault, out_of_range)


def in_rated_range(d_v: FloatGrid, dtheta: FloatGrid, step_h: float | FloatGrid,
                   specs: MeterSpecs) -> BoolGrid:
    """Steps inside the meter's rated range: Δθ ≥ Δθmin and qi ≤ q ≤ qs, the flows as the
    volume they move in the step (no division). `step_h` may differ step by step."""
    with np.errstate(invalid="ignore"):
        out: BoolGrid = dtheta >= specs.dtheta_min_k
        out &= d_v >= specs.qi_m3h * step_h
        out &= d_v <= specs.qs_m3h * step_h
    return out


def out_of_range_steps(d_e: FloatGrid, d_v: FloatGrid, dtheta: FloatGrid, valid: BoolGrid,
                       step_h: float | FloatGrid, specs: MeterSpecs,
                       in_range: BoolGrid | None = None) -> BoolGrid:
    """Valid steps that moved heat or water outside the rated range: no mismatch verdict
    there, a reason the dispute dossier shows (`energy_verdicts`' out_of_range)."""
    if in_range is None:
        in_range = in_rated_range(d_v, dtheta, step_h, specs)
    with np.errstate(invalid="ignore"):
        out: BoolGrid = (d_v > 0) | (d_e > 0)
    out &= valid
    out &= ~in_range
    return out


def _clear_steps(d_e: FloatGrid, d_v: FloatGrid, dtheta: FloatGrid, specs: MeterSpecs,
                 rules: MeterRules) -> BoolGrid:
    """Steps of the rated range that one step passes beyond doubt, in float32 and without a
    division, against a floor of the class limit: with E = ΔV·Δθ·k the limit in kWh is at
    least ((a + 1)·E + 4·Δθmin·ΔV·k) / 100 (the flow part's qp/q term left out), taken
    `SCREEN_MARGIN` inside both tests of `_judge`'s first step, far beyond float32's error."""
    f32 = np.float32
    a = float(CLASS_FLOW[specs.meter_class][0]) + PAIR_PCT[0] + CALCULATOR_PCT[0]
    k = rules.k_kwh_m3k
    dv = d_v.astype(f32)
    th = dtheta.astype(f32, copy=False)
    # E/100 ≤ limit/(a+1), so float32's error on |E − ΔV·Δθ·k| stays far below this margin
    lim = th * f32(a)
    lim += (specs.dtheta_min_k * (PAIR_PCT[1] + CALCULATOR_PCT[1])).astype(f32)
    lim *= dv
    lim *= f32(k / 100.0 * (1.0 - SCREEN_MARGIN))
    qz = th * (specs.volume_res_m3 * (2.0 * k)).astype(f32)
    qz += specs.energy_res_kwh.astype(f32)
    out: BoolGrid = qz * f32((1.0 + SCREEN_MARGIN) / rules.verdict_quantisation_share) <= lim
    e = dv * th
    e *= f32(k)
    miss = d_e.astype(f32)
    miss -= e
    np.abs(miss, out=miss)
    miss += qz
    out &= miss < lim
    return out


def _exact(d_e: FloatGrid, d_v: FloatGrid, dtheta: FloatGrid, step_h: float, ok: BoolGrid,
           specs: MeterSpecs, rules: MeterRules) -> BoolGrid:
    """`energy_verdicts`' faults in float64, for the rows the screen left."""
    n, s = d_e.shape
    max_steps = max(1, round(rules.verdict_max_h / step_h))
    with np.errstate(invalid="ignore", divide="ignore"):
        q = d_v / step_h
        e_exp = np.where(ok, d_v * dtheta * rules.k_kwh_m3k, 0.0)
        lim = np.where(ok, permitted_error_pct(q, dtheta, specs.qp_m3h, specs.dtheta_min_k,
                                               specs.meter_class, _cap(rules)) * e_exp / 100,
                       0.0)
        miss = np.where(ok, d_e - e_exp, 0.0)
        th = np.where(ok, dtheta, 0.0)
        tv = np.zeros((n, s))
        tv[:, 1:] = np.where(ok[:, 1:] & ok[:, :-1], np.abs(th[:, 1:] - th[:, :-1]), 0.0)
    return _judge(ok, miss, lim, th, tv, specs, rules, max_steps)


def _cap(rules: MeterRules) -> float | None:
    return rules.flow_cap_pct if rules.meter_class == 2 else None


def _judge(ok: BoolGrid, miss: FloatGrid, lim: FloatGrid, th: FloatGrid, tv: FloatGrid,
           specs: MeterSpecs, rules: MeterRules, max_steps: int) -> BoolGrid:
    """The growing-window verdicts of `energy_verdicts`, only on rows still undecided."""
    n, s = ok.shape
    # one step first, on the plain arrays: most steps are decided there
    qz1 = specs.energy_res_kwh + specs.volume_res_m3 * (2.0 * rules.k_kwh_m3k) * th
    able = ok & (qz1 <= rules.verdict_quantisation_share * lim)
    first_fail = able & (np.abs(miss) > lim + qz1)
    undecided = ok & ~(able & (first_fail | (np.abs(miss) < lim - qz1)))
    marks = np.zeros((n, s + 1), dtype=np.int32)
    marks[:, :s] += first_fail
    marks[:, 1:] -= first_fail
    todo = np.flatnonzero(undecided.any(axis=1))
    if todo.size:
        marks[todo] += _grow(undecided[todo], ok[todo], miss[todo], lim[todo], th[todo],
                             tv[todo], specs.take(todo), rules, max_steps)
    out: BoolGrid = np.cumsum(marks[:, :s], axis=1) > 0
    return out


def _grow(undecided: BoolGrid, ok: BoolGrid, miss: FloatGrid,
          lim: FloatGrid, th: FloatGrid, tv: FloatGrid, specs: MeterSpecs, rules: MeterRules,
          max_steps: int) -> npt.NDArray[np.int32]:
    """Windows of 2, 4, … steps for the rows a single step left undecided: +1 where a faulty
    window starts, -1 after it ends."""
    n, s = ok.shape
    marks = np.zeros((n, s + 1), dtype=np.int32)
    zero = np.zeros((n, 1))
    cs = {name: np.concatenate([zero, np.cumsum(x, axis=1)], axis=1)
          for name, x in (("bad", (~ok).astype(np.float64)), ("miss", miss), ("lim", lim),
                          ("tv", tv))}
    for w in _ladder(max_steps)[1:]:
        if w > s:
            break
        undecided[:, :w - 1] = False
        rows = np.flatnonzero(undecided.any(axis=1))
        if rows.size == 0:
            break
        und = undecided[rows, w - 1:]
        whole = _windows(cs["bad"][rows], w) < 0.5
        m = _windows(cs["miss"][rows], w)
        lw = _windows(cs["lim"][rows], w)
        # quantisation: the energy register's last digit, and the volume register's through Δθ
        inner = _windows(cs["tv"][rows], w) - tv[rows, :s - w + 1]
        th_r = th[rows]
        qz = specs.energy_res_kwh[rows] + specs.volume_res_m3[rows] * rules.k_kwh_m3k * (
            th_r[:, :s - w + 1] + th_r[:, w - 1:] + inner)
        able = und & whole & (qz <= rules.verdict_quantisation_share * lw)
        fail = able & (np.abs(m) > lw + qz)
        done = able & (fail | (np.abs(m) < lw - qz))
        undecided[rows, w - 1:] = und & whole & ~done
        sub = marks[rows]
        sub[:, :s - w + 1] += fail
        sub[:, w:] -= fail
        marks[rows] = sub
    return marks


def runs_at_least(mask: BoolGrid, n: int) -> BoolGrid:
    """The slots of runs of True at least `n` slots long."""
    if n <= 1:
        return mask.copy()
    m = mask.astype(np.int32)
    t = m.shape[1]
    idx = np.arange(1, t + 1, dtype=np.int32)
    # distance back to the run's start and forward to its end
    last_false = np.maximum.accumulate(np.where(m == 0, idx, 0), axis=1)
    next_false = np.minimum.accumulate(np.where(m == 0, idx, t + 1)[:, ::-1], axis=1)[:, ::-1]
    out: BoolGrid = mask & (next_false - last_false - 1 >= n)
    return out


def comm_loss(missing: BoolGrid, rules: MeterRules = DEFAULT_METERS) -> BoolGrid:
    """The one comm-loss rule: no reading for >= `comm_loss_intervals` expected intervals
    (docs/rules.md), for a meter's slots or a gateway's."""
    return runs_at_least(missing, rules.comm_loss_intervals)
