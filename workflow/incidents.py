"""Incidents with an open / update / close lifecycle, and the event log alerts consume."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from workflow import calls
from workflow.db import Conn, Database, Row
from workflow.details import (
    DETAILS_BY_KIND,
    IncidentDetails,
    check_kind,
    details_dict,
    parse_details,
)

# The kinds the analyzer raises; alerts maps each to its handlers.
INCIDENT_KINDS = (
    "room_cold",          # a room's trailing mean below 18 °C (the fast dispatch signal)
    "compliance_breach",  # a substation's daily compliance below 97 %
    "sensor_fault",       # a room thermometer silent, stuck or out of range
    "meter_fault",        # a heat-meter fault sign; details say cause and human / non-human
    "meter_comm",         # a meter not read for >= 2 expected intervals
    "station_comm",       # a substation's or weather station's telemetry silent
    "outage",             # a substation out (pump off, or cold supply with no ΔT)
    "building_outage",    # a building without flow / ΔT while its substation runs
    "leak",               # make-up water above 2 % of circulation, or holding pressure sag
    "early_warning",      # a slow fault drifting a station's or building's residuals (daily)
)

# its tables: workflow/migrations (the incidents tables)

_COLS = ("key, kind, subject, started_ms, substation_id, building_id, account_id, cause, "
         "detected_ms, updated_ms, closed_ms, details")


@dataclass(slots=True)
class Incident:
    """One thing that went wrong, identified by a stable key so re-runs never duplicate it.

    `started_ms` is when the condition began (the clock of service-time limits);
    `detected_ms` when the analyzer first saw it; `closed_ms` None while it runs.
    `open_at_window_start` is the analyzer's note that the interval it found began at its
    window's edge (it may continue an earlier incident); it is never stored.
    """

    key: str
    kind: str
    subject: str
    started_ms: int
    substation_id: str = ""
    building_id: str = ""
    account_id: str = ""
    cause: str = ""
    detected_ms: int = 0
    updated_ms: int = 0
    closed_ms: int | None = None
    # left out: the empty record of the kind
    details: IncidentDetails = field(default=None)  # type: ignore[assignment]
    open_at_window_start: bool = False

    def __post_init__(self) -> None:
        if self.details is None:
            self.details = DETAILS_BY_KIND[self.kind]()

    @property
    def is_open(self) -> bool:
        return self.closed_ms is None


@dataclass(frozen=True, slots=True)
class IncidentEvent:
    """IncidentOpened / IncidentUpdated / IncidentClosed, in the order they happened."""

    seq: int
    key: str
    event: str  # "opened" | "updated" | "closed"
    at_ms: int
    details: IncidentDetails


def incident_key(kind: str, subject: str, started_ms: int, cause: str = "") -> str:
    """The identity of an incident: what, where, which cause, and when it began."""
    return f"{kind}:{subject}:{cause}:{started_ms}"


def _dump(d: IncidentDetails) -> str:
    return json.dumps(details_dict(d), sort_keys=True, ensure_ascii=False)


class Incidents:
    """The incident repository: the table and its event log."""

    def __init__(self, conn: Conn) -> None:
        self._c = conn

    # -- lifecycle ---------------------------------------------------------------------------
    def reconcile(self, found: Iterable[Incident], now_ms: int, kinds: Iterable[str],
                  scope: Mapping[str, Iterable[str]] | None = None) -> list[IncidentEvent]:
        """Make the open incidents of `kinds` equal what the analyzer `found` as of now.

        New keys open; known keys whose details changed update; open incidents of these
        kinds that were not found close (if `scope` is given, only those whose subject the
        analyzer looked at this time: kind -> subjects). An incident found with closed_ms
        set is closed at that time. Re-running the same evaluation changes nothing.
        """
        kinds = set(kinds)
        found_by_key = {i.key: i for i in found}
        known = {r[0]: r for r in self._c.rows(
            f"SELECT key, kind, subject, closed_ms, details FROM incident "
            f"WHERE kind IN ({','.join('?' * len(kinds))})", tuple(kinds))}
        events: list[tuple[str, str, int, IncidentDetails]] = []
        for key, inc in found_by_key.items():
            check_kind(inc.kind, inc.details)
            events += self._put(inc, known.get(key), now_ms)
        scoped = {k: set(v) for k, v in scope.items()} if scope is not None else None
        for key, (_, kind, subject, closed_ms, details) in known.items():
            if key in found_by_key or closed_ms is not None:
                continue
            if scoped is not None and subject not in scoped.get(kind, set()):
                continue
            self._c.run("UPDATE incident SET closed_ms=?, updated_ms=? WHERE key=?",
                        (now_ms, now_ms, key))
            events.append((key, "closed", now_ms, parse_details(kind, json.loads(details))))
        out = []
        for key, event, at_ms, det in events:
            seq = self._c.one(
                "INSERT INTO incident_event (key, event, at_ms, details) VALUES (?,?,?,?) "
                "RETURNING seq", (key, event, at_ms, _dump(det)))
            out.append(IncidentEvent(int(seq[0]) if seq else 0, key, event, at_ms, det))
        return out

    def _put(self, inc: Incident, row: Row | None,
             now_ms: int) -> list[tuple[str, str, int, IncidentDetails]]:
        """Insert or update one found incident; the events it makes."""
        key, details = inc.key, _dump(inc.details)
        if row is None:
            self._c.run(
                f"INSERT INTO incident ({_COLS}) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                (key, inc.kind, inc.subject, inc.started_ms, inc.substation_id,
                 inc.building_id, inc.account_id, inc.cause, now_ms, now_ms, inc.closed_ms,
                 details))
            opened = [(key, "opened", now_ms, inc.details)]
            if inc.closed_ms is not None:
                opened.append((key, "closed", inc.closed_ms, inc.details))
            return opened
        was_closed = row[3] is not None
        if row[4] == details and (inc.closed_ms is not None) == was_closed:
            return []
        self._c.run("UPDATE incident SET details=?, updated_ms=?, closed_ms=? WHERE key=?",
                    (details, now_ms, inc.closed_ms, key))
        if inc.closed_ms is not None and not was_closed:
            return [(key, "closed", inc.closed_ms, inc.details)]
        if inc.closed_ms is None and was_closed:
            return [(key, "opened", now_ms, inc.details)]
        return [(key, "updated", now_ms, inc.details)]

    # -- reading -----------------------------------------------------------------------------
    def get(self, key: str) -> Incident | None:
        rows = self._select("WHERE key = ?", (key,))
        return rows[0] if rows else None

    def find(self, include_closed: bool = False, kind: str | None = None) -> list[Incident]:
        where, args = [], []
        if not include_closed:
            where.append("closed_ms IS NULL")
        if kind:
            where.append("kind = ?")
            args.append(kind)
        clause = ("WHERE " + " AND ".join(where)) if where else ""
        return self._select(clause + " ORDER BY started_ms, key", tuple(args))

    def events_after(self, seq: int, limit: int = 10_000) -> list[IncidentEvent]:
        """The lifecycle events after a cursor, oldest first (alerts keep their cursor)."""
        rows = self._c.rows(
            "SELECT e.seq, e.key, e.event, e.at_ms, e.details, i.kind FROM incident_event e "
            "LEFT JOIN incident i ON i.key = e.key WHERE e.seq > ? ORDER BY e.seq LIMIT ?",
            (seq, limit))
        return [IncidentEvent(int(s), k, e, int(a),
                              parse_details(kind or k.split(":", 1)[0], json.loads(d)))
                for s, k, e, a, d, kind in rows]

    def events_until(self, as_of_ms: int) -> list[IncidentEvent]:
        """The lifecycle events at or before an instant, oldest first (a report as of it)."""
        rows = self._c.rows(
            "SELECT e.seq, e.key, e.event, e.at_ms, e.details, i.kind FROM incident_event e "
            "LEFT JOIN incident i ON i.key = e.key WHERE e.at_ms <= ? ORDER BY e.seq",
            (as_of_ms,))
        return [IncidentEvent(int(s), k, e, int(a),
                              parse_details(kind or k.split(":", 1)[0], json.loads(d)))
                for s, k, e, a, d, kind in rows]

    def _select(self, clause: str, args: tuple[Any, ...]) -> list[Incident]:
        rows = self._c.rows(f"SELECT {_COLS} FROM incident " + clause, args)
        return [Incident(r[0], r[1], r[2], int(r[3]), r[4], r[5], r[6], r[7], int(r[8]),
                         int(r[9]), None if r[10] is None else int(r[10]),
                         parse_details(r[1], json.loads(r[11])))
                for r in rows]


class IncidentStore:
    """The analyzer's side of the workflow file: reconcile is one unit of work; reads."""

    def __init__(self, target: Path | str, busy_timeout_s: float = 10.0,
                 statement_timeout_s: float = 30.0) -> None:
        self._db = Database(target, busy_timeout_s, statement_timeout_s)
        self.path = self._db.target
        self._read = Incidents(self._db.reader)

    def close(self) -> None:
        self._db.close()

    def reconcile(self, found: Iterable[Incident], now_ms: int, kinds: Iterable[str],
                  scope: Mapping[str, Iterable[str]] | None = None) -> list[IncidentEvent]:
        """See `Incidents.reconcile`; everything it changes commits together."""
        with self._db.transaction() as conn:
            return Incidents(conn).reconcile(found, now_ms, kinds, scope)

    def get(self, key: str) -> Incident | None:
        return self._read.get(key)

    def suspended(self, season: int) -> set[str]:
        """The accounts suspended for a season (issue 21: not counted in compliance)."""
        return calls.Calls(self._db.reader).suspended(season)

    def find(self, include_closed: bool = False, kind: str | None = None) -> list[Incident]:
        return self._read.find(include_closed, kind)

    def events_after(self, seq: int, limit: int = 10_000) -> list[IncidentEvent]:
        return self._read.events_after(seq, limit)
