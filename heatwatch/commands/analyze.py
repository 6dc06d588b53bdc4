"""`heatwatch analyze | incidents | billing`: the analyzer's commands, wired to the configured
store, records and workflow; a user mistake raises CommandError with one line."""

from __future__ import annotations

import datetime as dt
import json
import logging
import signal
import threading
import time
import zoneinfo
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np

from analyzer.billing import (
    AccountBill,
    FaultSpan,
    bill_season,
    billing_days,
    day_labels,
    degree_days,
)
from analyzer.config import AnalyzerConfig
from analyzer.grid import DAY_MS
from analyzer.rules import Cause
from analyzer.runner import CycleResult, Runner, Watermarks
from heatwatch.config import Config
from storage.base import StoreError
from workflow.details import MeterFaultDetails, details_dict, parse_details
from workflow.incidents import Incident, IncidentStore

log = logging.getLogger("heatwatch.analyzer")


class CommandError(Exception):
    """A mistake the operator can fix (unknown account, bad season, bad config)."""


def analyzer_config(cfg: Config) -> AnalyzerConfig:
    """The `[analyzer]` section (load_config checked it)."""
    return cfg.analyzer


def timezone(cfg: Config) -> dt.tzinfo:
    try:
        return zoneinfo.ZoneInfo(cfg.site.timezone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise CommandError(f"[site] timezone {cfg.site.timezone!r} is not a known time zone"
                           ) from None


def workflow_path(cfg: Config) -> Path:
    return cfg.workflow_path()


def _iso(ms: int, tz: dt.tzinfo) -> str:
    return dt.datetime.fromtimestamp(ms / 1000, tz).isoformat(timespec="minutes")


# -- analyze ------------------------------------------------------------------------------------

def _report(res: CycleResult, tz: dt.tzinfo, say: Callable[[str], None]) -> None:
    ev = res.evaluation
    t = ev.timings_s
    counts: dict[str, int] = {}
    for e in res.events:
        counts[e.event] = counts.get(e.event, 0) + 1
    say(f"analyzed as of {_iso(ev.at_ms, tz)} (window from {_iso(ev.window_start_ms, tz)}): "
        f"{len(ev.incidents)} incidents found; "
        + (", ".join(f"{n} {k}" for k, n in sorted(counts.items())) or "no changes")
        + f"; read {t.get('read', 0):.2f} s, kernels {t.get('kernels', 0):.2f} s, "
          f"write {t.get('write', 0):.2f} s"
        + (f"; caught up {res.catch_up} missed windows" if res.catch_up else ""))


def analyze_command(cfg: Config, once: bool, at: float | None,
                    say: Callable[[str], None] = print, from_: float | None = None,
                    to: float | None = None) -> int:
    """One evaluation as of `at` (epoch s; default now), a back-fill over [from_, to], or a
    cycle every interval_s until SIGTERM."""
    from heatwatch import bootstrap

    ac = analyzer_config(cfg)
    tz = timezone(cfg)
    records = bootstrap.records(cfg)
    opened = bootstrap.open_store(cfg)
    path = workflow_path(cfg)
    workflow = IncidentStore(path)
    marks = Watermarks(path)
    store = opened.store
    runner = Runner(store, records, workflow, ac, tz, marks)
    try:
        if from_ is not None:
            end = time.time() if to is None else to
            if from_ >= end:
                raise CommandError("--from must be before --to")
            _report(runner.backfill(int(round(from_ * 1000)), int(round(end * 1000))), tz, say)
            return 0
        if once:
            at_ms = int(round((time.time() if at is None else at) * 1000))
            _report(runner.run_cycle(at_ms), tz, say)
            return 0
        stop = threading.Event()
        previous = {s: signal.signal(s, lambda *_: stop.set())
                    for s in (signal.SIGTERM, signal.SIGINT)}
        try:
            while not stop.is_set():
                try:
                    _report(runner.run_cycle(int(time.time() * 1000)), tz, log.info)
                except StoreError as e:
                    # the store may be back next cycle; the watermark makes up the gap
                    log.warning("analyzer cycle skipped: %s", e)
                stop.wait(ac.interval_s)
        finally:
            for s, h in previous.items():
                signal.signal(s, h)
        return 0
    finally:
        flush = getattr(opened.store, "flush", None)
        if callable(flush):
            flush()
        opened.store.close()
        marks.close()
        workflow.close()


# -- incidents ------------------------------------------------------------------------------------

def _summary(inc: Incident) -> str:
    d = details_dict(inc.details)
    keys = ("cause", "reason", "signs", "meters", "rate", "escalations_h", "lowest_trailing_mean_c",
            "hours")
    parts = [f"{k}={d[k]}" for k in keys if k in d and d[k] not in (None, [], "")]
    if inc.cause and inc.cause not in ("comm",):
        parts.insert(0, inc.cause)
    return " ".join(str(p) for p in parts)


def incident_rows(incidents: list[Incident], tz: dt.tzinfo) -> list[dict[str, Any]]:
    """Incidents as plain rows, for the table and for --json."""
    out = []
    for i in incidents:
        end = i.closed_ms if i.closed_ms is not None else i.updated_ms
        out.append({
            "key": i.key, "kind": i.kind, "subject": i.subject, "cause": i.cause,
            "started": _iso(i.started_ms, tz),
            "closed": None if i.closed_ms is None else _iso(i.closed_ms, tz),
            "duration_h": round((end - i.started_ms) / 3_600_000, 2),
            "status": "open" if i.is_open else "closed",
            "substation_id": i.substation_id, "building_id": i.building_id,
            "account_id": i.account_id, "details": details_dict(i.details),
        })
    return out


def incidents_command(cfg: Config, all_: bool, json_: bool,
                      say: Callable[[str], None] = print) -> int:
    """What is open (or everything with --all), as a table or JSON."""
    from heatwatch import bootstrap

    tz = timezone(cfg)
    store = IncidentStore(bootstrap.workflow_file(cfg))
    try:
        rows = incident_rows(store.find(include_closed=all_), tz)
    finally:
        store.close()
    if json_:
        say(json.dumps(rows, ensure_ascii=False, indent=2))
        return 0
    if not rows:
        say("no incidents" if all_ else "no open incidents")
        return 0
    say(f"{'kind':<18} {'subject':<24} {'started':<23} {'hours':>7}  {'status':<7} details")
    for r in rows:
        inc = Incident(r["key"], r["kind"], r["subject"], 0, cause=r["cause"],
                       details=parse_details(r["kind"], r["details"]))
        say(f"{r['kind']:<18} {r['subject']:<24} {r['started']:<23} {r['duration_h']:>7.2f}  "
            f"{r['status']:<7} {_summary(inc)}")
    return 0


# -- billing ---------------------------------------------------------------------------------------

def season_bill(cfg: Config, account_id: str, season: int) -> dict[str, Any]:
    """The season bill of one account both ways, and each day's basis and reason."""
    from heatwatch import bootstrap

    ac = analyzer_config(cfg)
    rules = ac.rules()
    tz = timezone(cfg)
    records = bootstrap.records(cfg)
    account = records.accounts.get(account_id)
    if account is None:
        raise CommandError(f"unknown account {account_id!r} (not in the records' accounts.csv)")
    meters = sorted(d.device_id for d in records.devices.values()
                    if d.kind == "meter" and d.account_id == account_id)
    if not meters:
        raise CommandError(f"account {account_id!r} has no heat meter in the records")
    if not 1970 <= season <= 9998:
        raise CommandError(f"--season {season} is not a year")
    meter = meters[0]
    first = rules.season.start(season)
    n_days = rules.season.days(season)
    start_ms = int(dt.datetime(first.year, first.month, first.day, tzinfo=tz).timestamp() * 1000)
    end_ms = start_ms + n_days * DAY_MS
    offset_s = int(-(dt.datetime.fromtimestamp(start_ms / 1000, tz).utcoffset()
                     or dt.timedelta()).total_seconds()) % 86400

    opened = bootstrap.open_store(cfg, read_only=True)
    store = opened.store
    try:
        # daily totals pushed down to the store: the day's lowest and highest cumulative reading
        fr = store.read_aggregate("meter", start_ms - DAY_MS, end_ms, 86400, ["energy_kwh"],
                                  ("min", "max"), tags=("device_id",), offset_s=offset_s)
        wx = store.read_aggregate("weather", start_ms, end_ms, 86400, ["outdoor_c"], "mean",
                                  tags=(), offset_s=offset_s)
    finally:
        opened.store.close()
    lo, hi = np.full(n_days + 1, np.nan), np.full(n_days + 1, np.nan)
    if len(fr):
        mine = fr.device_id == meter
        idx = (fr.ts_ms[mine] - (start_ms - DAY_MS)) // DAY_MS
        ok = (idx >= 0) & (idx <= n_days)
        lo[idx[ok]] = fr.fields["min_energy_kwh"][mine][ok]
        hi[idx[ok]] = fr.fields["max_energy_kwh"][mine][ok]
    outdoor = np.full(n_days, np.nan)
    if len(wx):
        idx = (wx.ts_ms - start_ms) // DAY_MS
        ok = (idx >= 0) & (idx < n_days)
        outdoor[idx[ok]] = wx.fields["outdoor_c"][ok]

    path = workflow_path(cfg)
    faults: list[Incident] = []
    if path.exists():
        wf = IncidentStore(path)
        try:
            faults = [i for i in wf.find(include_closed=True, kind="meter_fault")
                      if i.subject == meter]
        finally:
            wf.close()
    # the day before the season gives the first day's previous total
    bd = billing_days(lo[None, 1:], hi[None, 1:], hi[:1], [_fault_spans(faults)], start_ms)
    kwh, has, nonhuman, human = bd.kwh[0], bd.has_reading[0], bd.nonhuman[0], bd.human[0]
    causes = bd.causes[0]

    # a day without weather takes the season's mean outdoor temperature so far
    fill = float(np.nanmean(outdoor)) if np.isfinite(outdoor).any() else 18.0
    outdoor_filled = np.where(np.isnan(outdoor), fill, outdoor)
    dd = degree_days(outdoor_filled)
    ref = has & ~np.isnan(kwh) & ~nonhuman & ~human
    bills = bill_season(
        np.array([account.area_m2]), np.nan_to_num(kwh)[None, :], nonhuman[None, :],
        human[None, :], outdoor_filled, n_days, rules.tariff,
        # CJJ/T 223 reference: this season's normally metered days that have readings
        q_ref_kwh=np.array([float(np.where(ref, kwh, 0.0).sum())]),
        dd_ref=np.array([float(np.where(ref, dd, 0.0).sum())]))
    area_bill, est_bill = bills.bill(0, "area"), bills.bill(0, "estimated")
    labels = day_labels(bills.basis_area[0], causes)
    days = []
    for lab in labels:
        day = first + dt.timedelta(days=lab.day)
        reason = lab.reason
        if lab.basis.name == "METERED" and not has[lab.day]:
            # the cumulative total carries the day's heat into the next reading
            reason = "no reading this day; metered, its heat counted at the next reading"
        days.append({"date": day.isoformat(), "basis": lab.basis.name.lower(),
                     "reason": reason,
                     "kwh": None if np.isnan(kwh[lab.day]) else round(float(kwh[lab.day]), 2),
                     "has_reading": bool(has[lab.day])})
    return {
        "account_id": account_id, "meter_id": meter, "area_m2": account.area_m2,
        "tariff": account.tariff, "season": season, "season_start": first.isoformat(),
        "season_days": n_days,
        "prices": {"area_cny_m2_season": str(rules.tariff.area_cny_m2_season),
                   "basic_cny_m2_season": str(rules.tariff.basic_cny_m2_season),
                   "energy_cny_kwh": str(rules.tariff.energy_cny_kwh)},
        "area_policy": _bill_doc(area_bill), "estimated_policy": _bill_doc(est_bill),
        "difference_cny": str(est_bill.total_cny - area_bill.total_cny),
        "days_with_readings": int(has.sum()), "days": days,
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


def billing_command(cfg: Config, account_id: str, season: int, json_: bool,
                    say: Callable[[str], None] = print) -> int:
    """The season bill both ways, the difference, and each day's basis and reason."""
    doc = season_bill(cfg, account_id, season)
    bills = (doc["area_policy"], doc["estimated_policy"])
    if not doc["days_with_readings"] and not any(
            b["area_days"] or b["estimated_days"] or b["inspection_days"] for b in bills):
        # 121 metered days at 0 kWh would be a full bill for nothing measured
        last = dt.date.fromisoformat(doc["season_start"]) + dt.timedelta(
            days=doc["season_days"] - 1)
        raise CommandError(f"no readings for account {account_id!r} (meter {doc['meter_id']}) "
                           f"in season {season} ({doc['season_start']} to {last.isoformat()}), "
                           "and no meter fault that would bill it by area: nothing to bill")
    if json_:
        say(json.dumps(doc, ensure_ascii=False, indent=2))
        return 0
    a, e = doc["area_policy"], doc["estimated_policy"]
    say(f"account {doc['account_id']} (meter {doc['meter_id']}, {doc['area_m2']:g} m², "
        f"tariff {doc['tariff']}), season {doc['season_start']} + {doc['season_days']} days")
    say(f"  readings on {doc['days_with_readings']} days")
    say(f"  {'':<24}{'area policy':>14}{'estimated':>14}")
    for k in ("metered_days", "area_days", "estimated_days", "inspection_days", "kwh",
              "estimated_kwh", "basic_cny", "energy_cny", "area_cny", "estimated_energy_cny",
              "total_cny"):
        say(f"  {k:<24}{a[k]!s:>14}{e[k]!s:>14}")
    say(f"  difference (estimated − area): {doc['difference_cny']} 元")
    say("  days with readings or a fault:")
    for d in doc["days"]:
        if d["has_reading"] or d["basis"] != "metered":
            kwh = "" if d["kwh"] is None else f"{d['kwh']:.2f} kWh"
            say(f"    {d['date']}  {d['basis']:<10} {kwh:>12}  {d['reason']}")
    return 0
