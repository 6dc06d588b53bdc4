"""Rooms in the city's terms: what a room's day counts as, when a room is cold, and the
under-temperature refund by band (docs/rules.md worked example 3).

The analyzer's kernel (`analyzer/kernels/room_temps.py`) labels every room day with
`room_day_state`; `heatwatch refunds` reads those labels, so a thermometer the analyzer calls
silent or stuck earns no refund.
"""

from __future__ import annotations

from decimal import Decimal
from enum import IntEnum

import numpy as np
import numpy.typing as npt

from policy.money import fen, to_decimal
from policy.rules import CityRules, RoomRules, UnderTemperatureRefund

FloatGrid = npt.NDArray[np.floating]
BoolGrid = npt.NDArray[np.bool_]


class RoomState(IntEnum):
    """What one room's day counts as."""

    PASS = 0
    COLD = 1
    SENSOR_FAULT = 2
    # docs/rules.md: a day colder than design is recorded but excluded from compliance
    EXCLUDED = 3
    # docs/rules.md: only bedrooms and living rooms are held to the standard
    NOT_COUNTED = 4


class SensorFault(IntEnum):
    """Why a room day is a sensor fault (bit flags, a day may have several)."""

    SILENT = 1
    STUCK = 2
    OUT_OF_RANGE = 4


# docs/rules.md: bedrooms and living rooms are held to the standard; other rooms are recorded only
COUNTED_ROOM_TYPES = ("bedroom", "living")


def is_counted(room_type: str) -> bool:
    """Whether a room of this type counts toward compliance and refunds."""
    return room_type in COUNTED_ROOM_TYPES


def is_cold(mean_c: npt.ArrayLike, rules: RoomRules) -> BoolGrid:
    """A daily (or trailing) mean below the standard (NaN is never cold)."""
    with np.errstate(invalid="ignore"):
        out: BoolGrid = np.asarray(mean_c, dtype=np.float64) < rules.min_c
    return out


def in_valid_range(temp_c: npt.ArrayLike, rules: RoomRules) -> BoolGrid:
    """docs/rules.md: a thermometer reading outside -30…60 °C is a sensor fault."""
    t = np.asarray(temp_c, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        out: BoolGrid = (t >= rules.valid_min_c) & (t <= rules.valid_max_c)
    return out


def silent_days(samples: npt.ArrayLike, slots_in_day: npt.ArrayLike,
                rules: RoomRules) -> BoolGrid:
    """A day with samples in fewer than `min_day_coverage` of its slots is a silent sensor."""
    need = np.ceil(rules.min_day_coverage * np.asarray(slots_in_day, dtype=np.float64) - 1e-9)
    out: BoolGrid = np.asarray(samples) < need
    return out


def room_day_state(cold: BoolGrid, fault: npt.NDArray[np.int8], excluded: BoolGrid,
                   counted: BoolGrid) -> npt.NDArray[np.int8]:
    """Each room day's state: a faulty thermometer is neither cold nor compliant; a day colder
    than design is excluded; rooms other than bedrooms and living rooms are not counted."""
    state = np.where(cold, RoomState.COLD, RoomState.PASS).astype(np.int8)
    state[excluded] = RoomState.EXCLUDED
    state[fault != 0] = RoomState.SENSOR_FAULT
    state[~np.broadcast_to(np.asarray(counted, dtype=bool)[:, None], state.shape)] = \
        RoomState.NOT_COUNTED
    return state


def meets_target(rate: npt.ArrayLike, rules: RoomRules) -> BoolGrid:
    """docs/rules.md: a compliance rate at or above the target (97 %)."""
    with np.errstate(invalid="ignore"):
        out: BoolGrid = np.asarray(rate, dtype=np.float64) >= rules.target_rate - 1e-12
    return out


def refund_share(daily_mean_c: npt.ArrayLike, rules: RoomRules,
                 refund: UnderTemperatureRefund) -> FloatGrid:
    """Share of the daily fee refunded for each day's mean (0 at or above the standard, or
    NaN). Band upper bounds are inclusive: exactly 2 K below is still the 0–2 K band."""
    below = rules.min_c - np.asarray(daily_mean_c, dtype=np.float64)
    uppers = np.array([b.max_below_k for b in refund.bands], dtype=np.float64)
    shares = np.array([b.share for b in refund.bands] + [0.0], dtype=np.float64)
    idx = np.searchsorted(uppers, np.nan_to_num(below, nan=-1.0), side="left")
    out: FloatGrid = np.where((below > 0) & ~np.isnan(below), shares[idx], 0.0)
    return out


def under_temperature_refunds_cny(area_m2: npt.ArrayLike, daily_mean_c: npt.ArrayLike,
                                  season_days: int, city: CityRules) -> list[Decimal]:
    """Refund per account: daily fee × Σ band share over its days (NaN days refund nothing).

    `area_m2` is (accounts,), `daily_mean_c` (accounts, days) of its bedrooms/living rooms."""
    # docs/rules.md: daily fee = season fee ÷ season days; bands refund a share of it
    shares = refund_share(np.atleast_2d(daily_mean_c), city.rooms, city.refund).sum(axis=1)
    area = np.atleast_1d(np.asarray(area_m2, dtype=np.float64))
    price = to_decimal(city.tariff.area_cny_m2_season)
    return [fen(price * to_decimal(float(a)) * to_decimal(float(s)) / Decimal(season_days))
            for a, s in zip(area, shares, strict=True)]


def band_label(lo_k: float, hi_k: float) -> str:
    """0–2 K, 2–6 K, > 6 K."""
    return f"> {lo_k:g} K" if not np.isfinite(hi_k) else f"{lo_k:g}–{hi_k:g} K"
