"""SVG charts with matplotlib (Agg, no display): daily bars by category, time series with
limit lines and shaded intervals, a second axis. Text is drawn as paths, so a page shows
the CJK labels whatever fonts the reader's machine has."""

from __future__ import annotations

import datetime as dt
import io
import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import matplotlib

matplotlib.use("Agg")
# its first run in a fresh home builds a font cache and says so at INFO: not the operator's news
logging.getLogger("matplotlib").setLevel(logging.WARNING)

import matplotlib.dates as mdates  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import numpy.typing as npt  # noqa: E402
from matplotlib import font_manager  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

log = logging.getLogger("heatwatch.documents")

# Debian's fonts-noto-cjk; Simplified Chinese first
CJK_FONTS = ("Noto Sans CJK SC", "Noto Sans SC", "Noto Sans CJK JP", "Source Han Sans SC",
             "WenQuanYi Zen Hei")
# A4 content width (210 − 2 × 15 mm) in inches
PAGE_WIDTH_IN = 180 / 25.4

_lock = threading.Lock()
_font: list[str | None] = []


def cjk_font() -> str | None:
    """The CJK font charts use, or None (then CJK glyphs fall back and may show as boxes)."""
    with _lock:
        if not _font:
            names = {f.name for f in font_manager.fontManager.ttflist}
            found = next((n for n in CJK_FONTS if n in names), None)
            if found is None:
                log.warning("no CJK font found (install fonts-noto-cjk); chart labels in "
                            "Chinese will not render")
            _font.append(found)
        return _font[0]


def _style() -> dict[str, Any]:
    font = cjk_font()
    return {
        "font.family": "sans-serif",
        "font.sans-serif": ([font] if font else []) + ["DejaVu Sans"],
        "font.size": 8,
        "axes.unicode_minus": False,
        "svg.fonttype": "path",
        "svg.hashsalt": "heatwatch",  # the same data gives the same SVG bytes
        "axes.spines.top": False,
        "axes.grid": True,
        "grid.alpha": 0.3,
        "legend.fontsize": 7,
        "legend.frameon": False,
    }


def _rc() -> Any:
    """The charts' style as a context (matplotlib's stubs want a literal-keyed dict)."""
    return plt.rc_context(_style())  # type: ignore[arg-type]


def _x(times: Sequence[dt.datetime] | dt.datetime) -> Any:
    """Datetimes as matplotlib date numbers."""
    return mdates.date2num(times)  # type: ignore[no-untyped-call]


def figure(height_in: float = 2.4) -> Figure:
    """A chart as wide as an A4 page's text."""
    with _rc():
        return Figure(figsize=(PAGE_WIDTH_IN, height_in), layout="constrained")


def to_svg(fig: Figure) -> str:
    """The figure as an inline <svg> element (no XML prologue), scaled to its box."""
    buf = io.StringIO()
    with _rc():
        fig.savefig(buf, format="svg", metadata={"Date": None, "Creator": None})
    text = buf.getvalue()
    start = text.find("<svg")
    return text[start:] if start >= 0 else text


@dataclass(frozen=True, slots=True)
class Category:
    """One colour of a bar chart."""

    label: str
    color: str


@dataclass(frozen=True, slots=True)
class Span:
    """An interval to shade on a time axis, with its label."""

    start: dt.datetime
    end: dt.datetime
    label: str
    color: str = "#d62728"


@dataclass(frozen=True, slots=True)
class Line:
    """A horizontal limit line."""

    value: float
    label: str
    color: str = "#7f7f7f"


@dataclass(slots=True)
class Series:
    """One line of a time-series chart."""

    label: str
    times: Sequence[dt.datetime]
    values: npt.NDArray[np.float64]
    color: str
    extra: dict[str, Any] = field(default_factory=dict)


def _style_axes(ax: Any, ylabel: str) -> None:
    with _rc():
        ax.set_ylabel(ylabel)
        loc = mdates.AutoDateLocator(minticks=4, maxticks=10)  # type: ignore[no-untyped-call]
        ax.xaxis.set_major_locator(loc)
        fmt = mdates.DateFormatter("%m-%d")  # type: ignore[no-untyped-call]
        ax.xaxis.set_major_formatter(fmt)


def _legend(fig: Figure, handles: list[Any], labels: list[str]) -> None:
    """One legend above the plot, outside it, wrapping after four entries."""
    if labels:
        fig.legend(handles, labels, loc="outside upper left", ncols=min(len(labels), 4))


def _shade(ax: Any, spans: Sequence[Span]) -> None:
    seen: set[str] = set()
    for s in spans:
        ax.axvspan(_x(s.start), _x(s.end), color=s.color, alpha=0.18, lw=0,
                   label=None if s.label in seen else s.label)
        seen.add(s.label)


def daily_bars(days: Sequence[dt.date], values: Sequence[float | None],
               categories: Sequence[str], palette: dict[str, Category], ylabel: str, *,
               spans: Sequence[Span] = (), second: Series | None = None,
               second_ylabel: str = "", height_in: float = 2.6) -> str:
    """Bars per day coloured by category (legend in palette order); an optional line on
    its own right-hand axis."""
    with _rc():
        fig = figure(height_in)
        ax = fig.add_subplot()
        x = [dt.datetime(d.year, d.month, d.day, 12) for d in days]
        v = np.array([np.nan if a is None else float(a) for a in values])
        for key, cat in palette.items():
            mask = np.array([c == key for c in categories]) & np.isfinite(v)
            if mask.any():
                ax.bar(_x([x[i] for i in np.flatnonzero(mask)]), v[mask], width=0.8,
                       color=cat.color, label=cat.label)
            else:
                # still in the legend, so the key is complete on every page
                ax.bar(_x([x[0]]), [0.0], width=0, color=cat.color, label=cat.label)
        _shade(ax, spans)
        _style_axes(ax, ylabel)
        if days:
            ax.set_xlim(_x(dt.datetime.combine(days[0], dt.time())),
                        _x(dt.datetime.combine(days[-1], dt.time()) + dt.timedelta(days=1)))
        handles, labels = ax.get_legend_handles_labels()
        if second is not None:
            ax2 = ax.twinx()
            ax2.plot(_x(second.times), second.values, color=second.color, lw=1.2, marker="o",
                     ms=3, label=second.label)
            ax2.set_ylabel(second_ylabel)
            ax2.grid(False)
            h2, l2 = ax2.get_legend_handles_labels()
            handles, labels = handles + h2, labels + l2
        _legend(fig, handles, labels)
        return to_svg(fig)


def time_series(series: Sequence[Series], ylabel: str, *, limits: Sequence[Line] = (),
                spans: Sequence[Span] = (), start: dt.datetime | None = None,
                end: dt.datetime | None = None, ylim: tuple[float, float] | None = None,
                height_in: float = 2.4) -> str:
    """Lines over time, with horizontal limits and shaded intervals."""
    with _rc():
        fig = figure(height_in)
        ax = fig.add_subplot()
        for s in series:
            ax.plot(_x(s.times), s.values, color=s.color, lw=0.8, label=s.label, **s.extra)
        for lim in limits:
            ax.axhline(lim.value, color=lim.color, lw=0.9, ls="--", label=lim.label)
        _shade(ax, spans)
        _style_axes(ax, ylabel)
        if start is not None and end is not None:
            ax.set_xlim(_x(start), _x(end))
        if ylim is not None:
            ax.set_ylim(*ylim)
        handles, labels = ax.get_legend_handles_labels()
        _legend(fig, handles, labels)
        return to_svg(fig)


def empty_chart(message: str, height_in: float = 0.9) -> str:
    """A box that says why there is no chart (a season with no readings)."""
    with _rc():
        fig = figure(height_in)
        ax = fig.add_subplot()
        ax.set_axis_off()
        ax.text(0.5, 0.5, message, ha="center", va="center", fontsize=10, color="#555555")
        return to_svg(fig)
