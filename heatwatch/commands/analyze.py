"""`heatwatch analyze | incidents`: the analyzer's commands, wired to the configured
store, records and workflow; a user mistake raises CommandError with one line."""

from __future__ import annotations

import datetime as dt
import json
import logging
import signal
import sys
import threading
import time
from collections.abc import Callable
from typing import Any, TextIO

from analyzer.config import AnalyzerConfig, parse_shard
from analyzer.runner import CycleResult, Runner
from analyzer.schedule import KINDS, Schedule
from analyzer.shard import label, select
from heatwatch import bootstrap
from heatwatch.common import CommandError, analyzer_config, timezone
from heatwatch.config import Config
from storage.base import StoreError
from workflow.details import details_dict, parse_details
from workflow.incidents import Incident

log = logging.getLogger("heatwatch.analyzer")


def _iso(ms: int, tz: dt.tzinfo) -> str:
    return dt.datetime.fromtimestamp(ms / 1000, tz).isoformat(timespec="minutes")


# -- analyze ------------------------------------------------------------------------------------

def _report(res: CycleResult, tz: dt.tzinfo, say: Callable[[str], None],
            kind: str = "") -> None:
    ev = res.evaluation
    t = ev.timings_s
    counts: dict[str, int] = {}
    for e in res.events:
        counts[e.event] = counts.get(e.event, 0) + 1
    what = f"analyzed {kind}" if kind else "analyzed"
    say(f"{what} as of {_iso(ev.at_ms, tz)} (window from {_iso(ev.window_start_ms, tz)}): "
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
    ac = analyzer_config(cfg)
    tz = timezone(cfg)
    shard = parse_shard(ac.shard) if ac.shard else None
    try:
        records = select(bootstrap.records(cfg), shard, ac.substations)
    except ValueError as e:
        raise CommandError(str(e)) from None
    opened = bootstrap.open_store(cfg)
    runner = bootstrap.analyzer_runner(cfg, records, opened.store,
                                       label(shard, ac.substations), progress_bar())
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
            run_forever(runner, ac, tz, stop)
        finally:
            for s, h in previous.items():
                signal.signal(s, h)
        return 0
    finally:
        flush = getattr(opened.store, "flush", None)
        if callable(flush):
            flush()
        opened.store.close()
        bootstrap.close_runner(runner)


def run_forever(runner: Runner, ac: AnalyzerConfig, tz: dt.tzinfo, stop: threading.Event,
                clock: Callable[[], float] = time.time) -> None:
    """Catch up (a whole cycle), then each kind at its own pace until `stop` (issue 11); with
    incremental = false, a whole cycle every interval_s."""
    caught_up = False
    schedule = Schedule.from_config(ac)
    while not stop.is_set():
        try:
            if not caught_up or not ac.incremental:
                _report(runner.run_cycle(int(clock() * 1000)), tz, log.info)
                caught_up = True
                now = clock()
                for kind in KINDS:
                    schedule.ran(kind, now)
            else:
                for kind in schedule.due(clock()):
                    now = clock()
                    _report(runner.run_kind(int(now * 1000), kind), tz, log.info, kind)
                    schedule.ran(kind, now)
        except StoreError as e:
            # the store may be back next cycle; the watermark makes up the gap: the next pass
            # is a whole cycle again, which replays it
            log.warning("analyzer cycle skipped: %s", e)
            caught_up = False
            stop.wait(min(ac.substation_interval_s, ac.interval_s))
            continue
        stop.wait(ac.interval_s if not ac.incremental else max(schedule.wait_s(clock()), 0.05))


def progress_bar(out: TextIO | None = None, width: int = 30) -> Callable[[int, int], None]:
    """A catch-up progress bar on stderr: `catch-up [#####-----] 12/24 steps`."""

    def show(done: int, total: int) -> None:
        if done <= 0:
            return  # nothing done yet: an error before the first step stays one line
        stream = out or sys.stderr
        filled = width * done // max(total, 1)
        bar = f"catch-up [{'#' * filled}{'-' * (width - filled)}] {done}/{total} steps"
        if stream.isatty():
            stream.write(f"\r{bar}" + ("\n" if done >= total else ""))
        elif done >= total or done * 10 // max(total, 1) != (done - 1) * 10 // max(total, 1):
            stream.write(f"{bar}\n")  # a log: a line at each tenth, no carriage returns
        stream.flush()

    return show


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
    tz = timezone(cfg)
    bootstrap.workflow_file(cfg)  # a file that is not there is an error, not a new file
    store = bootstrap.incident_store(cfg)
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
