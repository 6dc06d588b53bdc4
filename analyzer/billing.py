"""A season's bill per account: each day's basis and reason, the bill both ways, the difference."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from enum import IntEnum

import numpy as np
import numpy.typing as npt

from analyzer.grid import DAY_MS
from policy.causes import CAUSE_TEXT
from policy.money import fen, to_decimal
from policy.rules import DEFAULT_TARIFF, Cause, Tariff

FloatGrid = npt.NDArray[np.floating]
BoolGrid = npt.NDArray[np.bool_]


class Basis(IntEnum):
    """How one account day is billed."""

    METERED = 0
    # docs/rules.md: a meter damaged by a non-human cause -> that period is billed by area
    AREA = 1
    # docs/rules.md: CJJ/T 223 degree-day estimate, the alternative policy for fault days
    ESTIMATED = 2
    # docs/rules.md: human causes are never area-billed; they go to inspection (稽查)
    INSPECTION = 3


POLICIES = ("area", "estimated")


def label_days(nonhuman: BoolGrid, human: BoolGrid, policy: str = "area") -> npt.NDArray[np.int8]:
    """Each account day's basis; a human-cause day is inspection even if it also has others."""
    if policy not in POLICIES:
        raise ValueError(f"policy must be one of {POLICIES}, not {policy!r}")
    fault_basis = Basis.AREA if policy == "area" else Basis.ESTIMATED
    basis = np.where(nonhuman, fault_basis, Basis.METERED).astype(np.int8)
    basis[human] = Basis.INSPECTION
    return basis


def degree_days(outdoor_daily_c: FloatGrid, base_c: float) -> FloatGrid:
    """Each day's heating degree-days, base − outdoor daily mean, never below 0."""
    # docs/rules.md: degree-days Σ(18 − daily outdoor mean) (CJJ/T 223)
    out: FloatGrid = np.maximum(base_c - np.asarray(outdoor_daily_c, dtype=np.float64), 0.0)
    return out


def degree_day_estimate_kwh(
    q_ref_kwh: npt.ArrayLike, dd_ref: npt.ArrayLike, dd_fault: npt.ArrayLike
) -> FloatGrid:
    """CJJ/T 223: Q = Q_ref × DD18_fault / DD18_ref (NaN without reference degree-days)."""
    ref = np.asarray(dd_ref, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        out: FloatGrid = np.where(
            ref > 0, np.asarray(q_ref_kwh, dtype=np.float64) * np.asarray(dd_fault) / ref, np.nan
        )
    return out


def day_increments(first: FloatGrid, last: FloatGrid, before: FloatGrid | None = None,
                   from_first_reading: bool = True) -> npt.NDArray[np.float64]:
    """What a cumulative register (kWh, m³) added each day: (n, days) in, NaN without a reading.

    A day counts from the latest total before it (`before`, shape (n,), precedes day 0); with
    none known, from the day's own first reading when `from_first_reading` (the meter's
    first day), else NaN (the earlier readings exist but lie outside what was read).
    """
    lo = np.atleast_2d(np.asarray(first, dtype=np.float64))
    hi = np.atleast_2d(np.asarray(last, dtype=np.float64))
    n, nd = hi.shape
    carried = np.full((n, nd + 1), np.nan)
    carried[:, 0] = np.nan if before is None else np.asarray(before, dtype=np.float64)
    carried[:, 1:] = hi
    # the latest known total, carried forward across days without a reading
    idx = np.where(~np.isnan(carried), np.arange(nd + 1), 0)
    np.maximum.accumulate(idx, axis=1, out=idx)
    carried = np.take_along_axis(carried, idx, axis=1)
    prev = carried[:, :-1]
    has = ~np.isnan(hi)
    opening = lo if from_first_reading else np.full_like(hi, np.nan)
    out: npt.NDArray[np.float64] = np.where(has, hi - np.where(np.isnan(prev), opening, prev),
                                            np.nan)
    return out


@dataclass(frozen=True, slots=True)
class FaultSpan:
    """One fault interval of one meter, as the bill sees it: [start_ms, end_ms)."""

    start_ms: int
    end_ms: int
    human: bool
    causes: tuple[Cause, ...]


@dataclass(frozen=True, slots=True, eq=False)
class BillingDays:
    """Per account and day: the kWh, whether read, the fault flags and the basis with its cause."""

    kwh: npt.NDArray[np.float64]
    has_reading: BoolGrid
    nonhuman: BoolGrid
    human: BoolGrid
    basis: npt.NDArray[np.int8]
    cause: npt.NDArray[np.int16]  # the cause behind the day's basis, -1 for none
    causes: list[dict[int, list[Cause]]]  # every cause touching each day, for the reasons


def billing_days(first_kwh: FloatGrid, last_kwh: FloatGrid, before_kwh: FloatGrid | None,
                 faults: Sequence[Sequence[FaultSpan]], day0_ms: int,
                 from_first_reading: bool = True) -> BillingDays:
    """Each account day's kWh and billing basis: the one rule the cycle, `billing` and
    `dispute` share. Totals are (accounts, days) from day0_ms; `faults` one list per account."""
    hi = np.atleast_2d(np.asarray(last_kwh, dtype=np.float64))
    n, nd = hi.shape
    nonhuman = np.zeros((n, nd), dtype=bool)
    human = np.zeros((n, nd), dtype=bool)
    cause = np.full((n, nd), -1, dtype=np.int16)
    causes: list[dict[int, list[Cause]]] = [{} for _ in range(n)]
    for a, spans in enumerate(faults):
        # human causes decide a day's cause over non-human ones; otherwise the earliest span
        for sp in sorted(spans, key=lambda x: (not x.human, x.start_ms)):
            d0 = max((sp.start_ms - day0_ms) // DAY_MS, 0)
            d1 = min((max(sp.end_ms - 1, sp.start_ms) - day0_ms) // DAY_MS + 1, nd)
            if d1 <= d0:
                continue
            # docs/rules.md: human causes go to inspection; non-human damage is billed by area
            (human if sp.human else nonhuman)[a, d0:d1] = True
            first = cause[a, d0:d1]
            first[first < 0] = int(sp.causes[0]) if sp.causes else -1
            for d in range(d0, d1):
                day = causes[a].setdefault(d, [])
                day.extend(c for c in sp.causes if c not in day)
    return BillingDays(day_increments(first_kwh, hi, before_kwh, from_first_reading),
                       ~np.isnan(hi), nonhuman, human, label_days(nonhuman, human), cause,
                       causes)


@dataclass(frozen=True, slots=True)
class AccountBill:
    """One account's season bill under one policy, to the fen."""

    policy: str
    metered_days: int
    area_days: int
    estimated_days: int
    inspection_days: int
    kwh: Decimal
    estimated_kwh: Decimal
    basic_cny: Decimal
    energy_cny: Decimal
    area_cny: Decimal
    estimated_energy_cny: Decimal
    total_cny: Decimal


@dataclass(frozen=True, slots=True, eq=False)
class SeasonBills:
    """Bills of many accounts for one season, both policies, as arrays."""

    area_m2: FloatGrid
    season_days: int
    tariff: Tariff
    basis_area: npt.NDArray[np.int8]
    basis_estimated: npt.NDArray[np.int8]
    metered_kwh: FloatGrid  # kWh on metered and inspection days
    fault_kwh_raw: FloatGrid  # what the faulty meter said on fault days: kept, never billed
    estimated_kwh: FloatGrid
    area_policy_cny: FloatGrid
    estimated_policy_cny: FloatGrid

    @property
    def difference_cny(self) -> FloatGrid:
        """Estimated policy minus area policy."""
        out: FloatGrid = self.estimated_policy_cny - self.area_policy_cny
        return out

    def days(self, basis: Basis, policy: str = "area") -> npt.NDArray[np.int64]:
        """How many days of each account carry `basis` under `policy`."""
        b = self.basis_area if policy == "area" else self.basis_estimated
        out: npt.NDArray[np.int64] = (b == basis).sum(axis=1).astype(np.int64)
        return out

    def bill(self, account: int, policy: str = "area") -> AccountBill:
        """One account's bill in Decimal: each part rounded to the fen, the total their sum."""
        t = self.tariff
        b = self.basis_area if policy == "area" else self.basis_estimated
        row = b[account]
        counts = {basis: int((row == basis).sum()) for basis in Basis}
        area = to_decimal(float(self.area_m2[account]))
        sd = Decimal(self.season_days)
        kwh = to_decimal(float(self.metered_kwh[account]))
        est_days = counts[Basis.ESTIMATED]
        est_kwh = to_decimal(float(self.estimated_kwh[account])) if est_days else Decimal(0)
        # docs/rules.md: metered = basic price × area × share of season + price × kWh
        billed_days = counts[Basis.METERED] + counts[Basis.INSPECTION] + est_days
        basic = fen(t.basic_cny_m2_season * area * billed_days / sd)
        energy = fen(t.energy_cny_kwh * kwh)
        # docs/rules.md: area = area price × area × fault days ÷ season days
        area_cny = fen(t.area_cny_m2_season * area * counts[Basis.AREA] / sd)
        est_cny = fen(t.energy_cny_kwh * est_kwh)
        return AccountBill(
            policy, counts[Basis.METERED], counts[Basis.AREA], est_days,
            counts[Basis.INSPECTION], kwh, est_kwh, basic, energy, area_cny, est_cny,
            basic + energy + area_cny + est_cny,
        )


def bill_season(
    area_m2: FloatGrid,
    daily_kwh: FloatGrid,
    nonhuman_days: BoolGrid,
    human_days: BoolGrid,
    outdoor_daily_c: FloatGrid,
    season_days: int,
    tariff: Tariff = DEFAULT_TARIFF,
    q_ref_kwh: FloatGrid | None = None,
    dd_ref: FloatGrid | None = None,
) -> SeasonBills:
    """Bill each account's season both ways: fault days by area, or by degree-day estimate.

    Arrays are (accounts, days) over the season's days; `outdoor_daily_c` is (days,) or
    (accounts, days). Without `q_ref_kwh`/`dd_ref`, the reference is the account's own metered
    days this season.
    """
    area = np.asarray(area_m2, dtype=np.float64)
    kwh = np.nan_to_num(np.asarray(daily_kwh, dtype=np.float64), nan=0.0)
    basis_a = label_days(nonhuman_days, human_days, "area")
    basis_e = label_days(nonhuman_days, human_days, "estimated")
    billed_metered = (basis_a == Basis.METERED) | (basis_a == Basis.INSPECTION)
    fault = basis_a == Basis.AREA
    metered_kwh = np.where(billed_metered, kwh, 0.0).sum(axis=1)
    fault_kwh_raw = np.where(fault, kwh, 0.0).sum(axis=1)

    dd = np.broadcast_to(degree_days(outdoor_daily_c, tariff.degree_day_base_c), kwh.shape)
    dd_fault = np.where(fault, dd, 0.0).sum(axis=1)
    if q_ref_kwh is None or dd_ref is None:
        ref_days = basis_a == Basis.METERED
        q_ref_kwh = np.where(ref_days, kwh, 0.0).sum(axis=1)
        dd_ref = np.where(ref_days, dd, 0.0).sum(axis=1)
    est_kwh = np.where(fault.any(axis=1), degree_day_estimate_kwh(q_ref_kwh, dd_ref, dd_fault),
                       0.0)

    basic = float(tariff.basic_cny_m2_season)
    price = float(tariff.energy_cny_kwh)
    area_price = float(tariff.area_cny_m2_season)
    n_billed = billed_metered.sum(axis=1)
    n_fault = fault.sum(axis=1)
    area_policy = (basic * area * n_billed / season_days + price * metered_kwh
                   + area_price * area * n_fault / season_days)
    est_policy = (basic * area * (n_billed + n_fault) / season_days
                  + price * (metered_kwh + est_kwh))
    return SeasonBills(area, season_days, tariff, basis_a, basis_e, metered_kwh, fault_kwh_raw,
                       est_kwh, area_policy, est_policy)


@dataclass(frozen=True, slots=True)
class DayLabel:
    """How one day of one account is billed, and why (dispute evidence)."""

    day: int
    basis: Basis
    reason: str


def day_labels(
    basis_row: Sequence[int] | npt.NDArray[np.int8],
    causes: Mapping[int, Sequence[Cause]] | None = None,
) -> list[DayLabel]:
    """Each day's basis with a reason a resident and customer service can read."""
    causes = causes or {}
    out: list[DayLabel] = []
    for d, b in enumerate(basis_row):
        basis = Basis(int(b))
        why = "; ".join(CAUSE_TEXT[c] for c in causes.get(d, ()))
        if basis == Basis.METERED:
            reason = "meter read normally" + (f" (note: {why})" if why else "")
        elif basis == Basis.AREA:
            reason = f"non-human meter fault, billed by area: {why or 'fault'}"
        elif basis == Basis.ESTIMATED:
            reason = f"non-human meter fault, degree-day estimate (CJJ/T 223): {why or 'fault'}"
        else:
            reason = f"human cause, billed as metered, sent to inspection (稽查): {why or 'human'}"
        out.append(DayLabel(d, basis, reason))
    return out
