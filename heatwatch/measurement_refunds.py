"""Under-temperature refunds from measurement visits (issue 22): a household's effective records
(a corrected record gives way to its correction) judged by the city's rules, each failing visit
refunding the days to the next visit by its band, with the records as the basis."""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any

import numpy as np
import numpy.typing as npt

from desk.measured import record_state as record_state
from district.records import Records
from heatwatch.outage_days import outage_day_mask, outage_refunds
from heatwatch.room_days import account_daily_means, meter_heated_days
from policy.calls import CallLimits
from policy.measurements import (
    RefundPeriod,
    Visit,
    lowest_counted,
    meter_recovery,
    period_refund_cny,
    refund_periods,
    until_recovery,
)
from policy.rooms import RoomState
from policy.rules import CityRules
from policy.season import SeasonDays
from storage.base import Store
from workflow.measurements import Record
from workflow.unit import Repositories

FloatGrid = npt.NDArray[np.float64]


def effective(records: list[Record], corrected: dict[str, str]) -> list[Record]:
    """The records that stand: those no later record corrects."""
    return [r for r in records if r.record_id not in corrected]


def local_day(ms: int, tz: dt.tzinfo) -> dt.date:
    return dt.datetime.fromtimestamp(ms / 1000, tz).date()


def visit_of(r: Record, city: CityRules, tz: dt.tzinfo) -> Visit:
    low = lowest_counted([(str(k), float(c)) for k, c in r.readings])
    return Visit(r.record_id, local_day(r.measured_ms, tz), float("nan") if low is None else low,
                 record_state(r, city))


@dataclass(frozen=True, slots=True)
class MeasuredRefund:
    """One refund period of a household, its days and amount, on the records' basis."""

    account_id: str
    period: RefundPeriod
    refund_cny: Decimal
    outage_days: int = 0  # of its days, those an outage's compensation pays (not refunded)

    def as_dict(self) -> dict[str, Any]:
        p = self.period
        return {"account_id": self.account_id, "from": p.start.isoformat(),
                "to": p.end.isoformat() if p.end else None, "days": p.days,
                "reading_c": p.lowest_c, "refund_cny": str(self.refund_cny),
                "basis": list(p.basis), "ended_by": p.ended_by or None,
                "outage_days": self.outage_days}


def measured_refunds(repos: Repositories, account_id: str, area_m2: float, season_year: int,
                     city: CityRules, tz: dt.tzinfo, recovered: Sequence[dt.date] = (),
                     paid: Collection[dt.date] = (),
                     heated: Mapping[dt.date, bool] | None = None) -> list[MeasuredRefund]:
    """The household's refund periods in the season that starts in `season_year`: visits
    inside the season, periods clipped at its end, excluded and uncounted visits skipped. A
    period ends at the re-measurement, on the first `recovered` day (the room sensors show
    the flat heated) or when its meter delivers heat again (`heated`, per day), whichever
    comes first; its `paid` days (an outage's compensation) are not refunded twice.
    `heatwatch refunds` and `measurements refund` both call this."""
    start, end = city.season.start(season_year), city.season.end(season_year)
    records = effective(repos.measurements.find(account_id), repos.measurements.corrected())
    visits = [v for v in (visit_of(r, city, tz) for r in records)
              if start <= v.day <= end and v.state in (RoomState.COLD, RoomState.PASS)]
    out = []
    for p in _periods(visits, end, recovered, heated or {}):
        twice = sum(1 for d in paid if p.end is not None and p.start <= d < p.end)
        out.append(MeasuredRefund(account_id, p, period_refund_cny(
            area_m2, p, city.season.days(season_year), city, twice), twice))
    return out


def _periods(visits: list[Visit], season_end: dt.date, recovered: Sequence[dt.date],
             heated: Mapping[dt.date, bool]) -> list[RefundPeriod]:
    last = season_end + dt.timedelta(days=1)
    out = []
    for p in refund_periods(visits):
        p = until_recovery(until_recovery(p, recovered, "sensor"),
                           meter_recovery(p.start, heated), "meter")
        out.append(replace(p, end=min(p.end, last)) if p.end is not None else p)
    return out


def recovered_days(daily_mean_c: FloatGrid | None, season: SeasonDays, city: CityRules
                   ) -> list[dt.date]:
    """The season days a household's room sensors show it heated (their counted daily mean at
    or above the standard, on days that count): a measured failure ends on the first."""
    if daily_mean_c is None:
        return []
    with np.errstate(invalid="ignore"):
        warm = np.flatnonzero(np.asarray(daily_mean_c) >= city.rooms.min_c)
    return [season.first + dt.timedelta(days=int(d)) for d in warm]


def season_measured(repos: Repositories, records: Records, city: CityRules, season: SeasonDays,
                    means: Mapping[str, FloatGrid], paid: Mapping[str, npt.NDArray[np.bool_]],
                    heated: Mapping[str, Mapping[dt.date, bool]],
                    only: Sequence[str] | None = None) -> dict[str, list[MeasuredRefund]]:
    """Every measured household's refund periods of the season (those with any; `only` these
    accounts when given), each ended by its sensors' recovery (`means`, `recovered_days`) or
    its meter's (`heated`), and not paying its `paid` outage days."""
    out: dict[str, list[MeasuredRefund]] = {}
    ids = only if only is not None else {r.account_id for r in repos.measurements.find()}
    for aid in sorted(ids):
        acc = records.accounts.get(aid)
        if acc is None:
            continue  # an account since removed from the records: not ours to pay
        mask = paid.get(aid)
        paid_days = [] if mask is None else [season.first + dt.timedelta(days=int(d))
                                             for d in np.flatnonzero(mask)]
        got = measured_refunds(repos, aid, acc.area_m2, season.year, city, season.tz,
                               recovered_days(means.get(aid), season, city), paid_days,
                               heated.get(aid))
        if got:
            out[aid] = got
    return out


def period_day_mask(periods: Sequence[MeasuredRefund], season: SeasonDays
                    ) -> npt.NDArray[np.bool_]:
    """The season days the measured periods pay (the sensors' band refund skips them)."""
    mask = np.zeros(season.n_days, dtype=bool)
    for m in periods:
        p = m.period
        if p.end is not None:
            mask[max((p.start - season.first).days, 0):max((p.end - season.first).days, 0)] = True
    return mask


def account_measured(repos: Repositories, records: Records, store: Store | None,
                     city: CityRules, season: SeasonDays, limits: CallLimits, account_id: str
                     ) -> list[MeasuredRefund]:
    """One household's measured periods as `heatwatch refunds` lists them: ended by its
    sensors' or meter's recovery (read from `store`, when there is one) and not paying its
    outage days."""
    acc = records.accounts.get(account_id)
    if acc is None:
        return []
    means = {} if store is None else account_daily_means(store, records, city, season)
    heated = {} if store is None else meter_heated_days(store, records, season, limits)
    outages = outage_refunds(repos.compensation.find(), records, city, season, season.tz)
    paid = {aid: outage_day_mask(o, season) for aid, o in outages.items()}
    return season_measured(repos, records, city, season, means, paid, heated, [account_id]).get(
        account_id, [])
