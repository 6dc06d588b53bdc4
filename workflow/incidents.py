"""Incidents with an open / update / close lifecycle, and the event log alerts consume."""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# The kinds the analyzer raises; alerts maps each to its handlers.
INCIDENT_KINDS = (
    "room_cold",          # a room's trailing mean below 18 °C (the fast dispatch signal)
    "compliance_breach",  # a substation's daily compliance below 97 %
    "sensor_fault",       # a room thermometer silent, stuck or out of range
    "meter_fault",        # a heat-meter fault sign; details say cause and human / non-human
    "meter_comm",         # a meter not read for >= 2 expected intervals
    "outage",             # a substation out (pump off, or cold supply with no ΔT)
    "building_outage",    # a building without flow / ΔT while its substation runs
    "leak",               # make-up water above 2 % of circulation, or holding pressure sag
)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS incident (
    key TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    subject TEXT NOT NULL,
    substation_id TEXT NOT NULL DEFAULT '',
    building_id TEXT NOT NULL DEFAULT '',
    account_id TEXT NOT NULL DEFAULT '',
    cause TEXT NOT NULL DEFAULT '',
    started_ms INTEGER NOT NULL,
    detected_ms INTEGER NOT NULL,
    updated_ms INTEGER NOT NULL,
    closed_ms INTEGER,
    details TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX IF NOT EXISTS incident_open ON incident (closed_ms, kind);
CREATE TABLE IF NOT EXISTS incident_event (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    key TEXT NOT NULL,
    event TEXT NOT NULL,
    at_ms INTEGER NOT NULL,
    details TEXT NOT NULL DEFAULT '{}'
);
"""


@dataclass(slots=True)
class Incident:
    """One thing that went wrong, identified by a stable key so re-runs never duplicate it.

    `started_ms` is when the condition began (the clock of service-time limits);
    `detected_ms` when the analyzer first saw it; `closed_ms` None while it runs.
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
    details: dict[str, Any] = field(default_factory=dict)

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
    details: dict[str, Any]


def incident_key(kind: str, subject: str, started_ms: int, cause: str = "") -> str:
    """The identity of an incident: what, where, which cause, and when it began."""
    return f"{kind}:{subject}:{cause}:{started_ms}"


class IncidentStore:
    """SQLite in WAL mode; every change is one transaction with its event."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(_SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._db.close()

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
        events: list[tuple[str, str, int, dict[str, Any]]] = []
        with self._lock, self._db:
            rows = self._db.execute(
                f"SELECT key, kind, subject, closed_ms, details FROM incident "
                f"WHERE kind IN ({','.join('?' * len(kinds))})", tuple(kinds)).fetchall()
            known = {r[0]: r for r in rows}
            for key, inc in found_by_key.items():
                row = known.get(key)
                details = json.dumps(inc.details, sort_keys=True, ensure_ascii=False)
                if row is None:
                    self._db.execute(
                        "INSERT INTO incident (key, kind, subject, substation_id, building_id, "
                        "account_id, cause, started_ms, detected_ms, updated_ms, closed_ms, "
                        "details) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                        (key, inc.kind, inc.subject, inc.substation_id, inc.building_id,
                         inc.account_id, inc.cause, inc.started_ms, now_ms, now_ms,
                         inc.closed_ms, details))
                    events.append((key, "opened", now_ms, inc.details))
                    if inc.closed_ms is not None:
                        events.append((key, "closed", inc.closed_ms, inc.details))
                    continue
                was_closed = row[3] is not None
                if row[4] != details or (inc.closed_ms is not None) != was_closed:
                    self._db.execute(
                        "UPDATE incident SET details=?, updated_ms=?, closed_ms=? WHERE key=?",
                        (details, now_ms, inc.closed_ms, key))
                    if inc.closed_ms is not None and not was_closed:
                        events.append((key, "closed", inc.closed_ms, inc.details))
                    elif inc.closed_ms is None and was_closed:
                        events.append((key, "opened", now_ms, inc.details))
                    else:
                        events.append((key, "updated", now_ms, inc.details))
            scoped = {k: set(v) for k, v in scope.items()} if scope is not None else None
            for key, (_, kind, subject, closed_ms, details) in known.items():
                if key in found_by_key or closed_ms is not None:
                    continue
                if scoped is not None and subject not in scoped.get(kind, set()):
                    continue
                self._db.execute("UPDATE incident SET closed_ms=?, updated_ms=? WHERE key=?",
                                 (now_ms, now_ms, key))
                events.append((key, "closed", now_ms, json.loads(details)))
            out = []
            for key, event, at_ms, det in events:
                cur = self._db.execute(
                    "INSERT INTO incident_event (key, event, at_ms, details) VALUES (?,?,?,?)",
                    (key, event, at_ms, json.dumps(det, sort_keys=True, ensure_ascii=False)))
                out.append(IncidentEvent(int(cur.lastrowid or 0), key, event, at_ms, det))
        return out

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
        with self._lock:
            rows = self._db.execute(
                "SELECT seq, key, event, at_ms, details FROM incident_event WHERE seq > ? "
                "ORDER BY seq LIMIT ?", (seq, limit)).fetchall()
        return [IncidentEvent(int(s), k, e, int(a), json.loads(d)) for s, k, e, a, d in rows]

    def _select(self, clause: str, args: tuple[Any, ...]) -> list[Incident]:
        with self._lock:
            rows = self._db.execute(
                "SELECT key, kind, subject, started_ms, substation_id, building_id, account_id, "
                "cause, detected_ms, updated_ms, closed_ms, details FROM incident " + clause,
                args).fetchall()
        return [Incident(r[0], r[1], r[2], int(r[3]), r[4], r[5], r[6], r[7], int(r[8]),
                         int(r[9]), None if r[10] is None else int(r[10]), json.loads(r[11]))
                for r in rows]
