"""`heatwatch dispute`: the evidence file for a meter-reading dispute (计量争议), from the raw
readings, the fault incidents and the season bill; Markdown for people, JSON for machines."""

from __future__ import annotations

import datetime as dt
import json
import math
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import numpy as np

from analyzer.billing import day_increments
from analyzer.grid import DAY_MS
from analyzer.meters import (
    settle_verification,
    verification_limit_parts,
    verification_limit_pct,
)
from analyzer.money import fen
from district.readings import COMM_FAULT_MEASUREMENT
from district.records import Account, Device
from heatwatch.commands.analyze import CommandError, season_bill, timezone, workflow_path
from heatwatch.config import Config
from storage.base import Frame
from workflow.details import MeterCommDetails, MeterFaultDetails
from workflow.incidents import Incident, IncidentStore

# (error_pct, dtheta_k, dtheta_min_k, qp_over_q) of a verification (校表)
VerificationArgs = tuple[float, float, float, float]

_FIELDS = ("energy_kwh", "volume_m3", "supply_c", "return_c", "flow_m3h")

BASIS_ZH = {"metered": "计量 metered", "area": "面积 area", "estimated": "估算 estimated",
            "inspection": "稽查 inspection"}

RULE_TEXT = (
    "校表规则 (verification rule): 校表前告知费用，由用户先行垫付。表计误差在 EN 1434 "
    "2 级限值内为合格：用户承担校表费，原账单不变 (passes: the resident pays the fee told "
    "beforehand and the bill stands)。超出限值为不合格：供热企业承担校表费，按误差重新核算热量 "
    "kWh ÷ (1 + 误差) 并重算账单 (fails: the company pays and the bill is recomputed)。"
    "2 级限值 = 流量 (2 + 0.02·qp/q) % (≤ 5 %) + 温度对 (0.5 + 3·Δθmin/Δθ) % + "
    "计算器 (0.5 + Δθmin/Δθ) %。"
)


# -- pure parts ------------------------------------------------------------------------------

def mask_phone(phone: str) -> str:
    """A phone number with its middle hidden (138****0001); never the whole number."""
    p = phone.strip()
    if not p:
        return ""
    if len(p) <= 7:
        return "*" * len(p)
    return p[:3] + "*" * (len(p) - 7) + p[-4:]


def _num(x: float, digits: int) -> float | None:
    return None if not np.isfinite(x) else round(float(x), digits)


def daily_readings(meter: Frame, comm: Frame, start_ms: int, n_days: int,
                   first_day: dt.date, tz: dt.tzinfo,
                   outdoor_c: np.ndarray[Any, np.dtype[np.float64]] | None = None
                   ) -> list[dict[str, Any]]:
    """One row per season day from the meter's raw readings (the store's per-device read).

    `meter` holds one meter's points oldest first, from one day before the season (its last
    total is the first day's previous reading); `comm` its daily failed-poll counts from the
    season start. First and last are the day's actual first and last readings, with times;
    the day's kWh and m³ are the billing's day increments of them.
    """
    ts = meter.ts_ms
    day = (ts - start_ms) // DAY_MS if len(meter) else np.zeros(0, dtype=np.int64)
    f = {k: meter.fields.get(k, np.full(len(meter), np.nan)) for k in _FIELDS}
    comm_n = np.zeros(n_days, dtype=np.int64)
    if len(comm):
        idx = (comm.ts_ms - start_ms) // DAY_MS
        ok = (idx >= 0) & (idx < n_days)
        comm_n[idx[ok]] = np.nan_to_num(comm.fields["cause_code"][ok]).astype(np.int64)
    # slices of each day's points; index 0 is the day before the season
    lo = np.searchsorted(day, np.arange(-1, n_days), side="left")
    hi = np.searchsorted(day, np.arange(-1, n_days), side="right")

    def ends(name: str) -> tuple[np.ndarray[Any, np.dtype[np.float64]],
                                 np.ndarray[Any, np.dtype[np.float64]]]:
        """(first, last) finite value of a field per day, NaN on a day without one."""
        first, last = np.full(n_days + 1, np.nan), np.full(n_days + 1, np.nan)
        for d in range(n_days + 1):
            x = f[name][lo[d]:hi[d]]
            x = x[np.isfinite(x)]
            if len(x):
                first[d], last[d] = x[0], x[-1]
        return first, last

    e_first, e_last = ends("energy_kwh")
    v_first, v_last = ends("volume_m3")
    # heat of the day: from the latest total before it, or within the day at first
    kwh = day_increments(e_first[None, 1:], e_last[None, 1:], e_last[:1])[0]
    m3 = day_increments(v_first[None, 1:], v_last[None, 1:], v_last[:1])[0]

    def clock(ms: int) -> str:
        return dt.datetime.fromtimestamp(ms / 1000, tz).strftime("%H:%M")

    def down(x: np.ndarray[Any, np.dtype[np.float64]], before: float) -> bool:
        x = x[np.isfinite(x)]
        return bool(len(x) and ((np.isfinite(before) and x[0] < before)
                                or bool((np.diff(x) < 0).any())))

    out: list[dict[str, Any]] = []
    prev_e, prev_v = e_last[0], v_last[0]
    for d in range(1, n_days + 1):
        a, b = lo[d], hi[d]
        n = int(b - a)
        went_down = bool(n and (down(f["energy_kwh"][a:b], prev_e)
                                or down(f["volume_m3"][a:b], prev_v)))
        with np.errstate(invalid="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # a day without the field
            sup = float(np.nanmean(f["supply_c"][a:b])) if n else np.nan
            ret = float(np.nanmean(f["return_c"][a:b])) if n else np.nan
            flow = float(np.nanmean(f["flow_m3h"][a:b])) if n else np.nan
        out.append({
            "date": (first_day + dt.timedelta(days=d - 1)).isoformat(),
            "readings": n, "missing": n == 0, "comm_faults": int(comm_n[d - 1]),
            "first_at": clock(int(ts[a])) if n else None,
            "last_at": clock(int(ts[b - 1])) if n else None,
            "first_energy_kwh": _num(e_first[d], 2), "last_energy_kwh": _num(e_last[d], 2),
            "first_volume_m3": _num(v_first[d], 3), "last_volume_m3": _num(v_last[d], 3),
            "kwh": _num(kwh[d - 1], 2) if n else None, "m3": _num(m3[d - 1], 3) if n else None,
            "mean_supply_c": _num(sup, 2), "mean_return_c": _num(ret, 2),
            "mean_flow_m3h": _num(flow, 3),
            "outdoor_mean_c": (None if outdoor_c is None else _num(float(outdoor_c[d - 1]), 1)),
            "total_went_down": went_down,
        })
        if n:
            prev_e = e_last[d] if np.isfinite(e_last[d]) else prev_e
            prev_v = v_last[d] if np.isfinite(v_last[d]) else prev_v
    return out


def billing_meaning(inc: Incident) -> str:
    """What a fault interval means for the bill, in the rule's words."""
    if inc.kind == "meter_comm":
        return ("通讯中断 (comm loss): 表内累计值不丢失，期间热量计入下一次读数，仍按计量计费 "
                "(metered, the heat is counted at the next reading)")
    if isinstance(inc.details, MeterFaultDetails) and inc.details.human:
        # DOMAIN: human causes (tamper, magnet, cover, seal) are not area-billed: inspection
        return ("人为原因 (human cause): 不按面积计费，按计量计费并转稽查 "
                "(billed as metered, sent to inspection 稽查)")
    # DOMAIN: a meter damaged by a non-human cause -> that period is billed by area
    return ("非人为损坏 (non-human): 故障日按面积计费 = 面积单价 × 面积 × 故障天数 ÷ 采暖天数 "
            "(billed by area for the fault days)")


def fault_rows(incidents: Sequence[Incident], tz: dt.tzinfo) -> list[dict[str, Any]]:
    """Fault and comm-loss intervals of the meter, oldest first, with cause and class."""
    def iso(ms: int) -> str:
        return dt.datetime.fromtimestamp(ms / 1000, tz).isoformat(timespec="minutes")

    out = []
    for i in sorted(incidents, key=lambda x: (x.started_ms, x.key)):
        d = i.details
        fault = d if isinstance(d, MeterFaultDetails) else MeterFaultDetails()
        end = i.closed_ms if i.closed_ms is not None else i.updated_ms
        cls = "comm" if i.kind == "meter_comm" else ("human" if fault.human else "non_human")
        out.append({
            "kind": i.kind, "subject": i.subject, "start": iso(i.started_ms),
            "end": None if i.closed_ms is None else iso(i.closed_ms),
            "ongoing": i.closed_ms is None,
            "hours": round((end - i.started_ms) / 3_600_000, 2),
            "cause": d.cause if isinstance(d, MeterFaultDetails | MeterCommDetails) else "",
            "causes": list(fault.causes), "text": fault.text, "class": cls,
            "billing": billing_meaning(i),
        })
    return out


def verification_doc(billed_kwh: Decimal, energy_cny_kwh: Decimal, error_pct: float | Decimal,
                     dtheta_k: float | Decimal, dtheta_min_k: float | Decimal,
                     qp_over_q: float | Decimal) -> dict[str, Any]:
    """The class-2 limit, pass or fail, who pays, and the energy to bill (worked example 7)."""
    def dec(x: float | Decimal) -> Decimal:
        return x if isinstance(x, Decimal) else Decimal(repr(float(x)))

    check_verification_args(error_pct, dtheta_k, dtheta_min_k, qp_over_q)
    if dec(dtheta_k) <= 0 or dec(dtheta_min_k) < 0 or dec(qp_over_q) <= 0:
        raise CommandError("verification needs --dtheta-k > 0, --dtheta-min-k >= 0 and "
                           "--qp-over-q > 0")
    if dec(error_pct) <= -100:
        raise CommandError("--error-pct must be above -100")
    limit = verification_limit_pct(dec(dtheta_k), dec(dtheta_min_k), dec(qp_over_q))
    v = settle_verification(billed_kwh, dec(error_pct), limit)
    parts = verification_limit_parts(dec(dtheta_k), dec(dtheta_min_k), dec(qp_over_q))
    return {
        "limit_parts_pct": {k: _plain(x.quantize(Decimal("0.01"))) for k, x in
                            zip(("flow", "temperature_pair", "calculator"), parts,
                                strict=True)},
        "error_pct": _plain(v.error_pct), "limit_pct": _plain(limit.quantize(Decimal("0.01"))),
        "dtheta_k": _plain(dec(dtheta_k)), "dtheta_min_k": _plain(dec(dtheta_min_k)),
        "qp_over_q": _plain(dec(qp_over_q)), "passes": v.passes, "payer": v.payer,
        "billed_kwh": _plain(v.billed_kwh), "corrected_kwh": _plain(v.corrected_kwh),
        "bill_stands": v.passes,
        "billed_energy_cny": str(fen(energy_cny_kwh * v.billed_kwh)),
        "corrected_energy_cny": str(fen(energy_cny_kwh * v.corrected_kwh)),
    }


def check_verification_args(error_pct: float | Decimal, dtheta_k: float | Decimal,
                            dtheta_min_k: float | Decimal, qp_over_q: float | Decimal) -> None:
    """Finite numbers, and a measured error within ±100 % (−100 % would divide by zero)."""
    for name, x in (("--error-pct", error_pct), ("--dtheta-k", dtheta_k),
                    ("--dtheta-min-k", dtheta_min_k), ("--qp-over-q", qp_over_q)):
        if not math.isfinite(float(x)):
            raise CommandError(f"{name} must be a finite number, got {x}")
    if not -100 < float(error_pct) <= 100:
        raise CommandError("--error-pct (the meter's measured error, in percent) must be "
                           f"above -100 and at most 100, got {error_pct}")


def _plain(x: Decimal) -> str:
    """A Decimal without trailing zeros or an exponent (4.40 -> 4.4, 3000 -> 3000)."""
    return format(x.normalize(), "f")


def _cell(x: Any) -> str:
    return "—" if x is None else str(x)


def _runs(days: list[dict[str, Any]], key: Callable[[dict[str, Any]], Any]
          ) -> list[list[dict[str, Any]]]:
    """Consecutive days with the same key, as groups."""
    out: list[list[dict[str, Any]]] = []
    for d in days:
        if out and key(out[-1][-1]) == key(d):
            out[-1].append(d)
        else:
            out.append([d])
    return out


def render_markdown(doc: dict[str, Any]) -> str:
    """The evidence file as Markdown (Chinese, with the English field names)."""
    h = doc["header"]
    b = doc["billing"]
    L: list[str] = []
    add = L.append
    add(f"# 计量争议证据 Meter-reading dispute evidence — {h['account_id']}, "
        f"{h['season']}–{h['season'] + 1} 采暖季")
    add("")
    add("## 1. 基本信息 Header")
    add("")
    add("| 项目 field | 内容 value |")
    add("| --- | --- |")
    for label, value in (
        ("户号 account_id", h["account_id"]),
        ("地址 address", f"{h['address']} {h['unit']}室 (building {h['building_id']}, "
                         f"unit {h['unit']})"),
        ("联系电话 phone (masked)", h["phone_masked"] or "—"),
        ("面积 area_m2", f"{h['area_m2']:g} m²"),
        ("计费方式 tariff", h["tariff"]),
        ("热量表 meter_id", h["meter_id"]),
        ("表型 profile", f"{h['meter_profile'] or '—'} ({h['meter_protocol']}"
                         + (f", gateway {h['meter_gateway']} unit {h['meter_unit']}"
                            if h["meter_gateway"] else "") + ")"),
        ("采暖季 season", f"{h['season_start']} — {h['season_end']} ({h['season_days']} 天)"),
        ("生成时间 generated_at", h["generated_at"]),
    ):
        add(f"| {label} | {value} |")
    add("")
    add("数据来源 data sources:")
    for s in doc["sources"]:
        add(f"- {s}")
    add("")

    add("## 2. 读数记录 Readings series (原始值，未修改 raw, never edited)")
    add("")
    add("每日首末累计值取自当日原始读数 (first/last cumulative reading of the day); kWh / m³ "
        "为当日末读数减上一次读数 (last reading minus the previous one)。")
    add("")
    add("| 日期 date | 首 energy_kwh | 末 energy_kwh | 首 volume_m3 | 末 volume_m3 "
        "| 当日 kWh | 当日 m³ | 平均供水 supply_c | 平均回水 return_c | 读数 readings "
        "| 通讯故障 comm_faults |")
    add("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for run in _runs(doc["readings"], lambda d: d["missing"] and not d["comm_faults"]):
        first = run[0]
        if first["missing"] and not first["comm_faults"]:
            span = first["date"] if len(run) == 1 else f"{first['date']} — {run[-1]['date']}"
            add(f"| {span} | 无读数 missing ({len(run)} 天) | | | | | | | | 0 | 0 |")
            continue
        for d in run:
            mark = " ⚠ 无读数 missing" if d["missing"] else ""
            mark += " ⚠ 累计值下降 total went down" if d["total_went_down"] else ""
            add(f"| {d['date']}{mark} | {_cell(d['first_energy_kwh'])} | "
                f"{_cell(d['last_energy_kwh'])} | {_cell(d['first_volume_m3'])} | "
                f"{_cell(d['last_volume_m3'])} | {_cell(d['kwh'])} | {_cell(d['m3'])} | "
                f"{_cell(d['mean_supply_c'])} | {_cell(d['mean_return_c'])} | "
                f"{d['readings']} | {d['comm_faults']} |")
    add("")
    missing = sum(1 for d in doc["readings"] if d["missing"])
    add(f"有读数 {len(doc['readings']) - missing} 天，无读数 {missing} 天 "
        f"(days with readings / missing)。")
    add("")

    add("## 3. 故障区间及原因 Fault intervals and causes")
    add("")
    if not doc["faults"]:
        add("本采暖季无故障记录 (no fault or comm-loss interval recorded for this meter).")
    else:
        add("| 开始 start | 结束 end | 时长 hours | 原因 cause | 类别 class "
            "| 对计费的影响 billing |")
        add("| --- | --- | ---: | --- | --- | --- |")
        for f in doc["faults"]:
            cause = f["text"] or f["cause"] or f["kind"]
            end = f["end"] or "持续中 ongoing"
            cls = {"human": "人为 human", "non_human": "非人为 non-human",
                   "comm": "通讯 comm"}[f["class"]]
            add(f"| {f['start']} | {end} | {f['hours']:g} | {cause} ({f['cause']}) | {cls} | "
                f"{f['billing']} |")
    add("")

    add("## 4. 每日计费依据 How each day was billed, and the bill both ways")
    add("")
    add("| 日期 date | 计费依据 basis | 表计 kWh (meter) | 原因 reason |")
    add("| --- | --- | ---: | --- |")
    for run in _runs(b["days"], lambda d: (d["basis"], d["reason"], d["has_reading"])):
        first = run[0]
        span = first["date"] if len(run) == 1 else (
            f"{first['date']} — {run[-1]['date']} ({len(run)} 天)")
        kwh = [d["kwh"] for d in run if d["kwh"] is not None]
        add(f"| {span} | {BASIS_ZH.get(first['basis'], first['basis'])} | "
            f"{round(sum(kwh), 2) if kwh else '—'} | {first['reason']} |")
    add("")
    a, e = b["area_policy"], b["estimated_policy"]
    add("| 项目 item | 按面积 area policy | 度日估算 degree-day estimate (CJJ/T 223) |")
    add("| --- | ---: | ---: |")
    for k in ("metered_days", "area_days", "estimated_days", "inspection_days", "kwh",
              "estimated_kwh", "basic_cny", "energy_cny", "area_cny", "estimated_energy_cny",
              "total_cny"):
        add(f"| {k} | {a[k]} | {e[k]} |")
    add("")
    p = b["prices"]
    add(f"价格 prices: 面积 {p['area_cny_m2_season']} 元/m²·季, 基本 "
        f"{p['basic_cny_m2_season']} 元/m²·季, 热量 {p['energy_cny_kwh']} 元/kWh。"
        f"两种算法差额 difference (estimated − area): **{b['difference_cny']} 元**。")
    add("")

    add("## 5. 校表 Verification")
    add("")
    v = doc["verification"]
    if v is None:
        add(RULE_TEXT)
        add("")
        add("本证据未包含校表结果 (no verification result given; run with --error-pct).")
    else:
        verdict = "合格 passes" if v["passes"] else "不合格 fails"
        payer = "用户 resident" if v["payer"] == "resident" else "供热企业 company"
        add(f"- 条件 conditions: Δθ = {v['dtheta_k']} K, Δθmin = {v['dtheta_min_k']} K, "
            f"qp/q = {v['qp_over_q']}")
        add(f"- 2 级限值 class-2 limit: ±{v['limit_pct']} %")
        add(f"- 实测误差 measured error: {v['error_pct']} % → **{verdict}**")
        add(f"- 校表费承担 who pays the verification: **{payer}**")
        if v["passes"]:
            add(f"- 账单不变 the bill stands: {v['billed_kwh']} kWh "
                f"({v['billed_energy_cny']} 元 热量费)")
        else:
            add(f"- 重新核算 corrected: {v['billed_kwh']} kWh ÷ (1 + {v['error_pct']} %) = "
                f"**{v['corrected_kwh']} kWh**; 热量费 energy fee {v['billed_energy_cny']} 元 → "
                f"{v['corrected_energy_cny']} 元")
        add("")
        add(RULE_TEXT)
    add("")

    add("## 6. 签字 Signatures")
    add("")
    add("双方确认以上读数、故障区间及计费依据 (both parties confirm the readings, fault "
        "intervals and billing above):")
    add("")
    add("| 签字 role | 姓名 signature | 日期 date |")
    add("| --- | --- | --- |")
    for s in doc["signatures"]:
        add(f"| {s['role']} | ____________________ | ____________ |")
    add("")
    return "\n".join(L)


# -- the edges: records, store, incident store ------------------------------------------------

def _store_source(cfg: Config) -> str:
    if cfg.store.backend == "influxdb":
        u = urlsplit(cfg.store.influxdb.url)
        # never credentials in an evidence file
        host = u.hostname or ""
        netloc = host + (f":{u.port}" if u.port else "")
        url = urlunsplit((u.scheme, netloc, u.path, "", ""))
        return (f"readings: InfluxDB {url} database {cfg.store.influxdb.database} "
                f"(measurements meter, {COMM_FAULT_MEASUREMENT}, weather)")
    path = cfg.data_path(cfg.store.sqlite.path, "readings.sqlite")
    return f"readings: SQLite {path} (measurements meter, {COMM_FAULT_MEASUREMENT}, weather)"


def _meter_incidents(cfg: Config, device: Device, start_ms: int, end_ms: int
                     ) -> tuple[list[Incident], bool]:
    """The meter's fault and comm-loss incidents (its gateway's too) overlapping the season."""
    path = workflow_path(cfg)
    if not path.exists():
        return [], False
    subjects = {device.device_id}
    if device.protocol == "modbus":
        subjects.add(f"gateway {device.host}:{device.port}")
    wf = IncidentStore(path)
    try:
        found = [i for kind in ("meter_fault", "meter_comm")
                 for i in wf.find(include_closed=True, kind=kind) if i.subject in subjects]
    finally:
        wf.close()
    out = []
    for i in found:
        end = i.closed_ms if i.closed_ms is not None else max(i.updated_ms, i.started_ms + 1)
        if i.started_ms < end_ms and end > start_ms:
            out.append(i)
    return out, True


def _header(account: Account, address: str, device: Device, bill: dict[str, Any],
            generated_at: str) -> dict[str, Any]:
    start = dt.date.fromisoformat(bill["season_start"])
    return {
        "account_id": account.account_id, "building_id": account.building_id,
        "address": address, "unit": account.unit, "area_m2": account.area_m2,
        "tariff": account.tariff, "phone_masked": mask_phone(account.phone),
        "meter_id": device.device_id, "meter_profile": device.profile,
        "meter_protocol": device.protocol,
        "meter_gateway": f"{device.host}:{device.port}" if device.protocol == "modbus" else "",
        "meter_unit": device.unit, "season": bill["season"],
        "season_start": start.isoformat(),
        "season_end": (start + dt.timedelta(days=bill["season_days"] - 1)).isoformat(),
        "season_days": bill["season_days"], "generated_at": generated_at,
    }


@dataclass(frozen=True, slots=True)
class Evidence:
    """The dispute as plain data (`doc`, what JSON and Markdown show), and the meter's raw
    readings over the season for the charts of the printed dossier."""

    doc: dict[str, Any]
    meter: Frame
    tz: dt.tzinfo


def collect_evidence(cfg: Config, account_id: str, season: int,
                     verification: VerificationArgs | None = None, *,
                     billed_kwh: float | None = None,
                     clock: Callable[[], float] = time.time) -> Evidence:
    """Everything a dispute needs for one account and season.

    `verification` is (error_pct, dtheta_k, dtheta_min_k, qp_over_q); `billed_kwh` is the
    energy in dispute (default: the season's metered kWh from the bill).
    """
    from heatwatch import bootstrap

    # season_bill checks the account, its meter and the season, with one-line errors
    bill = season_bill(cfg, account_id, season)
    tz = timezone(cfg)
    records = bootstrap.records(cfg)
    account = records.accounts[account_id]
    device = records.devices[bill["meter_id"]]
    building = records.buildings.get(account.building_id)
    start = dt.date.fromisoformat(bill["season_start"])
    n_days = int(bill["season_days"])
    start_ms = int(dt.datetime(start.year, start.month, start.day, tzinfo=tz).timestamp()
                   * 1000)
    end_ms = start_ms + n_days * DAY_MS
    offset_s = int(-(dt.datetime.fromtimestamp(start_ms / 1000, tz).utcoffset()
                     or dt.timedelta()).total_seconds()) % 86400

    opened = bootstrap.open_store(cfg, read_only=True)
    try:
        # the meter's own raw readings (the day before the season gives the previous total)
        meter = opened.store.read_device("meter", device.device_id, start_ms - DAY_MS, end_ms,
                                         list(_FIELDS))
        comm = opened.store.read_aggregate(
            COMM_FAULT_MEASUREMENT, start_ms, end_ms, 86400, ["cause_code"], "count",
            tags=("device_id",), offset_s=offset_s)
        wx = opened.store.read_aggregate("weather", start_ms, end_ms, 86400, ["outdoor_c"],
                                         "mean", tags=(), offset_s=offset_s)
    finally:
        opened.store.close()
    if len(comm):
        comm = Frame(comm.ts_ms[comm.device_id == device.device_id], {},
                     {"cause_code": comm.fields["cause_code"][comm.device_id == device.device_id]})
    outdoor = np.full(n_days, np.nan)
    if len(wx):
        idx = (wx.ts_ms - start_ms) // DAY_MS
        ok = (idx >= 0) & (idx < n_days)
        outdoor[idx[ok]] = wx.fields["outdoor_c"][ok]
    readings = daily_readings(meter, comm, start_ms, n_days, start, tz, outdoor)

    incidents, have_wf = _meter_incidents(cfg, device, start_ms, end_ms)
    ver = None
    if verification is not None:
        error_pct, dtheta_k, dtheta_min_k, qp_over_q = verification
        kwh = (Decimal(repr(float(billed_kwh))) if billed_kwh is not None
               else Decimal(bill["area_policy"]["kwh"]))
        ver = verification_doc(kwh, Decimal(bill["prices"]["energy_cny_kwh"]), error_pct,
                               dtheta_k, dtheta_min_k, qp_over_q)
    generated = dt.datetime.fromtimestamp(clock(), tz).isoformat(timespec="seconds")
    sources = [
        f"records: {cfg.records_path()} (accounts.csv, buildings.csv, devices.csv)",
        _store_source(cfg),
        (f"incidents: {workflow_path(cfg)} (meter_fault, meter_comm)" if have_wf
         else f"incidents: {workflow_path(cfg)} not found — no fault interval known"),
        "billing: heatwatch billing (same data; each day's basis and reason)",
    ]
    doc = {
        "header": _header(account, building.address if building else "", device, bill,
                          generated),
        "sources": sources,
        "readings": readings,
        "faults": fault_rows(incidents, tz),
        "billing": {k: bill[k] for k in ("prices", "area_policy", "estimated_policy",
                                         "difference_cny", "days_with_readings", "days")},
        "verification": ver,
        "verification_rule": RULE_TEXT,
        "signatures": [
            {"role": "测温员/客服 inspector / customer service", "name": None, "date": None},
            {"role": "用户 resident", "name": None, "date": None},
        ],
    }
    season_meter = meter
    if len(meter):
        keep = meter.ts_ms >= start_ms
        season_meter = Frame(meter.ts_ms[keep], {k: v[keep] for k, v in meter.tags.items()},
                             {k: v[keep] for k, v in meter.fields.items()})
    return Evidence(doc, season_meter, tz)


def dispute_evidence(cfg: Config, account_id: str, season: int,
                     verification: VerificationArgs | None = None, *,
                     billed_kwh: float | None = None,
                     clock: Callable[[], float] = time.time) -> dict[str, Any]:
    """Everything a dispute needs for one account and season, as plain data."""
    return collect_evidence(cfg, account_id, season, verification, billed_kwh=billed_kwh,
                            clock=clock).doc


# the printed dossier: evidence and format (html, pdf) in, the file's bytes out
# (documents.dossier.render unless a test passes another)
DocumentRenderer = Callable[[Evidence, str], bytes]
FORMATS = ("md", "json", "html", "pdf")


def dispute_command(cfg: Config, account_id: str, season: int, out: str | None, json_: bool,
                    error_pct: float | None, dtheta_k: float = 10.0, dtheta_min_k: float = 3.0,
                    qp_over_q: float = 10.0, billed_kwh: float | None = None,
                    say: Callable[[str], None] = print,
                    clock: Callable[[], float] = time.time, format_: str | None = None,
                    render: DocumentRenderer | None = None) -> int:
    """Write the evidence file (Markdown, JSON, HTML or PDF) to `out` or stdout."""
    fmt = format_ or ("json" if json_ else "md")
    if fmt not in FORMATS:
        raise CommandError(f"--format {fmt!r}: use one of {', '.join(FORMATS)}")
    if fmt == "pdf" and out is None:
        raise CommandError("--format pdf needs --out FILE.pdf")
    if billed_kwh is not None and error_pct is None:
        raise CommandError("--billed-kwh only applies with --error-pct (a verification)")
    if billed_kwh is not None and not (math.isfinite(billed_kwh) and billed_kwh >= 0):
        raise CommandError(f"--billed-kwh must be a finite number, not negative, got {billed_kwh}")
    if error_pct is not None:
        check_verification_args(error_pct, dtheta_k, dtheta_min_k, qp_over_q)
    ver = None if error_pct is None else (error_pct, dtheta_k, dtheta_min_k, qp_over_q)
    ev = collect_evidence(cfg, account_id, season, ver, billed_kwh=billed_kwh, clock=clock)
    if fmt in ("html", "pdf"):
        if render is None:
            # matplotlib and Chromium only for the printed formats
            from documents.dossier import render as printed
            render = printed
        data = render(ev, fmt)
    else:
        data = ((json.dumps(ev.doc, ensure_ascii=False, indent=2) if fmt == "json"
                 else render_markdown(ev.doc)) + "\n").encode("utf-8")
    if out is None:
        say(data.decode("utf-8").rstrip("\n"))
        return 0
    try:
        Path(out).write_bytes(data)
    except OSError as e:
        raise CommandError(f"cannot write {out}: {e.strerror or e}") from None
    say(f"dispute evidence for {account_id}, season {season}: {out}")
    return 0
