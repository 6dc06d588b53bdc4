"""The dispute's evidence file as Markdown (Chinese, with the English field names): one
function per section, in the order of the printed dossier."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from documents.measurement import ROOM_ZH, VERDICT_ZH
from heatwatch.commands.dispute_verification import RULE_TEXT
from heatwatch.season_bill import BILL_KEYS

Doc = dict[str, Any]
Add = Callable[[str], None]

BASIS_ZH = {"metered": "计量 metered", "area": "面积 area", "estimated": "估算 estimated",
            "inspection": "稽查 inspection"}


def _cell(x: Any) -> str:
    return "—" if x is None else str(x)


def _runs(days: list[Doc], key: Callable[[Doc], Any]) -> list[list[Doc]]:
    """Consecutive days with the same key, as groups."""
    out: list[list[Doc]] = []
    for d in days:
        if out and key(out[-1][-1]) == key(d):
            out[-1].append(d)
        else:
            out.append([d])
    return out


def _header(doc: Doc, add: Add) -> None:
    h = doc["header"]
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
        ("表型 profile", f"{h['meter_profile'] or '—'} ({h['meter_protocol']})"),
        ("采暖季 season", f"{h['season_start']} — {h['season_end']} ({h['season_days']} 天)"),
        ("生成时间 generated_at", h["generated_at"]),
    ):
        add(f"| {label} | {value} |")
    add("")
    add("数据来源 data sources:")
    for s in doc["sources"]:
        add(f"- {s}")
    add("")


def _readings(doc: Doc, add: Add) -> None:
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
            add(_reading_row(d))
    add("")
    missing = sum(1 for d in doc["readings"] if d["missing"])
    add(f"有读数 {len(doc['readings']) - missing} 天，无读数 {missing} 天 "
        f"(days with readings / missing)。")
    add("")


def _reading_row(d: Doc) -> str:
    mark = " ⚠ 无读数 missing" if d["missing"] else ""
    mark += " ⚠ 累计值下降 total went down" if d["total_went_down"] else ""
    if d.get("out_of_range_h"):
        mark += f" ⚠ 超出额定范围 out of rated range {d['out_of_range_h']:g} h"
    return (f"| {d['date']}{mark} | {_cell(d['first_energy_kwh'])} | "
            f"{_cell(d['last_energy_kwh'])} | {_cell(d['first_volume_m3'])} | "
            f"{_cell(d['last_volume_m3'])} | {_cell(d['kwh'])} | {_cell(d['m3'])} | "
            f"{_cell(d['mean_supply_c'])} | {_cell(d['mean_return_c'])} | "
            f"{d['readings']} | {d['comm_faults']} |")


def _faults(doc: Doc, add: Add) -> None:
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
    _out_of_range(doc, add)


def _out_of_range(doc: Doc, add: Add) -> None:
    """Days with intervals outside the meter's rated range: a reason, not a fault."""
    days = [d for d in doc["readings"] if d.get("out_of_range_h")]
    if not days:
        return
    add("超出额定范围 Out of the meter's rated range (Δθ < Δθmin 或流量不在 qi..qs 之间; "
        "EN 1434): 这些时段不判定计量误差，不属于表计故障 (no mismatch verdict on these "
        "intervals; not a meter fault):")
    add("")
    for d in days:
        add(f"- {d['date']}: {d['out_of_range_h']:g} h")
    add("")


def _billing(doc: Doc, add: Add) -> None:
    b = doc["billing"]
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
    for k in BILL_KEYS:
        add(f"| {k} | {a[k]} | {e[k]} |")
    add("")
    p = b["prices"]
    add(f"价格 prices: 面积 {p['area_cny_m2_season']} 元/m²·季, 基本 "
        f"{p['basic_cny_m2_season']} 元/m²·季, 热量 {p['energy_cny_kwh']} 元/kWh。"
        f"两种算法差额 difference (estimated − area): **{b['difference_cny']} 元**。")
    add("")


def _verification(doc: Doc, add: Add) -> None:
    add("## 5. 校表 Verification")
    add("")
    v = doc["verification"]
    if v is None:
        add(RULE_TEXT)
        add("")
        add("本证据未包含校表结果 (no verification result given; run with --error-pct).")
        add("")
        return
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




def _temperature(doc: Doc, add: Add) -> None:
    """The measurement records, the room sensors' daily means beside them, the settlement."""
    t = doc["temperature"]
    add("## 6. 室温与入户测温 Room temperature and measurement visits")
    add("")
    sensors = [s["device_id"] for s in t["sensors"]]
    names = {s["device_id"]: ROOM_ZH.get(s["room_type"], s["room_type"]) for s in t["sensors"]}
    if t["records"]:  # none: the settlement below says so
        add("| 记录 record | 测温时间 measured | 读数 readings °C | 结论 verdict "
            + "".join(f"| 传感器当日均温 {d} " for d in sensors) + "| 哈希 hash |")
        add("| --- | --- | --- | --- " + "| ---: " * len(sensors) + "| --- |")
        for r in t["records"]:
            rooms = ", ".join(f"{ROOM_ZH.get(k, k)} {c:.1f}" for k, c in r["readings"])
            marks = (["不在测温时段 outside window"] if r["outside_window"] else []) + (
                [f"已被 {r['corrected_by']} 更正 corrected"] if r["corrected_by"] else []) + (
                [f"更正 {r['corrects']}"] if r["corrects"] else [])
            add(f"| {r['record_id']} | {r['measured']} | {rooms} | "
                f"{VERDICT_ZH.get(r['verdict'], r['verdict'])}"
                f"{' (' + '; '.join(marks) + ')' if marks else ''} "
                + "".join(f"| {_cell(r['sensor_c'].get(d))} " for d in sensors)
                + f"| {r['hash']} |")
        add("")
    if sensors:
        add("室温传感器日均温 Room sensors' daily means (°C):")
        add("")
        add("| 日期 date | 室外 outdoor " + "".join(f"| {names[d]} {d} " for d in sensors)
            + "| 测温 visit |")
        add("| --- | ---: " + "| ---: " * len(sensors) + "| --- |")
        for row in t["series"]:
            visits = " ".join(r["record_id"] for r in t["records"]
                              if r["measured"][:10] == row["date"])
            add(f"| {row['date']} | {_cell(row['outdoor_mean_c'])} "
                + "".join(f"| {_cell(row['rooms'][d])}{' ⚠' if d in row['cold'] else ''} "
                          for d in sensors) + f"| {visits} |")
        if not t["series"]:
            add("| 本采暖季无传感器读数 no sensor reading | " + "| " * len(sensors) + "| |")
        add("")
    s = t["settlement"]
    add(f"室温结论 settlement: **{s['text']}**")
    for x in s["refunds"]:
        add(f"- {x['from']} — {x['to'] or '待复测 open'}: {x['days']} 天 at "
            f"{x['reading_c']:.1f} °C → {x['refund_cny']} 元 (basis {', '.join(x['basis'])})")
    add("")


def _signatures(doc: Doc, add: Add) -> None:
    add("## 7. 签字 Signatures")
    add("")
    add("双方确认以上读数、故障区间、计费依据及室温结论 (both parties confirm the readings, "
        "fault intervals, billing and the temperature settlement above):")
    add("")
    add("| 签字 role | 姓名 signature | 日期 date |")
    add("| --- | --- | --- |")
    for s in doc["signatures"]:
        add(f"| {s['role']} | ____________________ | ____________ |")
    add("")


def render_markdown(doc: Doc) -> str:
    """The evidence file as Markdown (Chinese, with the English field names)."""
    lines: list[str] = []
    for section in (_header, _readings, _faults, _billing, _verification, _temperature,
                    _signatures):
        section(doc, lines.append)
    return "\n".join(lines)
