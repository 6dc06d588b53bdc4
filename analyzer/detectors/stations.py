"""Station silence: a substation's telemetry or a weather station's outdoor temperature that
stopped, one incident per station, dated from the slot after its last reading and counted from
its first reading ever (or its commissioned date). Unknown is neither out nor restored: the
outage and leak detectors leave a station they cannot see as it was."""

from __future__ import annotations

import numpy as np

from analyzer.detectors.base import Context, Found, expected_slots, incident, runs_of, since
from analyzer.grid import HOUR_MS, TimeAxis
from analyzer.runs import runs_at_least
from analyzer.signals import stale_slots
from analyzer.window import Window
from workflow.details import StationCommDetails


def detect_station_silence(ctx: Context, w: Window) -> Found:
    """One station_comm incident per silent stretch of each substation and weather station."""
    found = Found()
    ix, sig = ctx.index, ctx.rules.signals
    rows = [i for i, d in enumerate(ix.substation_device) if d]
    found.examined("station_comm", {ix.substations[i] for i in rows} | set(ix.weather_stations))
    if rows:
        _substations(ctx, w, found, rows)
    if ix.weather_stations:
        axis = w.hours
        present = np.zeros((len(ix.weather_stations), axis.n_slots), dtype=bool) \
            if w.weather is None else ~np.isnan(w.weather)
        expected = expected_slots(ctx, w, ix.weather_stations, axis)
        missing = ~present & since(expected, axis.n_slots)
        quiet = runs_at_least(missing, axis.slots_for(sig.weather_silent_h * 60))
        for r, s, e in runs_of(quiet):
            wid = ix.weather_stations[r]
            _add(found, axis, "weather", wid, wid, "", s, e, "weather_silent")
    return found


def _substations(ctx: Context, w: Window, found: Found, rows: list[int]) -> None:
    """A station is silent once its slots have been unknown (no reading fresher than the
    staleness limit) for substation_silent_min; the stretch is dated back to the slot after its
    last reading, which is the staleness limit before the first unknown slot."""
    ix, sig, axis = ctx.index, ctx.rules.signals, w.steps
    devices = [ix.substation_device[i] for i in rows]
    known = np.zeros((len(rows), axis.n_slots), dtype=bool) if w.sub_known is None \
        else w.sub_known[rows]
    expected = expected_slots(ctx, w, devices, axis)
    unknown = ~known & since(expected, axis.n_slots)
    quiet = runs_at_least(unknown, axis.slots_for(sig.substation_silent_min))
    held = stale_slots(sig.substation_stale_min * 60_000, axis.step_ms)
    for r, s, e in runs_of(quiet):
        # the slot before s is the last one a reading still held: that reading was `held`
        # slots earlier, and silence starts in the slot after it
        start = s if s == 0 else max(s - held, int(expected[r]), 0)
        sid = ix.substations[rows[r]]
        _add(found, axis, "substation", sid, devices[r], sid, start, e, "substation_silent")


def _add(found: Found, axis: TimeAxis, source: str, subject: str, device: str,
         substation_id: str, s: int, e: int, cause: str) -> None:
    ongoing = e == axis.n_slots
    found.incidents.append(incident(
        "station_comm", subject, int(axis.ts_ms(s)), None if ongoing else int(axis.ts_ms(e)),
        cause, substation_id=substation_id, open_at_start=s == 0,
        details=StationCommDetails(source=source, device_id=device, ongoing=ongoing,
                                   hours=(e - s) * axis.step_ms / HOUR_MS)))
