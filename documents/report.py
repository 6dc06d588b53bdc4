"""The printed morning report (日报): one or two A4 pages in Chinese from a `DailyReport`,
with the compliance bar chart; HTML, or PDF by headless Chromium."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from documents import browser, charts, pages
from documents.daily import DailyReport, Span
from policy.causes import cause_text

KIND_ZH = {"outage": "换热站停热", "building_outage": "楼栋停热", "leak": "漏水"}
CLASS_ZH = {"human": "人为（稽查）", "non_human": "非人为（按面积计费）"}


def compliance_chart(rep: DailyReport) -> str:
    """Bars of each substation's rate against the 97 % line; a cold day says so."""
    rows = rep.compliance
    if not rows:
        return charts.empty_chart("当日无室温合格率数据 (no compliance data for the day)")
    with charts._rc():  # noqa: SLF001 - the charts' own style, so CJK labels render
        fig = charts.figure(2.3)
        ax = fig.add_subplot()
        x = list(range(len(rows)))
        values = [0.0 if s.rate is None else s.rate * 100 for s in rows]
        colors = ["#bbbbbb" if s.rate is None else ("#4c78a8" if s.meets else "#e45756")
                  for s in rows]
        low = min([v for v, s in zip(values, rows, strict=True) if s.rate is not None],
                  default=100.0)
        bottom = max(0.0, min(low, rep.compliance_target * 100) - 8)
        ax.bar(x, values, color=colors, width=0.6)
        ax.axhline(rep.compliance_target * 100, color="#333333", ls="--", lw=0.9,
                   label=f"目标 {rep.compliance_target * 100:g} %")
        for i, s in enumerate(rows):
            label = f"{s.rate * 100:.1f} %" if s.rate is not None else (
                "低于设计温度，不计" if s.cold_day_excluded else
                "停热，不计" if s.excluded else "无数据")
            ax.text(i, (values[i] if s.rate is not None else bottom) + 0.6, label, ha="center",
                    va="bottom", fontsize=7)
        ax.set_xticks(x, [f"{s.substation_id} {s.name}" if s.name != s.substation_id
                          else s.substation_id for s in rows])
        ax.set_ylim(bottom, 104)
        ax.set_ylabel("室温合格率 %")
        ax.legend(loc="upper right")
        return charts.to_svg(fig)


def _t(ms: int | None, tz: dt.tzinfo) -> str:
    if ms is None:
        return "—"
    return dt.datetime.fromtimestamp(ms / 1000, tz).strftime("%m-%d %H:%M")


def _span_row(s: Span, tz: dt.tzinfo) -> dict[str, Any]:
    return {"kind": KIND_ZH.get(s.kind, s.kind), "subject": s.subject,
            "started": _t(s.started_ms, tz), "closed": _t(s.closed_ms, tz),
            "status": "进行中" if s.running else "已恢复", "hours": f"{s.hours:.1f}",
            "marks": "、".join(f"{m:g} h" for m in s.marks_h) or "—",
            "orders": "、".join(s.order_ids) or "—", "text": s.text}


def render_html(rep: DailyReport, generated_at: dt.datetime, company: str = "") -> str:
    """The report as one HTML page (inline SVG, inline CSS: it can be mailed as it is)."""
    faults = [{"cls": CLASS_ZH.get(k, k), "n": n} for k, n in sorted(rep.meter_faults.items())]
    causes = [{"cause": cause_text(k), "n": n}
              for k, n in sorted(rep.meter_fault_causes.items())]
    kpi = rep.kpi
    return pages.render(
        "report.html", rep=rep, day=rep.day.isoformat(), company=company,
        generated=generated_at.strftime("%Y-%m-%d %H:%M"), as_of=_t(rep.as_of_ms, rep.tz),
        chart=compliance_chart(rep), target_pct=f"{rep.compliance_target * 100:g}",
        kpi_target_pct=f"{rep.kpi_target * 100:g}",
        outages=[_span_row(s, rep.tz) for s in rep.outages],
        leaks=[_span_row(s, rep.tz) for s in rep.leaks],
        faults=faults, causes=causes, kpi=kpi, by_crew={t.group: t for t in rep.kpi_by_crew},
        running=sum(1 for s in rep.outages if s.running),
        ended=sum(1 for s in rep.outages if not s.running),
        totals={"opened": sum(c.opened for c in rep.crews),
                "closed": sum(c.closed for c in rep.crews),
                "late": sum(c.late for c in rep.crews)})


def write(rep: DailyReport, out: Path, fmt: str, generated_at: dt.datetime,
          company: str = "") -> Path:
    """Write the report as html or pdf; the path written."""
    html = render_html(rep, generated_at, company)
    if fmt == "pdf":
        browser.print_pdf(html, out)
    else:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(html, encoding="utf-8")
    return out

