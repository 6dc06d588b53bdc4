"""One analyzer cycle as of an instant: read the window once, hand its grids to one detector
per incident kind, keep the incidents and write the derived series back."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from analyzer.config import AnalyzerConfig
from analyzer.derived import GridPoints
from analyzer.detectors.base import Context, Found
from analyzer.detectors.compliance import detect_compliance_breaches
from analyzer.detectors.leaks import detect_leak_incidents
from analyzer.detectors.meters import detect_meter_incidents
from analyzer.detectors.outages import (
    attach_consequences,
    detect_building_outages_in,
    detect_outages,
)
from analyzer.detectors.room_days import judge_rooms, suspended_rooms
from analyzer.detectors.rooms import detect_cold_rooms
from analyzer.detectors.sensors import detect_sensor_faults
from analyzer.detectors.stations import detect_station_silence
from analyzer.first_seen import FirstSeen
from analyzer.grid import HOUR_MS
from analyzer.index import DistrictIndex
from analyzer.state import PLANS, WindowState
from analyzer.window import Window, WindowReader
from analyzer.writeback import WriteBack
from district.readings import Reading
from district.records import Records
from policy.rules import CityRules
from policy.season import season_at
from storage.base import Store
from workflow.db import Database
from workflow.details import (
    BuildingOutageDetails,
    MeterCommDetails,
    MeterFaultDetails,
    OutageDetails,
    SensorFaultDetails,
    StationCommDetails,
)
from workflow.incidents import INCIDENT_KINDS, Incident, IncidentEvent, IncidentStore

# -- the watermark: the last instant a cycle evaluated, kept next to the incidents -------------

class Watermarks:
    """Named instants in the workflow database (table analyzer_watermark)."""

    def __init__(self, target: Path | str, busy_timeout_s: float = 10.0) -> None:
        self._db = Database(target, busy_timeout_s)

    def first_seen(self) -> dict[str, int]:
        """Each device's first reading ever, as far as the analyzer has seen."""
        return {str(d): int(t) for d, t in
                self._db.reader.rows("SELECT device_id, first_ms FROM analyzer_first_seen")}

    def saw(self, first_ms: Mapping[str, int]) -> None:
        """Keep the earliest first reading of each device."""
        with self._db.transaction() as c:
            for d, t in first_ms.items():
                c.run("INSERT INTO analyzer_first_seen (device_id, first_ms) VALUES (?, ?) "
                      "ON CONFLICT(device_id) DO UPDATE SET first_ms = CASE WHEN "
                      "excluded.first_ms < analyzer_first_seen.first_ms THEN excluded.first_ms "
                      "ELSE analyzer_first_seen.first_ms END", (d, int(t)))

    def get(self, name: str) -> int | None:
        row = self._db.reader.one("SELECT at_ms FROM analyzer_watermark WHERE name = ?", (name,))
        return None if row is None else int(row[0])

    def set(self, name: str, at_ms: int) -> None:
        with self._db.transaction() as c:
            c.run("INSERT INTO analyzer_watermark (name, at_ms) VALUES (?, ?) "
                  "ON CONFLICT(name) DO UPDATE SET at_ms = excluded.at_ms", (name, int(at_ms)))

    def close(self) -> None:
        self._db.close()


# -- results ----------------------------------------------------------------------------------

@dataclass(slots=True)
class Evaluation:
    """What one evaluation found: incidents, the kinds and subjects it examined, derived points."""

    at_ms: int
    window_start_ms: int
    incidents: list[Incident] = field(default_factory=list)
    kinds: set[str] = field(default_factory=set)
    scope: dict[str, set[str]] = field(default_factory=dict)
    derived: list[GridPoints] = field(default_factory=list)
    timings_s: dict[str, float] = field(default_factory=dict)
    first_seen_ms: Mapping[str, int] = field(default_factory=dict)
    first_seen_new: dict[str, int] = field(default_factory=dict)  # earlier than known before

    def add(self, found: Found) -> None:
        """Take in one detector's result."""
        self.incidents += found.incidents
        self.kinds |= found.kinds
        self.scope.update(found.scope)
        self.derived += found.derived

    def derived_readings(self) -> list[Reading]:
        """Every derived point of the evaluation, as readings."""
        return [r for g in self.derived for r in g.readings()]


@dataclass(slots=True)
class CycleResult:
    """A finished cycle: its evaluation and the lifecycle events it caused."""

    evaluation: Evaluation
    events: list[IncidentEvent]
    catch_up: int = 0


class Runner:
    """Evaluates the district as of an instant; wired with a store, records and the workflow."""

    def __init__(self, store: Store, records: Records, workflow: IncidentStore,
                 cfg: AnalyzerConfig, tz: dt.tzinfo, watermarks: Watermarks | None = None,
                 log: Callable[[str], None] | None = None,
                 state: WindowState | None | bool = None, mark: str = "cycle",
                 progress: Callable[[int, int], None] | None = None) -> None:
        self.store = store
        self.records = records
        self.workflow = workflow
        self.cfg = cfg
        self.rules: CityRules = cfg.rules()
        self.tz = tz
        self.watermarks = watermarks
        self.first_seen = FirstSeen(watermarks.first_seen() if watermarks else None)
        self.index = DistrictIndex.from_records(records)
        self.reader = WindowReader(store, self.index)
        self.writeback = WriteBack(store)
        # the trailing state (issue 11): True keeps it in memory only, a WindowState on disk
        self.state = WindowState(self.reader) if state is True else (state or None)
        self.mark = mark  # the watermark's name (one per analyzer shard)
        self.progress = progress
        self.context = Context(self.index, records, self.rules, tz, cfg.write_back)
        self.log = log or (lambda _m: None)

    # -- the cycle ----------------------------------------------------------------------------
    def run_cycle(self, at_ms: int) -> CycleResult:
        """Catch up on unseen time (bounded), evaluate as of at_ms, reconcile, write back.

        With no watermark (a first run, a fresh workflow store) the catch-up starts at the
        earliest time it may look back to, so an event older than one window keeps its start.
        """
        last = self.watermarks.get(self.mark) if self.watermarks else None
        if last is None:
            return self.backfill(self.earliest_ms(at_ms), at_ms)
        # the analyzer was down longer than a window: replay the gap, at most max_catchup_h
        return self.backfill(max(last, at_ms - int(self.cfg.max_catchup_h * HOUR_MS)), at_ms)

    def backfill(self, from_ms: int, to_ms: int) -> CycleResult:
        """Evaluate [from_ms, to_ms] a window at a time, in order, then as of to_ms: the same
        incidents as cycles run live over that time."""
        lookback_ms = int(self.cfg.lookback_h * HOUR_MS)
        # with the trailing state each step reads only what is new: step as live cycles do
        # (catchup_step_h), in one window's memory; without it, a window at a time
        step_ms = int(self.cfg.catchup_step_h * HOUR_MS) if self.state else lookback_ms
        steps: list[int] = []
        if to_ms - from_ms > step_ms:
            # each window reaches back to the midnight before its lookback: they overlap
            t = from_ms + (step_ms if self.state else lookback_ms)
            while t < to_ms:
                steps.append(t)
                t += step_ms
        for i, t in enumerate(steps):
            if self.progress is not None:
                self.progress(i, len(steps))
            self._apply(self.evaluate(t))
        if self.progress is not None and steps:
            self.progress(len(steps), len(steps))
        ev = self.evaluate(to_ms)
        events = self._apply(ev)
        return CycleResult(ev, events, len(steps))

    def earliest_ms(self, at_ms: int) -> int:
        """How far a first run looks back: max_catchup_h, but not before the season start."""
        start = season_at(self.rules.season, at_ms, self.tz).start_ms
        return max(at_ms - int(self.cfg.max_catchup_h * HOUR_MS), min(start, at_ms))

    def _apply(self, ev: Evaluation) -> list[IncidentEvent]:
        t = time.perf_counter()
        found = self._carry_over(ev)
        events = self.workflow.reconcile(found, ev.at_ms, ev.kinds, ev.scope)
        if self.cfg.write_back and ev.derived:
            self.writeback.write(ev.derived)
        new = self.first_seen.with_new(ev.first_seen_new)
        if new:
            self.first_seen.update(new)
            if self.watermarks is not None:
                self.watermarks.saw(new)
        ev.timings_s["write"] = time.perf_counter() - t
        if self.watermarks is not None:
            prev = self.watermarks.get(self.mark)
            self.watermarks.set(self.mark, max(ev.at_ms, prev or 0))
        return events

    def _carry_over(self, ev: Evaluation) -> list[Incident]:
        """An interval open at the window start keeps the key of the incident it continues."""
        prior: dict[tuple[str, str, str], Incident] = {}
        for inc in self.workflow.find(include_closed=True):
            # it continues only if it was still running when the window began
            if inc.started_ms > ev.window_start_ms or (
                    inc.closed_ms is not None and inc.closed_ms < ev.window_start_ms):
                continue
            k = (inc.kind, inc.subject, inc.cause)
            if k not in prior or inc.started_ms < prior[k].started_ms:
                prior[k] = inc
        out = []
        for inc in ev.incidents:
            before = prior.get((inc.kind, inc.subject, inc.cause))
            if inc.open_at_window_start and before is not None:
                inc.key, inc.started_ms = before.key, before.started_ms
                self._redo_duration(inc, ev.at_ms)
            out.append(inc)
        return out

    def _redo_duration(self, inc: Incident, at_ms: int) -> None:
        """Durations count from the incident's own start, not the window's."""
        d = inc.details
        hours = ((inc.closed_ms if inc.closed_ms is not None else at_ms) - inc.started_ms) / HOUR_MS
        if isinstance(d, SensorFaultDetails | MeterFaultDetails | MeterCommDetails
                      | StationCommDetails):
            d.hours = hours
        if isinstance(d, OutageDetails | BuildingOutageDetails):
            o = self.rules.outages
            d.duration_h = round(hours, 2)
            d.escalations_h = [m for m in o.escalation_h if hours >= m - 1e-9]

    # -- the evaluation (reads only) ----------------------------------------------------------
    def window_start_ms(self, at_ms: int) -> int:
        """Local midnight of the day the lookback reaches into."""
        start = dt.datetime.fromtimestamp((at_ms - self.cfg.lookback_h * HOUR_MS) / 1000, self.tz)
        midnight = start.replace(hour=0, minute=0, second=0, microsecond=0)
        return int(midnight.timestamp() * 1000)

    def run_kind(self, at_ms: int, cycle: str) -> CycleResult:
        """One cycle of a kind (`substation`, `room`, `meter`; `all` is run_cycle's): reads
        what its plan says, runs its detectors, reconciles only their incident kinds."""
        ev = self.evaluate(at_ms, cycle)
        return CycleResult(ev, self._apply(ev))

    def evaluate(self, at_ms: int, cycle: str = "all") -> Evaluation:
        """Everything the detectors find in the window ending at at_ms (deterministic)."""
        t0 = self.window_start_ms(at_ms)
        ev = Evaluation(at_ms, t0)
        if (at_ms - t0) // HOUR_MS <= 0:
            return ev
        clock = time.perf_counter()
        if self.state is not None:
            self.state.plan = PLANS[cycle]
            w = self.state.read(t0, at_ms, self.cfg.outages.step_s * 1000)
            self.state.save(g for g, how in PLANS[cycle].items() if how != "none")
        else:
            w = self.reader.read(t0, at_ms, self.cfg.outages.step_s * 1000)
        new = self.first_seen.with_new(w.first_readings(self.index, self.first_seen))
        seen = self.first_seen
        if new:  # devices seen for the first time: a copy, the analyzer's own waits for _apply
            seen = FirstSeen(self.first_seen)
            seen.update(new)
        w = replace(w, first_seen_ms=seen).held(self.rules.signals)
        ev.first_seen_ms, ev.first_seen_new = seen, new
        ev.timings_s["read"] = time.perf_counter() - clock
        clock = time.perf_counter()
        for found in self.detect(w, cycle):
            ev.add(found)
        ev.timings_s["kernels"] = time.perf_counter() - clock
        return ev

    def detect(self, w: Window, cycle: str = "all") -> list[Found]:
        """Every detector of a cycle kind over one window; outages first, since the others
        respect them (a meter cycle reconciles only the meters)."""
        ctx = self.context
        outages, sub_affected = detect_outages(ctx, w)
        buildings, not_normal = detect_building_outages_in(ctx, w, sub_affected)
        # issue 21: an account that suspended its heating for the season is not counted
        off = None if w.rooms is None else suspended_rooms(ctx, w.hours,
                                                           self.workflow.suspended)
        rooms = judge_rooms(ctx, w, not_normal.of_rooms(ctx), off)
        for found in (outages, buildings):
            attach_consequences(ctx, w, found, None if rooms is None else rooms.held)
        out = [] if cycle == "meter" else [outages, buildings]
        if cycle in ("all", "substation"):
            out += [detect_leak_incidents(ctx, w), detect_station_silence(ctx, w)]
        if cycle in ("all", "room"):
            out += [detect_cold_rooms(ctx, rooms), detect_sensor_faults(ctx, w, rooms),
                    detect_compliance_breaches(ctx, rooms)]
        if cycle in ("all", "meter"):
            out.append(detect_meter_incidents(ctx, w, not_normal.of_meters(ctx)))
        return out


def all_kinds() -> tuple[str, ...]:
    """The incident kinds a full evaluation may raise."""
    return INCIDENT_KINDS
