"""A picture of a dashboard drawn from its panels' real query results, laid out on Grafana's
24-column grid: no Grafana server can run here, so a test looks at what each panel would show
(stat: the last value; table: the rows; time series: the lines) in this PNG instead."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from documents.charts import cjk_font  # noqa: E402

Series = list[dict[str, Any]]  # InfluxDB's JSON: name, tags, columns, values
ROW_IN, COL_IN = 0.42, 0.75  # a grid row's height and a column's width, inches


def _label(s: dict[str, Any], column: str) -> str:
    tags = " ".join(str(v) for v in (s.get("tags") or {}).values())
    return f"{tags} {column}".strip()


def _stat(ax: Any, series: Series) -> None:
    last = [row[1] for s in series for row in s["values"] if row[1] is not None]
    ax.axis("off")
    ax.text(0.5, 0.4, f"{last[-1]:g}" if last else "—", ha="center", va="center",
            fontsize=22, weight="bold", transform=ax.transAxes)


def _table(ax: Any, series: Series) -> None:
    ax.axis("off")
    if not series:
        return
    tag_names = list((series[0].get("tags") or {}).keys())
    cols = tag_names + series[0]["columns"][1:]
    rows = [[*(s.get("tags") or {}).values(),
             *(f"{v:.3g}" if isinstance(v, float) else v for v in s["values"][-1][1:])]
            for s in series][:12]
    t = ax.table(cellText=rows, colLabels=cols, loc="upper center", cellLoc="right")
    t.auto_set_font_size(False)
    t.set_fontsize(7)


def _lines(ax: Any, series: Series) -> None:
    for s in series:
        for i, column in enumerate(s["columns"][1:], start=1):
            pts = [(dt.datetime.fromtimestamp(r[0] / 1000, dt.UTC), r[i]) for r in s["values"]
                   if r[i] is not None]
            if pts:
                ax.plot([p[0] for p in pts], [p[1] for p in pts], label=_label(s, column),
                        linewidth=1, marker="o", markersize=3)
    ax.legend(fontsize=6, loc="upper left")
    ax.tick_params(labelsize=6)
    ax.grid(alpha=0.3)


def render(dash: dict[str, Any], results: dict[str, Series], png: Path) -> None:
    """Draw every panel of `dash` at its grid position from `results` (panel title → series)."""
    font = cjk_font()
    rows = max(p["gridPos"]["y"] + p["gridPos"]["h"] for p in dash["panels"])
    with plt.rc_context({"font.sans-serif": ([font] if font else []) + ["DejaVu Sans"],
                         "axes.unicode_minus": False}):
        fig = Figure(figsize=(24 * COL_IN, rows * ROW_IN + 1.2))
        fig.suptitle(dash["title"], fontsize=14, x=0.01, ha="left")
        for p in dash["panels"]:
            g = p["gridPos"]
            left, width = g["x"] / 24, g["w"] / 24
            bottom = 1 - (g["y"] + g["h"] + 1.5) / (rows + 2.5)  # the title above
            ax = fig.add_axes((left + 0.006, bottom + 0.01, width - 0.012,
                               g["h"] / (rows + 2.5) - 0.04))
            ax.set_title(p["title"], fontsize=9, loc="left")
            series = results.get(p["title"], [])
            {"stat": _stat, "table": _table}.get(p["type"], _lines)(ax, series)
        fig.savefig(png, dpi=80)
