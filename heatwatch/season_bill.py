"""One account's season bill both ways (area vs degree-day estimate) from the store's daily
meter totals and the meter's fault incidents, each day's basis and why: what `heatwatch
billing` prints and the dispute dossier shows."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import numpy as np

from analyzer.billing import (
    AccountBill,
    BillingDays,
    FaultSpan,
    SeasonBills,
    bill_season,
    billing_days,
    day_labels,
    degree_days,
)
from analyzer.grid import DAY_MS
from district.records import Account, Records
from heatwatch.common import CommandError, analyzer_config, timezone
from heatwatch.config import Config
from policy.rules import Cause, CityRules
from policy.season import SeasonDays as SeasonDays  # dispute reads a bill's season
from policy.season import season_days as city_season_days
from storage.base import Frame, Store
from workflow.details import MeterFaultDetails
from workflow.incidents import Incident

FloatArray = np.ndarray[Any, np.dtype[np.float64]]

BILL_KEYS = ("metered_days", "area_days", "estimated_days", "inspection_days", "kwh",
             "estimated_kwh", "basic_cny", "energy_cny", "area_cny", "estimated_energy_cny",
             "total_cny")


def season_days(first: dt.date, n_days: int, tz: dt.tzinfo) -> SeasonDays:
    """A stored season (a bill's first day and length) on the site's clock."""
    return SeasonDays.from_first(first, n_days, tz)


def daily_outdoor(wx: Frame, season: SeasonDays) -> FloatArray:
    """The daily mean outdoor temperature per season day (NaN on a day without weather)."""
    outdoor = np.full(season.n_days, np.nan)
    if len(wx):
        idx = (wx.ts_ms - season.start_ms) // DAY_MS
        ok = (idx >= 0) & (idx < season.n_days)
        outdoor[idx[ok]] = wx.fields["outdoor_c"][ok]
    return outdoor


def _account_meter(records: Records, account_id: str, season: int) -> tuple[Account, str]:
    """The account and its (first) heat meter, or the operator's one-line mistake."""
    account = records.accounts.get(account_id)
    if account is None:
        raise CommandError(f"unknown account {account_id!r} (not in the records' accounts.csv)")
    meters = sorted(d.device_id for d in records.devices.values()
                    if d.kind == "meter" and d.account_id == account_id)
    if not meters:
        raise CommandError(f"account {account_id!r} has no heat meter in the records")
    if not 1970 <= season <= 9998:
        raise CommandError(f"--season {season} is not a year")
    return account, meters[0]


def _daily_totals(store: Store, meter: str, season: SeasonDays
                  ) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Each day's lowest and highest total, from the day before the season; daily weather."""
    # daily totals pushed down to the store: the day's lowest and highest cumulative reading
    fr = store.read_aggregate("meter", season.start_ms - DAY_MS, season.end_ms, 86400,
                              ["energy_kwh"], ("min", "max"), tags=("device_id",),
                              offset_s=season.offset_s)
    wx = store.read_aggregate("weather", season.start_ms, season.end_ms, 86400, ["outdoor_c"],
                              "mean", tags=(), offset_s=season.offset_s)
    n_days = season.n_days
    lo, hi = np.full(n_days + 1, np.nan), np.full(n_days + 1, np.nan)
    if len(fr):
        mine = fr.device_id == meter
        idx = (fr.ts_ms[mine] - (season.start_ms - DAY_MS)) // DAY_MS
        ok = (idx >= 0) & (idx <= n_days)
        lo[idx[ok]] = fr.fields["min_energy_kwh"][mine][ok]
        hi[idx[ok]] = fr.fields["max_energy_kwh"][mine][ok]
    return lo, hi, daily_outdoor(wx, season)


def _meter_faults(cfg: Config, meter: str) -> list[Incident]:
    from heatwatch import bootstrap

    if not bootstrap.workflow_exists(cfg):
        return []
    wf = bootstrap.incident_store(cfg)
    try:
        return [i for i in wf.find(include_closed=True, kind="meter_fault") if i.subject == meter]
    finally:
        wf.close()


def _bills(area_m2: float, bd: BillingDays, outdoor: FloatArray, n_days: int,
           rules: CityRules) -> SeasonBills:
    """The season both ways; the estimate takes this season's normal days as reference."""
    kwh, has, nonhuman, human = bd.kwh[0], bd.has_reading[0], bd.nonhuman[0], bd.human[0]
    # a day without weather takes the season's mean outdoor temperature so far
    # (no weather at all: no degree-days, the base itself)
    base = rules.tariff.degree_day_base_c
    fill = float(np.nanmean(outdoor)) if np.isfinite(outdoor).any() else base
    outdoor_filled = np.where(np.isnan(outdoor), fill, outdoor)
    dd = degree_days(outdoor_filled, base)
    ref = has & ~np.isnan(kwh) & ~nonhuman & ~human
    return bill_season(
        np.array([area_m2]), np.nan_to_num(kwh)[None, :], nonhuman[None, :],
        human[None, :], outdoor_filled, n_days, rules.tariff,
        # CJJ/T 223 reference: this season's normally metered days that have readings
        q_ref_kwh=np.array([float(np.where(ref, kwh, 0.0).sum())]),
        dd_ref=np.array([float(np.where(ref, dd, 0.0).sum())]))


def _day_rows(bills: SeasonBills, bd: BillingDays, first: dt.date) -> list[dict[str, Any]]:
    """Each season day's basis, reason and metered kWh."""
    kwh, has = bd.kwh[0], bd.has_reading[0]
    days = []
    for lab in day_labels(bills.basis_area[0], bd.causes[0]):
        day = first + dt.timedelta(days=lab.day)
        reason = lab.reason
        if lab.basis.name == "METERED" and not has[lab.day]:
            # the cumulative total carries the day's heat into the next reading
            reason = "no reading this day; metered, its heat counted at the next reading"
        days.append({"date": day.isoformat(), "basis": lab.basis.name.lower(),
                     "reason": reason,
                     "kwh": None if np.isnan(kwh[lab.day]) else round(float(kwh[lab.day]), 2),
                     "has_reading": bool(has[lab.day])})
    return days


def season_bill(cfg: Config, account_id: str, season: int) -> dict[str, Any]:
    """The season bill of one account both ways, and each day's basis and reason."""
    from heatwatch import bootstrap

    rules = analyzer_config(cfg).rules()
    tz = timezone(cfg)
    account, meter = _account_meter(bootstrap.records(cfg), account_id, season)
    days = city_season_days(rules.season, season, tz)
    opened = bootstrap.open_store(cfg, read_only=True)
    try:
        lo, hi, outdoor = _daily_totals(opened.store, meter, days)
    finally:
        opened.store.close()
    # the day before the season gives the first day's previous total
    bd = billing_days(lo[None, 1:], hi[None, 1:], hi[:1],
                      [_fault_spans(_meter_faults(cfg, meter))], days.start_ms)
    bills = _bills(account.area_m2, bd, outdoor, days.n_days, rules)
    area_bill, est_bill = bills.bill(0, "area"), bills.bill(0, "estimated")
    return {
        "account_id": account_id, "meter_id": meter, "area_m2": account.area_m2,
        "tariff": account.tariff, "season": season, "season_start": days.first.isoformat(),
        "season_days": days.n_days,
        "prices": {"area_cny_m2_season": str(rules.tariff.area_cny_m2_season),
                   "basic_cny_m2_season": str(rules.tariff.basic_cny_m2_season),
                   "energy_cny_kwh": str(rules.tariff.energy_cny_kwh)},
        "area_policy": _bill_doc(area_bill), "estimated_policy": _bill_doc(est_bill),
        "difference_cny": str(est_bill.total_cny - area_bill.total_cny),
        "days_with_readings": int(bd.has_reading[0].sum()),
        "days": _day_rows(bills, bd, days.first),
    }


def _fault_spans(incidents: list[Incident]) -> list[FaultSpan]:
    """A meter's fault incidents as the bill sees them."""
    out = []
    for inc in incidents:
        det = inc.details
        if not isinstance(det, MeterFaultDetails):
            continue
        names = det.causes or [det.cause]
        causes = tuple(c for c in (Cause.__members__.get(str(n).upper()) for n in names)
                       if c is not None)
        end = inc.closed_ms if inc.closed_ms is not None else inc.updated_ms
        out.append(FaultSpan(inc.started_ms, end, det.human, causes))
    return out


def _bill_doc(b: AccountBill) -> dict[str, Any]:
    return {k: (str(v) if isinstance(v, Decimal) else v) for k, v in (
        ("metered_days", b.metered_days), ("area_days", b.area_days),
        ("estimated_days", b.estimated_days), ("inspection_days", b.inspection_days),
        ("kwh", b.kwh.quantize(Decimal("0.01"))),
        ("estimated_kwh", b.estimated_kwh.quantize(Decimal("0.01"))),
        ("basic_cny", b.basic_cny), ("energy_cny", b.energy_cny), ("area_cny", b.area_cny),
        ("estimated_energy_cny", b.estimated_energy_cny), ("total_cny", b.total_cny))}
