"""Derived series the analyzer writes back for the dashboards; every field keeps one type.

Each series is a grid of points (`GridPoints`): a row per series, a column per instant. The
runner writes a cycle's points only where they changed since its last write: a steady cycle
rewrites the trailing slots, not the whole look-back.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from analyzer.grid import TimeAxis
from analyzer.kernels.room_temps import Compliance
from district.readings import FieldValue, Reading

COMPLIANCE: Final = "compliance"
OUTAGE_STATE: Final = "outage_state"
LEAK_STATE: Final = "leak_state"
METER_FAULT_STATE: Final = "meter_fault_state"
BILLING_DAY: Final = "billing_day"
DERIVED_MEASUREMENTS: Final = (COMPLIANCE, OUTAGE_STATE, LEAK_STATE, METER_FAULT_STATE,
                               BILLING_DAY)

# meter_fault_state.state: what one meter hour was
STATE_OK, STATE_FAULT, STATE_HUMAN, STATE_COMM = 0, 1, 2, 3

BoolGrid = npt.NDArray[np.bool_]


@dataclass(frozen=True, slots=True, eq=False)
class GridPoints:
    """Points of one measurement as a grid: a row per series (its tags), a column per instant,
    a point wherever `present` (everywhere when None). An integer array is an integer field;
    in a float array a value that is not finite leaves the field out of that point (a point
    never carries NaN); `digits` rounds a float field as it is written."""

    measurement: str
    tags: Sequence[Mapping[str, str]]
    ts_ms: npt.NDArray[np.int64]
    fields: Mapping[str, npt.NDArray[Any]]
    present: BoolGrid | None = None
    digits: Mapping[str, int] = field(default_factory=dict)

    @property
    def shape(self) -> tuple[int, int]:
        return len(self.tags), len(self.ts_ms)

    def points(self) -> BoolGrid:
        """Where the grid holds a point."""
        return np.ones(self.shape, dtype=bool) if self.present is None else self.present

    def __len__(self) -> int:
        return int(self.points().sum())

    def cells(self, where: BoolGrid | None = None
              ) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.int64],
                         list[tuple[str, list[Any], int | None]]]:
        """The points (all, or those `where` marks) as columns: row, time and each field's
        values as Python numbers (None where a float field is left out), with its rounding."""
        mask = self.points() if where is None else where & self.points()
        rows, cols = np.nonzero(mask)
        out: list[tuple[str, list[Any], int | None]] = []
        for name, grid in self.fields.items():
            v = grid[rows, cols]
            if np.issubdtype(v.dtype, np.integer) or v.dtype == bool:
                out.append((name, v.astype(np.int64).tolist(), None))
            else:
                vals: list[Any] = v.astype(np.float64).tolist()
                ok = np.isfinite(v)
                if not ok.all():
                    vals = [x if k else None for x, k in zip(vals, ok.tolist(), strict=True)]
                out.append((name, vals, self.digits.get(name)))
        return rows, self.ts_ms[cols], out

    def readings(self, where: BoolGrid | None = None) -> list[Reading]:
        """The points as readings, row by row (all, or those `where` marks)."""
        rows, ts, cols = self.cells(where)
        names = [c[0] for c in cols]
        digits = [c[2] for c in cols]
        out: list[Reading] = []
        for i, (r, t) in enumerate(zip(rows.tolist(), ts.tolist(), strict=True)):
            fields: dict[str, FieldValue] = {}
            for name, (_, vals, _d), d in zip(names, cols, digits, strict=True):
                x = vals[i]
                if x is not None:
                    fields[name] = x if d is None else round(x, d)
            out.append(Reading(self.measurement, self.tags[r], fields, t))
        return out

    def changed_since(self, before: GridPoints | None) -> BoolGrid:
        """The points that differ from `before` (the last write of this measurement): new
        instants, and points whose fields changed, appeared or were not points before."""
        now = self.points()
        if before is None or before.measurement != self.measurement \
                or not (before.tags is self.tags or list(before.tags) == list(self.tags)) \
                or list(before.fields) != list(self.fields):
            return now.copy()
        _, ia, ib = np.intersect1d(self.ts_ms, before.ts_ms, assume_unique=True,
                                   return_indices=True)
        same = before.points()[:, ib].copy()
        for name, grid in self.fields.items():
            a, b = grid[:, ia], before.fields[name][:, ib]
            if a.dtype.kind == "f" or b.dtype.kind == "f":
                with np.errstate(invalid="ignore"):
                    same &= (a == b) | (~np.isfinite(a) & ~np.isfinite(b))
            else:
                same &= a == b
        out = now.copy()
        out[:, ia] &= ~same
        return out


def _by_substation(substation_ids: Sequence[str]) -> list[dict[str, str]]:
    return [{"substation_id": sid} for sid in substation_ids]


def compliance_points(substation_ids: Sequence[str], day_start_ms: Sequence[int],
                      comp: Compliance, days: Sequence[int]) -> GridPoints:
    """One point per substation and (complete) day: rate, passing, measured, faulty, excluded."""
    d = list(days)
    # a day with nothing measured has no rate: the field is left out, never NaN
    return GridPoints(COMPLIANCE, _by_substation(substation_ids),
                      np.asarray([day_start_ms[i] for i in d], dtype=np.int64),
                      {"passing": comp.passing[:, d], "measured": comp.measured[:, d],
                       "faulty": comp.faulty[:, d], "excluded": comp.excluded[:, d],
                       "rate": np.asarray(comp.rate, dtype=np.float64)[:, d]})


def outage_state_points(substation_ids: Sequence[str], axis: TimeAxis,
                        out_slots: npt.NDArray[np.bool_]) -> GridPoints:
    """Every slot of every substation: out (0/1) and the hours the running outage has lasted."""
    step_h = axis.step_ms / 3_600_000
    # hours so far: run length up to each slot, times the step
    n, t = out_slots.shape
    slot = np.arange(1, t + 1, dtype=np.int64)
    last_ok = np.maximum.accumulate(np.where(out_slots, 0, slot), axis=1)
    hours = np.where(out_slots, (slot - last_ok) * step_h, 0.0)
    return GridPoints(OUTAGE_STATE, _by_substation(substation_ids), axis.ts_ms(np.arange(t)),
                      {"out": out_slots.astype(np.int64), "hours": hours})


def leak_state_points(substation_ids: Sequence[str], axis: TimeAxis,
                      leaking: npt.NDArray[np.bool_], share: npt.NDArray[np.floating],
                      sag_mpa: npt.NDArray[np.floating]) -> GridPoints:
    """Every slot of every substation: leaking (0/1), make-up share and holding-point sag."""
    # a slot without a full window or a pressure reading has no value: left out, never NaN
    return GridPoints(LEAK_STATE, _by_substation(substation_ids),
                      axis.ts_ms(np.arange(leaking.shape[1])),
                      {"leaking": leaking.astype(np.int64),
                       "makeup_share": np.asarray(share, dtype=np.float64),
                       "sag_mpa": np.asarray(sag_mpa, dtype=np.float64)},
                      digits={"sag_mpa": 4})


def meter_state_points(meter_ids: Sequence[str], tags: Sequence[dict[str, str]],
                       axis: TimeAxis, state: npt.NDArray[np.int8],
                       cause: npt.NDArray[np.int16]) -> GridPoints:
    """Change points of each meter's state, plus its first and last slot (fill(previous))."""
    n, t = state.shape
    change = np.zeros((n, t), dtype=bool)
    if t:
        change[:, 0] = True
        change[:, -1] = True
        change[:, 1:] |= (state[:, 1:] != state[:, :-1]) | (cause[:, 1:] != cause[:, :-1])
    return GridPoints(METER_FAULT_STATE, tags, axis.ts_ms(np.arange(t)),
                      {"state": state, "cause_code": cause}, present=change)


def billing_day_points(account_tags: Sequence[dict[str, str]], day_start_ms: Sequence[int],
                       basis: npt.NDArray[np.int8], cause: npt.NDArray[np.int16],
                       kwh: npt.NDArray[np.float64]) -> GridPoints:
    """Each account day's basis code, the cause code behind it (-1 none) and its kWh if known."""
    return GridPoints(BILLING_DAY, account_tags, np.asarray(day_start_ms, dtype=np.int64),
                      {"basis_code": basis, "cause_code": cause,
                       "kwh": np.asarray(kwh, dtype=np.float64)})
