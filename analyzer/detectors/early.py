"""Early-warning incidents (issue 24): once a day, the drift detector's open warnings become
`early_warning` incidents, one per station (or building) and cause; a warning the detector no
longer holds open (its residuals back to normal) closes its incident.

A warning that stays open keeps the start of the incident already open for it, so the
incident's key (and the maintenance order hanging on it) survives the window moving on.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from analyzer.early import EarlyResult
from analyzer.early_store import day_ms, early_for_day, score_readings
from analyzer.index import DistrictIndex
from policy.early import CHANNELS, DEFAULT_EARLY, EarlyRules
from policy.rules import DEFAULT_TARIFF
from storage.base import Store
from workflow.details import EarlyWarningDetails
from workflow.incidents import Incident, IncidentEvent, IncidentStore, incident_key

KIND = "early_warning"


def _subject(index: DistrictIndex, building: bool, row: int) -> tuple[str, str, str]:
    """(subject, substation_id, building_id) of a warning's row."""
    if building:
        bid = index.buildings[row]
        return f"building {bid}", index.substations[int(index.building_sub[row])], bid
    return index.substations[row], index.substations[row], ""


def early_incidents(res: EarlyResult, index: DistrictIndex, first: dt.date, tz: dt.tzinfo,
                    now_ms: int, known_starts: dict[tuple[str, str], int] | None = None
                    ) -> list[Incident]:
    """The open warnings as incidents (keyed by subject, cause and start)."""
    known = known_starts or {}
    out = []
    sets = [(False, res.station_warnings, CHANNELS)]
    if res.building_warnings is not None:
        sets.append((True, res.building_warnings, ("return_excess",)))
    for building, w, channels in sets:
        for j in range(len(w)):
            if w.closed[j] >= 0:
                continue
            subject, sid, bid = _subject(index, building, int(w.row[j]))
            cause = res.cause_name(building, int(w.cause[j]))
            since = first + dt.timedelta(days=int(w.opened[j]))
            started = known.get((subject, cause), day_ms(since, tz))
            evidence = {c: round(float(z), 2) for c, z in zip(channels, w.evidence_z[j],
                                                               strict=False) if z == z}
            out.append(Incident(
                incident_key(KIND, subject, started, cause), KIND, subject, started,
                substation_id=sid, building_id=bid, cause=cause, detected_ms=now_ms,
                details=EarlyWarningDetails(cause, "building" if building else "station",
                                            since.isoformat(), evidence,
                                            round(float(w.match[j]), 3))))
    return out


def raise_early_warnings(store: Store, index: DistrictIndex, incidents: IncidentStore,
                         day: dt.date, tz: dt.tzinfo, now_ms: int,
                         rules: EarlyRules = DEFAULT_EARLY,
                         price: Decimal = DEFAULT_TARIFF.energy_cny_kwh) -> list[IncidentEvent]:
    """The daily job: judge the days up to `day`, write the days' scorecards (`early_score`),
    then open, keep and close the early_warning incidents to match."""
    res, first = early_for_day(store, index, day, tz, rules)
    store.write(score_readings(res, index.substations, first, tz, price))
    known = {(i.subject, i.cause): i.started_ms for i in incidents.find(kind=KIND)}
    found = early_incidents(res, index, first, tz, now_ms, known)
    return incidents.reconcile(found, now_ms, {KIND})
