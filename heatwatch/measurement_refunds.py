"""Under-temperature refunds from measurement visits (issue 22): a household's effective records
(a corrected record gives way to its correction) judged by the city's rules, each failing visit
refunding the days to the next visit by its band, with the records as the basis."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from policy.measurements import (
    RefundPeriod,
    Visit,
    lowest_counted,
    period_refund_cny,
    refund_periods,
    verdict,
)
from policy.rooms import RoomState
from policy.rules import CityRules
from workflow.measurements import Record
from workflow.unit import Repositories


def effective(records: list[Record], corrected: dict[str, str]) -> list[Record]:
    """The records that stand: those no later record corrects."""
    return [r for r in records if r.record_id not in corrected]


def local_day(ms: int, tz: dt.tzinfo) -> dt.date:
    return dt.datetime.fromtimestamp(ms / 1000, tz).date()


def record_state(r: Record, city: CityRules) -> RoomState:
    """What a record decides (policy.measurements.verdict); no outdoor mean: not judged."""
    if r.outdoor_mean_c is None or r.design_c is None:
        return RoomState.EXCLUDED
    return verdict([(str(k), float(c)) for k, c in r.readings], r.outdoor_mean_c, r.design_c,
                   city.rooms)


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

    def as_dict(self) -> dict[str, Any]:
        p = self.period
        return {"account_id": self.account_id, "from": p.start.isoformat(),
                "to": p.end.isoformat() if p.end else None, "days": p.days,
                "reading_c": p.lowest_c, "refund_cny": str(self.refund_cny),
                "basis": list(p.basis)}


def measured_refunds(repos: Repositories, account_id: str, area_m2: float, season_year: int,
                     city: CityRules, tz: dt.tzinfo) -> list[MeasuredRefund]:
    """The household's refund periods in the season that starts in `season_year`: visits
    inside the season, periods clipped at its end, excluded and uncounted visits skipped."""
    start, end = city.season.start(season_year), city.season.end(season_year)
    records = effective(repos.measurements.find(account_id), repos.measurements.corrected())
    visits = [v for v in (visit_of(r, city, tz) for r in records)
              if start <= v.day <= end and v.state in (RoomState.COLD, RoomState.PASS)]
    out = []
    for p in _periods(visits, end):
        out.append(MeasuredRefund(account_id, p, period_refund_cny(
            area_m2, p, city.season.days(season_year), city)))
    return out


def _periods(visits: list[Visit], season_end: dt.date) -> list[RefundPeriod]:
    last = season_end + dt.timedelta(days=1)
    return [RefundPeriod(p.start, min(p.end, last), p.lowest_c, p.basis)
            if p.end is not None else p for p in refund_periods(visits)]
