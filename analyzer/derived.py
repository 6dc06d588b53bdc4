"""Derived series the analyzer writes back for the dashboards; every field keeps one type."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

import numpy as np
import numpy.typing as npt

from analyzer.grid import TimeAxis
from analyzer.rooms import Compliance
from district.readings import Reading

COMPLIANCE: Final = "compliance"
OUTAGE_STATE: Final = "outage_state"
LEAK_STATE: Final = "leak_state"
METER_FAULT_STATE: Final = "meter_fault_state"
BILLING_DAY: Final = "billing_day"
DERIVED_MEASUREMENTS: Final = (COMPLIANCE, OUTAGE_STATE, LEAK_STATE, METER_FAULT_STATE,
                               BILLING_DAY)

# meter_fault_state.state: what one meter hour was
STATE_OK, STATE_FAULT, STATE_HUMAN, STATE_COMM = 0, 1, 2, 3


def compliance_readings(substation_ids: Sequence[str], day_start_ms: Sequence[int],
                        comp: Compliance, days: Sequence[int]) -> list[Reading]:
    """One point per substation and (complete) day: rate, passing, measured, faulty, excluded."""
    out: list[Reading] = []
    rate = comp.rate
    for s, sid in enumerate(substation_ids):
        tags = {"substation_id": sid}
        for d in days:
            fields: dict[str, float | int | bool] = {
                "passing": int(comp.passing[s, d]), "measured": int(comp.measured[s, d]),
                "faulty": int(comp.faulty[s, d]), "excluded": int(comp.excluded[s, d]),
            }
            # a day with nothing measured has no rate; the field is left out, never NaN
            if np.isfinite(rate[s, d]):
                fields["rate"] = float(rate[s, d])
            out.append(Reading(COMPLIANCE, tags, fields, int(day_start_ms[d])))
    return out


def outage_state_readings(substation_ids: Sequence[str], axis: TimeAxis,
                          out_slots: npt.NDArray[np.bool_]) -> list[Reading]:
    """Every slot of every substation: out (0/1) and the hours the running outage has lasted."""
    step_h = axis.step_ms / 3_600_000
    # hours so far: run length up to each slot, times the step
    n, t = out_slots.shape
    slot = np.arange(1, t + 1, dtype=np.int64)
    last_ok = np.maximum.accumulate(np.where(out_slots, 0, slot), axis=1)
    hours = np.where(out_slots, (slot - last_ok) * step_h, 0.0)
    ts = axis.ts_ms(np.arange(t))
    out: list[Reading] = []
    for s, sid in enumerate(substation_ids):
        tags = {"substation_id": sid}
        for j in range(t):
            out.append(Reading(OUTAGE_STATE, tags, {"out": int(out_slots[s, j]),
                                                    "hours": float(hours[s, j])}, int(ts[j])))
    return out


def leak_state_readings(substation_ids: Sequence[str], axis: TimeAxis,
                        leaking: npt.NDArray[np.bool_], share: npt.NDArray[np.floating],
                        sag_mpa: npt.NDArray[np.floating]) -> list[Reading]:
    """Every slot of every substation: leaking (0/1), make-up share and holding-point sag."""
    n, t = leaking.shape
    ts = axis.ts_ms(np.arange(t))
    has_share, has_sag = np.isfinite(share), np.isfinite(sag_mpa)
    out: list[Reading] = []
    for s, sid in enumerate(substation_ids):
        tags = {"substation_id": sid}
        for j in range(t):
            fields: dict[str, float | int | bool] = {"leaking": int(leaking[s, j])}
            # a slot without a full window or a pressure reading has no value: left out, never NaN
            if has_share[s, j]:
                fields["makeup_share"] = float(share[s, j])
            if has_sag[s, j]:
                fields["sag_mpa"] = round(float(sag_mpa[s, j]), 4)
            out.append(Reading(LEAK_STATE, tags, fields, int(ts[j])))
    return out


def meter_state_readings(meter_ids: Sequence[str], tags: Sequence[dict[str, str]],
                         axis: TimeAxis, state: npt.NDArray[np.int8],
                         cause: npt.NDArray[np.int16]) -> list[Reading]:
    """Change points of each meter's state, plus its first and last slot (fill(previous))."""
    n, t = state.shape
    if t == 0:
        return []
    change = np.zeros((n, t), dtype=bool)
    change[:, 0] = True
    change[:, -1] = True
    change[:, 1:] |= (state[:, 1:] != state[:, :-1]) | (cause[:, 1:] != cause[:, :-1])
    rows, cols = np.nonzero(change)
    ts = axis.ts_ms(cols)
    return [Reading(METER_FAULT_STATE, tags[int(r)], {"state": int(state[r, c]),
                                                 "cause_code": int(cause[r, c])}, int(x))
            for r, c, x in zip(rows, cols, ts, strict=True)]


def billing_day_readings(account_tags: Sequence[dict[str, str]], day_start_ms: Sequence[int],
                         basis: npt.NDArray[np.int8], cause: npt.NDArray[np.int16],
                         kwh: npt.NDArray[np.float64]) -> list[Reading]:
    """Each account day's basis code, the cause code behind it (-1 none) and its kWh if known."""
    out: list[Reading] = []
    for a, tags in enumerate(account_tags):
        for d, t0 in enumerate(day_start_ms):
            fields: dict[str, float | int | bool] = {"basis_code": int(basis[a, d]),
                                                      "cause_code": int(cause[a, d])}
            if np.isfinite(kwh[a, d]):
                fields["kwh"] = float(kwh[a, d])
            out.append(Reading(BILLING_DAY, tags, fields, int(t0)))
    return out
