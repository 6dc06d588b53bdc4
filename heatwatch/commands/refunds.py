"""`heatwatch refunds`: what each household is owed for the season, for finance: outage
compensation (from the compensation records, by the analyzer's arithmetic) and
under-temperature refunds by band (docs/rules.md worked examples 1 and 3), with totals."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import time
from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import Any

import numpy as np
import numpy.typing as npt

from district.records import Account, Building, Records
from heatwatch.common import (
    CommandError,
    analyzer_config,
    output_path,
    timezone,
    write_output,
)
from heatwatch.config import Config
from heatwatch.measurement_refunds import MeasuredRefund, period_day_mask, season_measured
from heatwatch.outage_days import outage_day_mask, outage_refunds
from heatwatch.room_days import account_daily_means, meter_heated_days
from policy.money import daily_fee_cny, fen
from policy.outages import season_fee_cny
from policy.rooms import band_label, refund_share, under_temperature_refunds_cny
from policy.rules import CityRules
from policy.season import SeasonDays, season_days
from workflow.unit import WorkflowDb

FloatGrid = npt.NDArray[np.float64]


def season_of(rules: CityRules, year: int, tz: dt.tzinfo) -> SeasonDays:
    """The season `--season YEAR` names, by the city's season (policy.season)."""
    if not 1970 <= year <= 9998:
        raise CommandError(f"--season {year} is not a year")
    return season_days(rules.season, year, tz)


# -- under-temperature: refunded by band ----------------------------------------------------

def band_refund(area_m2: float, daily_mean_c: FloatGrid, rules: CityRules, season: SeasonDays
                ) -> dict[str, Any]:
    """The days in each band below the minimum, and the refund (worked example 3)."""
    refund = rules.refund
    share = refund_share(daily_mean_c[None, :], rules.rooms, refund)[0]
    below = rules.rooms.min_c - daily_mean_c
    bands = []
    lo = 0.0
    for b in refund.bands:
        with np.errstate(invalid="ignore"):
            in_band = (below > lo) & (below <= b.max_below_k) & (share > 0)
        days = np.flatnonzero(in_band)
        if len(days):
            bands.append({"band": band_label(lo, b.max_below_k),
                          "share_pct": round(b.share * 100, 2), "days": len(days),
                          "dates": [season.date(int(d)) for d in days]})
        lo = b.max_below_k
    (amount,) = under_temperature_refunds_cny(np.array([area_m2]), daily_mean_c[None, :],
                                              season.n_days, rules)
    return {"days": int(np.count_nonzero(share > 0)), "bands": bands, "amount_cny": str(amount)}


# -- the list ------------------------------------------------------------------------------------

def _compensation_rows(cfg: Config) -> list[dict[str, Any]]:
    """The workflow's compensation records (none without a workflow database)."""
    path = cfg.workflow_path()
    if not path.exists():
        return []
    wf = WorkflowDb(path)
    try:
        return wf.compensation.find()
    finally:
        wf.close()


def _measured(cfg: Config, records: Records, rules: CityRules, season: SeasonDays,
              means: dict[str, FloatGrid], outages: dict[str, list[dict[str, Any]]],
              heated: dict[str, dict[dt.date, bool]]) -> dict[str, list[MeasuredRefund]]:
    """The measurement visits' refund periods (issue 22; none without a workflow database);
    outage days are the outage compensation's."""
    path = cfg.workflow_path()
    if not path.exists():
        return {}
    wf = WorkflowDb(path)
    try:
        paid = {aid: outage_day_mask(o, season) for aid, o in outages.items()}
        return season_measured(wf, records, rules, season, means, paid, heated)
    finally:
        wf.close()


def _account_row(acc: Account, b: Building, mine: list[dict[str, Any]],
                 means: FloatGrid | None, rules: CityRules, season: SeasonDays,
                 measured: list[MeasuredRefund]) -> dict[str, Any] | None:
    """What one household is owed (None when nothing): outages, under-temperature bands from
    its sensors, and the periods its measurement records decide."""
    under = None
    if means is not None:
        # outage days are paid by the outage compensation, measured days by the measurement
        skip = outage_day_mask(mine, season) | period_day_mask(measured, season)
        under = band_refund(acc.area_m2, np.where(skip, np.nan, means), rules, season)
    outage_cny = sum((Decimal(o["amount_cny"]) for o in mine), Decimal("0.00"))
    measured_cny = sum((m.refund_cny for m in measured), Decimal("0.00"))
    under_cny = (Decimal(under["amount_cny"]) if under else Decimal("0.00")) + measured_cny
    if outage_cny + under_cny <= 0 and not measured:
        return None
    return {
        "account_id": acc.account_id, "substation_id": b.substation_id,
        "building_id": b.building_id, "address": b.address, "unit": acc.unit,
        "area_m2": acc.area_m2, "tariff": acc.tariff,
        "daily_fee_cny": str(fen(daily_fee_cny(season_fee_cny(acc.area_m2, rules),
                                               season.n_days))),
        "outages": mine, "outage_days": sum(o["days"] for o in mine),
        "outage_cny": str(outage_cny),
        "under_temperature": under or {"days": 0, "bands": [], "amount_cny": "0.00"},
        "measured": [m.as_dict() for m in measured], "measured_cny": str(measured_cny),
        "under_temperature_cny": str(under_cny),
        "total_cny": str(outage_cny + under_cny),
    }


def season_refunds(cfg: Config, year: int, now_ms: int) -> dict[str, Any]:
    """Every account owed anything this season, what for, and the totals, as plain data."""
    from heatwatch import bootstrap

    rules = analyzer_config(cfg).rules()
    tz = timezone(cfg)
    season = season_of(rules, year, tz)
    records = bootstrap.records(cfg)
    outages = outage_refunds(_compensation_rows(cfg), records, rules, season, tz)
    opened = bootstrap.open_store(cfg, read_only=True)  # a report never creates a store
    try:
        means = account_daily_means(opened.store, records, rules, season)
        heated = meter_heated_days(opened.store, records, season, cfg.desk.limits)
    finally:
        opened.store.close()
    measured = _measured(cfg, records, rules, season, means, outages, heated)
    accounts = []
    for aid in sorted(set(outages) | set(means) | set(measured)):
        acc = records.accounts.get(aid)
        if acc is None:
            continue
        row = _account_row(acc, records.buildings[acc.building_id], outages.get(aid, []),
                           means.get(aid), rules, season, measured.get(aid, []))
        if row is not None:
            accounts.append(row)
    final = now_ms >= season.end_ms and all(o["closed"] for a in accounts for o in a["outages"])
    return {
        "season": year, "season_start": season.first.isoformat(),
        "season_end": season.date(season.n_days - 1), "season_days": season.n_days,
        "as_of": dt.datetime.fromtimestamp(now_ms / 1000, tz).isoformat(timespec="seconds"),
        # issue 20: a season with no readings and no outage is not one where nobody is owed
        "status": ("no_data" if not outages and not measured and not any(
                       bool(np.isfinite(m).any()) for m in means.values())
                   else "final" if final else "running"),
        "accounts": accounts,
        "totals": totals(accounts, records),
    }


def totals(accounts: Sequence[dict[str, Any]], records: Records) -> dict[str, Any]:
    """Sums by substation and for the company; each line adds up to its parts."""
    zero = Decimal("0.00")
    by_sub: dict[str, dict[str, Any]] = {}
    company: dict[str, Any] = {"accounts": 0, "outage_cny": zero, "under_temperature_cny": zero,
               "total_cny": zero}
    for a in accounts:
        s = by_sub.setdefault(a["substation_id"], {
            "substation_id": a["substation_id"],
            "name": records.substations[a["substation_id"]].name, "accounts": 0,
            "outage_cny": zero, "under_temperature_cny": zero, "total_cny": zero})
        for t in (s, company):
            t["accounts"] += 1
            for k in ("outage_cny", "under_temperature_cny", "total_cny"):
                t[k] += Decimal(a[k])

    def plain(d: dict[str, Any]) -> dict[str, Any]:
        return {k: str(v) if isinstance(v, Decimal) else v for k, v in d.items()}

    return {"by_substation": [plain(by_sub[k]) for k in sorted(by_sub)],
            "company": plain(company)}


# -- output -------------------------------------------------------------------------------------

CSV_COLUMNS = (
    ("account_id", "户号 account"), ("substation_id", "换热站 substation"),
    ("building_id", "楼栋 building"), ("address", "地址 address"), ("unit", "房号 unit"),
    ("area_m2", "面积 area_m2"), ("tariff", "计费方式 tariff"),
    ("daily_fee_cny", "日热费 daily_fee_cny"), ("outage_count", "停暖次数 outages"),
    ("outage_days", "停暖天数 outage_days"), ("outage_cny", "停暖退费 outage_cny"),
    ("under_temperature_days", "低温天数 under_temperature_days"),
    ("under_temperature_bands", "低温档位 bands"),
    ("under_temperature_cny", "低温退费 under_temperature_cny"),
    ("total_cny", "合计 total_cny"), ("status", "状态 status"),
)


def _bands_text(under: dict[str, Any], measured: Sequence[dict[str, Any]] = ()) -> str:
    """The sensors' bands, then each measured period with its records as the basis."""
    return "; ".join([f"{b['band']} {b['share_pct']:g}% × {b['days']} 天" for b in under["bands"]]
                     + [f"测温 {m['reading_c']:.1f}℃ {m['from']}..{m['to'] or '未复测'} "
                        f"{m['days']} 天 {m['refund_cny']} 元 (依据 {', '.join(m['basis'])})"
                        for m in measured])


def to_csv(doc: dict[str, Any]) -> str:
    """One row per account, then the substation and company totals; UTF-8 with BOM when
    written, so a spreadsheet opens the Chinese correctly."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\r\n")
    w.writerow([label for _, label in CSV_COLUMNS])
    for a in doc["accounts"]:
        u = a["under_temperature"]
        w.writerow([a["account_id"], a["substation_id"], a["building_id"], a["address"],
                    a["unit"], f"{a['area_m2']:g}", a["tariff"], a["daily_fee_cny"],
                    len(a["outages"]), a["outage_days"], a["outage_cny"],
                    u["days"] + sum(m["days"] for m in a["measured"]),
                    _bands_text(u, a["measured"]), a["under_temperature_cny"], a["total_cny"],
                    doc["status"]])
    for s in doc["totals"]["by_substation"]:
        w.writerow([f"小计 {s['substation_id']}", s["substation_id"], "", s["name"], "", "", "",
                    "", "", "", s["outage_cny"], "", "", s["under_temperature_cny"],
                    s["total_cny"], doc["status"]])
    c = doc["totals"]["company"]
    w.writerow(["合计 company", "", "", "", "", "", "", "", "", "", c["outage_cny"], "", "",
                c["under_temperature_cny"], c["total_cny"], doc["status"]])
    return buf.getvalue()


def to_table(doc: dict[str, Any]) -> list[str]:
    status = {"final": "最终 final (the season has ended)",
              "no_data": "无数据 no data (no readings and no outage in this season)"}.get(
        doc["status"], "进行中 running (the season or an outage is not over; amounts may grow)")
    lines = [f"refunds, season {doc['season']} ({doc['season_start']} — {doc['season_end']}, "
             f"{doc['season_days']} days), as of {doc['as_of']}: {status}"]
    if not doc["accounts"]:
        if doc["status"] != "no_data":
            lines.append("no household is owed a refund")
        return lines
    lines.append(f"{'account':<12}{'station':<8}{'area':>7}  {'outage d':>8}{'outage 元':>11}  "
                 f"{'cold d':>6}{'cold 元':>10}{'total 元':>11}  bands")
    for a in doc["accounts"]:
        u = a["under_temperature"]
        lines.append(f"{a['account_id']:<12}{a['substation_id']:<8}{a['area_m2']:>7g}  "
                     f"{a['outage_days']:>8}{a['outage_cny']:>11}  "
                     f"{u['days'] + sum(m['days'] for m in a['measured']):>6}"
                     f"{a['under_temperature_cny']:>10}{a['total_cny']:>11}  "
                     f"{_bands_text(u, a['measured'])}")
    lines.append("totals by substation:")
    for s in doc["totals"]["by_substation"]:
        lines.append(f"  {s['substation_id']:<6} {s['name']:<10} {s['accounts']:>5} households  "
                     f"outage {s['outage_cny']:>10}  cold {s['under_temperature_cny']:>10}  "
                     f"total {s['total_cny']:>10} 元")
    c = doc["totals"]["company"]
    lines.append(f"company: {c['accounts']} households, outage {c['outage_cny']} 元, "
                 f"under-temperature {c['under_temperature_cny']} 元, total {c['total_cny']} 元")
    return lines


def refunds_command(cfg: Config, season: int, csv_path: str | None, json_: bool,
                    say: Callable[[str], None] = print,
                    clock: Callable[[], float] = time.time, force: bool = False) -> int:
    """`heatwatch refunds --season YYYY [--csv FILE [--force]] [--json]`."""
    target = None if csv_path is None else output_path(csv_path, force, "--csv")
    doc = season_refunds(cfg, season, int(clock() * 1000))
    if target is not None:
        write_output(target, to_csv(doc).encode("utf-8-sig"))
    if json_:
        say(json.dumps(doc, ensure_ascii=False, indent=2))
    else:
        for line in to_table(doc):
            say(line)
        if csv_path is not None:
            say(f"CSV (UTF-8 with BOM): {csv_path}")
    return 0
