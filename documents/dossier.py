"""The printed dispute dossier (计量争议证据): the evidence `heatwatch dispute` gathers, as an
A4 page with charts, the day table, both bills, the 校表 verdict and signature blocks."""

from __future__ import annotations

import datetime as dt
import tempfile
from decimal import Decimal
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from documents import browser, charts, pages
from documents.measurement import ROOM_ZH, VERDICT_ZH
from policy.causes import cause_text, num
from policy.rules import DEFAULT_METERS
from storage.base import Frame


class Evidence(Protocol):
    """What the dossier renders: the dispute as plain data, the meter's raw readings over
    the season, and the site's time zone (heatwatch dispute gathers them)."""

    @property
    def doc(self) -> dict[str, Any]: ...

    @property
    def meter(self) -> Frame: ...

    @property
    def tz(self) -> dt.tzinfo: ...


BASIS = {
    "metered": charts.Category("计量 metered", "#4c78a8"),
    "area": charts.Category("面积 area", "#f58518"),
    "estimated": charts.Category("估算 estimated", "#54a24b"),
    "inspection": charts.Category("稽查 inspection", "#e45756"),
}
CLASS_ZH = {"human": "人为 human", "non_human": "非人为 non-human", "comm": "通讯 comm"}
# docs/rules.md: meter temperatures outside 2–150 °C are a fault sign (the policy's range)
LIMIT_LOW_C = DEFAULT_METERS.valid_min_c
LIMIT_HIGH_C = DEFAULT_METERS.valid_max_c


def _local(iso: str, tz: dt.tzinfo) -> dt.datetime:
    """An ISO time as naive local time (what the chart axis shows)."""
    return dt.datetime.fromisoformat(iso).astimezone(tz).replace(tzinfo=None)


def _causes_zh(fault: dict[str, Any]) -> str:
    names = fault.get("causes") or [fault.get("cause", "")]
    return "、".join(cause_text(str(n)) for n in names if n) or cause_text(fault["kind"])


def _day_reason(day: dict[str, Any], causes: list[str]) -> str:
    """Why the day was billed as it was, in Chinese (the English basis term alongside)."""
    why = "、".join(causes)
    if day["basis"] == "area":
        return "非人为故障，按面积计费" + (f"：{why}" if why else "")
    if day["basis"] == "estimated":
        return "非人为故障，按度日估算 (CJJ/T 223)" + (f"：{why}" if why else "")
    if day["basis"] == "inspection":
        return "人为原因，按计量计费并转稽查" + (f"：{why}" if why else "")
    if not day["has_reading"]:
        return "当日无读数，热量计入下一次读数，仍按计量"
    return "正常计量" + (f"（另有：{why}）" if why else "")


def _out_of_range(reading: dict[str, Any]) -> str:
    """A day's hours outside the meter's rated range (issue 25): a reason, not a fault."""
    h = reading.get("out_of_range_h")
    return f"；超出额定范围 {h:g} 小时（不判定计量误差，非表计故障）" if h else ""


def _spans(doc: dict[str, Any], tz: dt.tzinfo, season_end: dt.datetime
           ) -> list[charts.Span]:
    out = []
    colors = {"human": "#e45756", "non_human": "#f58518", "comm": "#9467bd"}
    for f in doc["faults"]:
        start = _local(f["start"], tz)
        end = _local(f["end"], tz) if f["end"] else season_end
        out.append(charts.Span(start, end, f"故障 {_causes_zh(f)}", colors[f["class"]]))
    return out


def _window(doc: dict[str, Any], days: list[dt.date]) -> tuple[int, int]:
    """The day range the charts show: days with readings, a non-metered basis or a fault,
    with a day either side (a two-day record is not drawn on a 121-day axis)."""
    busy = [i for i, (r, b) in enumerate(zip(doc["readings"], doc["billing"]["days"],
                                             strict=True))
            if not r["missing"] or r["comm_faults"] or b["basis"] != "metered"]
    for f in doc["faults"]:
        d = dt.date.fromisoformat(f["start"][:10])
        if days[0] <= d <= days[-1]:
            busy.append((d - days[0]).days)
    if not busy:
        return 0, len(days)
    return max(min(busy) - 1, 0), min(max(busy) + 2, len(days))


def chart_svgs(ev: Evidence) -> dict[str, str]:
    """The dossier's three charts as inline SVG (or a note that the season has no data)."""
    doc, tz = ev.doc, ev.tz
    days = [dt.date.fromisoformat(r["date"]) for r in doc["readings"]]
    if not days or all(r["missing"] for r in doc["readings"]):
        empty = charts.empty_chart("本采暖季无读数 (no readings this season)")
        return {"kwh": empty, "temperature": empty, "flow": empty}
    a, b = _window(doc, days)
    start = dt.datetime.combine(days[a], dt.time())
    end = dt.datetime.combine(days[b - 1], dt.time()) + dt.timedelta(days=1)
    season_end = dt.datetime.combine(days[-1], dt.time()) + dt.timedelta(days=1)
    spans = _spans(doc, tz, season_end)
    bill_days = doc["billing"]["days"][a:b]
    outdoor = np.array([np.nan if r["outdoor_mean_c"] is None else r["outdoor_mean_c"]
                        for r in doc["readings"][a:b]], dtype=np.float64)
    noon = [dt.datetime.combine(d, dt.time(12)) for d in days[a:b]]
    second = (charts.Series("室外日均温 outdoor daily mean (°C)", noon, outdoor, "#333333")
              if np.isfinite(outdoor).any() else None)
    # the heat the meter measured each day (last reading − the previous one)
    kwh = charts.daily_bars(days[a:b], [r["kwh"] for r in doc["readings"][a:b]],
                            [d["basis"] for d in bill_days], BASIS, "日热量 kWh/天",
                            spans=spans, second=second, second_ylabel="室外 °C")
    m = ev.meter
    times = [dt.datetime.fromtimestamp(int(t) / 1000, tz).replace(tzinfo=None) for t in m.ts_ms]

    def field(name: str) -> np.ndarray[Any, np.dtype[np.float64]]:
        return m.fields.get(name, np.full(len(m), np.nan))

    temperature = charts.time_series(
        [charts.Series("供水 supply_c", times, field("supply_c"), "#d62728"),
         charts.Series("回水 return_c", times, field("return_c"), "#1f77b4")],
        "温度 °C",
        limits=[charts.Line(LIMIT_LOW_C, f"下限 {num(LIMIT_LOW_C)} °C"),
                charts.Line(LIMIT_HIGH_C, f"上限 {num(LIMIT_HIGH_C)} °C", "#b22222")],
        spans=spans, start=start, end=end)
    flow = charts.time_series(
        [charts.Series("流量 flow_m3h", times, field("flow_m3h"), "#2ca02c")], "流量 m³/h",
        spans=spans, start=start, end=end, height_in=2.0)
    return {"kwh": kwh, "temperature": temperature, "flow": flow}


def day_rows(doc: dict[str, Any]) -> list[dict[str, Any]]:
    """The day table: one row per day with readings or a non-metered basis; a run of days
    without anything is one row."""
    faults = doc["faults"]

    def causes_on(date: str) -> list[str]:
        out = []
        for f in faults:
            last = (f["end"] or "9999")[:10]
            if f["start"][:10] <= date <= last and f["class"] != "comm":
                c = _causes_zh(f)
                if c not in out:
                    out.append(c)
        return out

    rows: list[dict[str, Any]] = []
    for r, b in zip(doc["readings"], doc["billing"]["days"], strict=True):
        quiet = r["missing"] and not r["comm_faults"] and b["basis"] == "metered"
        prev = rows[-1] if rows else None
        if quiet and prev is not None and prev["quiet"]:
            prev["to"] = r["date"]
            prev["n"] += 1
            continue
        rows.append({**r, "basis": b["basis"], "basis_text": BASIS[b["basis"]].label,
                     "color": BASIS[b["basis"]].color,
                     "reason": _day_reason(b, causes_on(r["date"])) + _out_of_range(r),
                     "quiet": quiet,
                     "to": r["date"], "n": 1})
    return rows


def bill_rows(doc: dict[str, Any]) -> list[tuple[str, str, str, bool]]:
    """Both bills side by side: (item, area policy, estimate, is money)."""
    a, e = doc["billing"]["area_policy"], doc["billing"]["estimated_policy"]
    items = (
        ("metered_days", "计量天数 metered days", False),
        ("area_days", "按面积天数 area days", False),
        ("estimated_days", "估算天数 estimated days", False),
        ("inspection_days", "稽查天数 inspection days", False),
        ("kwh", "计量热量 metered kWh", False),
        ("estimated_kwh", "估算热量 estimated kWh", False),
        ("basic_cny", "基本热费 basic fee (元)", True),
        ("energy_cny", "计量热费 energy fee (元)", True),
        ("area_cny", "面积热费 area fee (元)", True),
        ("estimated_energy_cny", "估算热费 estimated energy fee (元)", True),
        ("total_cny", "合计 total (元)", True),
    )
    return [(label, str(a[k]), str(e[k]), money) for k, label, money in items]


def render_html(ev: Evidence) -> str:
    """The dossier as one self-contained HTML page (charts inline, no external files)."""
    doc = ev.doc
    v = doc["verification"]
    return pages.render(
        "dispute.html", doc=doc, h=doc["header"], charts=chart_svgs(ev), days=day_rows(doc),
        bills=bill_rows(doc), basis=BASIS, v=v, class_zh=CLASS_ZH, causes_zh=_causes_zh,
        t=doc["temperature"], room_zh=ROOM_ZH, verdict_zh=VERDICT_ZH,
        no_readings=all(r["missing"] for r in doc["readings"]),
        error_signed=(None if v is None else _signed(v["error_pct"])), when=_when,
        one_plus=(None if v is None else
                  ("1 − " + v["error_pct"].lstrip("-") if v["error_pct"].startswith("-")
                   else "1 + " + v["error_pct"])))


def _signed(x: str) -> str:
    d = Decimal(x)
    return f"+{x}" if d > 0 else x


def _when(iso: str | None) -> str:
    """2024-12-02T04:00+08:00 -> 2024-12-02 04:00 (the offset is the site's)."""
    return "" if not iso else iso[:16].replace("T", " ")


def render(ev: Evidence, fmt: str) -> bytes:
    """`heatwatch dispute --format html|pdf`: the file's bytes."""
    html = render_html(ev)
    if fmt == "html":
        return html.encode("utf-8")
    with tempfile.TemporaryDirectory(prefix="heatwatch-dossier-") as tmp:
        out = Path(tmp) / "dossier.pdf"
        browser.print_pdf(html, out)
        return out.read_bytes()
