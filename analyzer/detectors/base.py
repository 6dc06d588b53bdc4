"""What every detector shares: its context, its result, and how an incident is made."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from analyzer.derived import GridPoints
from analyzer.grid import TimeAxis
from analyzer.index import DistrictIndex
from analyzer.runs import intervals
from analyzer.window import Window
from district.records import Records
from policy.rules import CityRules
from workflow.details import IncidentDetails
from workflow.incidents import Incident, incident_key

FloatGrid = npt.NDArray[np.float64]
BoolGrid = npt.NDArray[np.bool_]
IntArray = npt.NDArray[np.intp]


@dataclass(frozen=True, slots=True, eq=False)
class Context:
    """What a detector knows besides the grids: the district, the city's rules, the clock."""

    index: DistrictIndex
    records: Records
    rules: CityRules
    tz: dt.tzinfo
    write_back: bool = True
    # (device, what) warnings already given once (a misaligned register, issue 25)
    warned: set[tuple[str, str]] = field(default_factory=set)

    def date(self, ms: int) -> str:
        """The local date of an instant, as YYYY-MM-DD."""
        return dt.datetime.fromtimestamp(ms / 1000, self.tz).date().isoformat()

    def midnight_ms(self, day: dt.date) -> int:
        """The local midnight starting a date."""
        return int(dt.datetime(day.year, day.month, day.day, tzinfo=self.tz).timestamp() * 1000)


@dataclass(slots=True)
class Found:
    """A detector's result: the kinds and subjects it examined, its incidents, derived points."""

    kinds: set[str] = field(default_factory=set)
    scope: dict[str, set[str]] = field(default_factory=dict)
    incidents: list[Incident] = field(default_factory=list)
    derived: list[GridPoints] = field(default_factory=list)

    def examined(self, kind: str, subjects: set[str]) -> None:
        """Mark `kind` as evaluated over `subjects`: what is not found among them is closed."""
        self.kinds.add(kind)
        self.scope[kind] = subjects


def incident(kind: str, subject: str, started_ms: int, closed_ms: int | None, cause: str, *,
             substation_id: str = "", building_id: str = "", account_id: str = "",
             open_at_start: bool = False, details: IncidentDetails) -> Incident:
    """An incident with its stable key; `open_at_start` marks one the window may have cut."""
    return Incident(incident_key(kind, subject, started_ms, cause), kind, subject, started_ms,
                    substation_id, building_id, account_id, cause, closed_ms=closed_ms,
                    details=details, open_at_window_start=open_at_start)


def runs_of(mask: BoolGrid) -> list[tuple[int, int, int]]:
    """Every run of True as (row, start slot, end slot exclusive)."""
    iv = intervals(mask)
    return [(int(r), int(s), int(e)) for r, s, e in zip(iv.row, iv.start, iv.end, strict=True)]


def merge_spans(spans: list[tuple[int, int]], gap: int = 0) -> list[tuple[int, int]]:
    """Overlapping or touching [start, end) spans as one, and those at most `gap` apart."""
    out: list[tuple[int, int]] = []
    for s, e in sorted(spans):
        if out and s <= out[-1][1] + gap:
            out[-1] = (out[-1][0], max(out[-1][1], e))
        else:
            out.append((s, e))
    return out


def rounded(x: float, digits: int) -> float | None:
    """A finite number rounded, else None (JSON has no NaN)."""
    return None if not np.isfinite(x) else round(float(x), digits)


def nan_max(x: npt.NDArray[np.floating]) -> float:
    """The largest finite value, NaN when there is none."""
    return float(np.nanmax(x)) if np.isfinite(x).any() else float("nan")


def expected_slots(ctx: Context, w: Window, ids: list[str], axis: TimeAxis) -> IntArray:
    """Per device, the first slot it is expected to report in: from its commissioned date, else
    from its first reading ever; a device never heard from is expected nowhere (n_slots)."""
    out = np.full(len(ids), axis.n_slots, dtype=np.intp)
    devices, seen = ctx.records.devices, w.first_seen_ms
    for i, d in enumerate(ids):
        c = devices[d].commissioned
        at = ctx.midnight_ms(c) if c is not None else seen.get(d)
        if at is not None:
            out[i] = min(max(-(-(at - axis.t0_ms) // axis.step_ms), 0), axis.n_slots)
    return out


def since(expected: IntArray, n_slots: int) -> BoolGrid:
    """(devices, slots): True from each device's expected slot on."""
    out: BoolGrid = np.arange(n_slots)[None, :] >= expected[:, None]
    return out


def never_reported(ctx: Context, w: Window, ids: list[str],
                   group_of: Callable[[str], str]) -> tuple[int, dict[str, list[str]]]:
    """Devices never heard from and not yet due by a commissioned date, by group (gateway or
    building), once the grace period since the district's first reading has passed; with the
    instant the grace ran out (their incidents' start)."""
    start = w.data_start_ms
    if start is None:
        return 0, {}
    due = start + int(ctx.rules.signals.never_reported_grace_h * 3_600_000)
    if w.at_ms < due:
        return due, {}
    out: dict[str, list[str]] = {}
    for d in ids:
        if d not in w.first_seen_ms and ctx.records.devices[d].commissioned is None:
            out.setdefault(group_of(d), []).append(d)
    return due, out
