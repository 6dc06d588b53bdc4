"""The workflow tables in SQLite: orders, their deadlines and audit log, notices, money, outbox."""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from alerts.orders import FINAL, OrderState, Transition
from alerts.sla import Deadline

_SCHEMA = """
CREATE TABLE IF NOT EXISTS alert_order (
    order_id TEXT PRIMARY KEY,
    incident_key TEXT NOT NULL,
    incident_kind TEXT NOT NULL,
    kind TEXT NOT NULL,
    crew TEXT NOT NULL,
    owner TEXT NOT NULL DEFAULT '',
    state TEXT NOT NULL,
    substation_id TEXT NOT NULL DEFAULT '',
    building_id TEXT NOT NULL DEFAULT '',
    account_id TEXT NOT NULL DEFAULT '',
    address TEXT NOT NULL DEFAULT '',
    summary TEXT NOT NULL DEFAULT '',
    started_ms INTEGER NOT NULL,
    opened_ms INTEGER NOT NULL,
    updated_ms INTEGER NOT NULL,
    resolved_ms INTEGER,
    closed_ms INTEGER,
    passed TEXT NOT NULL DEFAULT '[]',
    UNIQUE (incident_key, kind)
);
CREATE INDEX IF NOT EXISTS alert_order_state ON alert_order (state);
CREATE TABLE IF NOT EXISTS order_deadline (
    order_id TEXT NOT NULL,
    step TEXT NOT NULL,
    start_ms INTEGER NOT NULL,
    due_ms INTEGER NOT NULL,
    done_ms INTEGER,
    warned_ms INTEGER,
    breached_ms INTEGER,
    PRIMARY KEY (order_id, step)
);
CREATE INDEX IF NOT EXISTS order_deadline_open ON order_deadline (done_ms, due_ms);
CREATE TABLE IF NOT EXISTS order_audit (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    order_id TEXT NOT NULL,
    at_ms INTEGER NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    from_state TEXT NOT NULL,
    to_state TEXT NOT NULL,
    note TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS order_audit_order ON order_audit (order_id, seq);
-- issue 5: the audit log is append-only
CREATE TRIGGER IF NOT EXISTS order_audit_no_update BEFORE UPDATE ON order_audit
BEGIN SELECT RAISE(ABORT, 'order_audit is append-only'); END;
CREATE TRIGGER IF NOT EXISTS order_audit_no_delete BEFORE DELETE ON order_audit
BEGIN SELECT RAISE(ABORT, 'order_audit is append-only'); END;
CREATE TABLE IF NOT EXISTS notice (
    notice_id TEXT PRIMARY KEY,
    incident_key TEXT NOT NULL,
    account_id TEXT NOT NULL,
    building_id TEXT NOT NULL,
    substation_id TEXT NOT NULL,
    at_ms INTEGER NOT NULL,
    delivery TEXT NOT NULL,
    reason TEXT NOT NULL,
    expected_restore_ms INTEGER,
    text TEXT NOT NULL,
    UNIQUE (incident_key, account_id)
);
CREATE TABLE IF NOT EXISTS compensation (
    incident_key TEXT NOT NULL,
    account_id TEXT NOT NULL,
    started_ms INTEGER NOT NULL,
    duration_h REAL NOT NULL,
    days INTEGER NOT NULL,
    season_fee_cny TEXT NOT NULL,
    season_days INTEGER NOT NULL,
    amount_cny TEXT NOT NULL,
    final INTEGER NOT NULL DEFAULT 0,
    updated_ms INTEGER NOT NULL,
    PRIMARY KEY (incident_key, account_id)
);
CREATE TABLE IF NOT EXISTS billing_basis (
    incident_key TEXT NOT NULL,
    account_id TEXT NOT NULL,
    basis TEXT NOT NULL,
    from_ms INTEGER NOT NULL,
    to_ms INTEGER,
    cause TEXT NOT NULL,
    PRIMARY KEY (incident_key, account_id)
);
CREATE TABLE IF NOT EXISTS outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    dedup_key TEXT NOT NULL UNIQUE,
    channel TEXT NOT NULL,
    target TEXT NOT NULL DEFAULT '',
    title TEXT NOT NULL,
    body TEXT NOT NULL,
    data TEXT NOT NULL DEFAULT '{}',
    created_ms INTEGER NOT NULL,
    next_ms INTEGER NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    status TEXT NOT NULL DEFAULT 'pending',
    sent_ms INTEGER,
    last_error TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS outbox_due ON outbox (status, channel, next_ms);
CREATE TABLE IF NOT EXISTS alert_cursor (name TEXT PRIMARY KEY, seq INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS alert_counter (name TEXT PRIMARY KEY, n INTEGER NOT NULL);
"""

_ORDER_COLS = ("order_id, incident_key, incident_kind, kind, crew, owner, state, substation_id, "
               "building_id, account_id, address, summary, started_ms, opened_ms, updated_ms, "
               "resolved_ms, closed_ms, passed")


@dataclass(slots=True)
class Order:
    """One work order as stored."""

    order_id: str
    incident_key: str
    incident_kind: str
    kind: str
    crew: str
    owner: str
    state: str
    substation_id: str
    building_id: str
    account_id: str
    address: str
    summary: str
    started_ms: int
    opened_ms: int
    updated_ms: int
    resolved_ms: int | None = None
    closed_ms: int | None = None
    passed: list[str] = field(default_factory=list)

    def machine(self) -> OrderState:
        return OrderState(self.order_id, self.kind, self.state, self.owner, self.crew,
                          list(self.passed))

    def as_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__slots__}


@dataclass(frozen=True, slots=True)
class OutboxRow:
    """One message waiting for (or done with) delivery on one channel."""

    id: int
    dedup_key: str
    channel: str
    target: str
    title: str
    body: str
    data: dict[str, Any]
    attempts: int
    status: str


@dataclass(frozen=True, slots=True)
class Message:
    """A message to enqueue: the dedup key makes a second enqueue of it a no-op."""

    dedup_key: str
    channel: str
    title: str
    body: str
    target: str = ""
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class DeadlineRow:
    """A stored deadline with its completion and escalation state."""

    deadline: Deadline
    done_ms: int | None
    warned_ms: int | None
    breached_ms: int | None


class WorkflowStore:
    """SQLite in WAL mode; each workflow change and its outbox rows commit together."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute("PRAGMA busy_timeout=10000")
        self._db.executescript(_SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    @contextmanager
    def tx(self) -> Iterator[sqlite3.Connection]:
        """One transaction: everything inside commits together or not at all."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def _q(self, sql: str, args: Sequence[Any] = ()) -> list[Any]:
        with self._lock:
            return self._db.execute(sql, tuple(args)).fetchall()

    # -- cursor and ids ----------------------------------------------------------------------
    def cursor(self, name: str = "incidents") -> int:
        rows = self._q("SELECT seq FROM alert_cursor WHERE name = ?", (name,))
        return int(rows[0][0]) if rows else 0

    @staticmethod
    def set_cursor(db: sqlite3.Connection, seq: int, name: str = "incidents") -> None:
        db.execute("INSERT INTO alert_cursor (name, seq) VALUES (?, ?) ON CONFLICT(name) "
                   "DO UPDATE SET seq = excluded.seq", (name, seq))

    @staticmethod
    def next_id(db: sqlite3.Connection, name: str, prefix: str) -> str:
        db.execute("INSERT INTO alert_counter (name, n) VALUES (?, 1) ON CONFLICT(name) "
                   "DO UPDATE SET n = n + 1", (name,))
        n = db.execute("SELECT n FROM alert_counter WHERE name = ?", (name,)).fetchone()[0]
        return f"{prefix}{int(n):06d}"

    # -- orders ------------------------------------------------------------------------------
    @staticmethod
    def insert_order(db: sqlite3.Connection, o: Order, deadlines: Sequence[Deadline]) -> None:
        db.execute(f"INSERT INTO alert_order ({_ORDER_COLS}) VALUES "
                   f"({','.join('?' * 18)})",
                   (o.order_id, o.incident_key, o.incident_kind, o.kind, o.crew, o.owner,
                    o.state, o.substation_id, o.building_id, o.account_id, o.address, o.summary,
                    o.started_ms, o.opened_ms, o.updated_ms, o.resolved_ms, o.closed_ms,
                    json.dumps(o.passed)))
        for d in deadlines:
            WorkflowStore.insert_deadline(db, d)

    @staticmethod
    def insert_deadline(db: sqlite3.Connection, d: Deadline) -> None:
        db.execute("INSERT OR IGNORE INTO order_deadline (order_id, step, start_ms, due_ms) "
                   "VALUES (?,?,?,?)", (d.order_id, d.step, d.start_ms, d.due_ms))

    @staticmethod
    def audit(db: sqlite3.Connection, order_id: str, at_ms: int, actor: str, action: str,
              from_state: str, to_state: str, note: str = "") -> None:
        db.execute("INSERT INTO order_audit (order_id, at_ms, actor, action, from_state, "
                   "to_state, note) VALUES (?,?,?,?,?,?,?)",
                   (order_id, at_ms, actor, action, from_state, to_state, note))

    @staticmethod
    def apply_transition(db: sqlite3.Connection, o: Order, t: Transition, at_ms: int) -> None:
        """Write the new state and owner, mark the step's deadline done, append the audit."""
        passed = [*o.passed, t.to_state] if t.to_state != t.from_state else o.passed
        resolved = at_ms if t.to_state == "resolved" else o.resolved_ms
        closed = at_ms if t.to_state in FINAL else o.closed_ms
        db.execute("UPDATE alert_order SET state=?, owner=?, updated_ms=?, resolved_ms=?, "
                   "closed_ms=?, passed=? WHERE order_id=?",
                   (t.to_state, t.owner, at_ms, resolved, closed, json.dumps(passed),
                    o.order_id))
        if t.to_state in FINAL and t.to_state == "cancelled":
            db.execute("UPDATE order_deadline SET done_ms=? WHERE order_id=? AND done_ms IS NULL",
                       (at_ms, o.order_id))
        else:
            # reaching a later state also settles the earlier steps it skipped
            for step in _steps_through(t.to_state):
                db.execute("UPDATE order_deadline SET done_ms=? WHERE order_id=? AND step=? "
                           "AND done_ms IS NULL", (at_ms, o.order_id, step))
        WorkflowStore.audit(db, o.order_id, at_ms, t.actor, t.action, t.from_state,
                            t.to_state, t.note)

    def order(self, order_id: str) -> Order | None:
        rows = self._q(f"SELECT {_ORDER_COLS} FROM alert_order WHERE order_id = ?", (order_id,))
        return _order(rows[0]) if rows else None

    def order_for(self, incident_key: str, kind: str) -> Order | None:
        rows = self._q(f"SELECT {_ORDER_COLS} FROM alert_order WHERE incident_key=? AND kind=?",
                       (incident_key, kind))
        return _order(rows[0]) if rows else None

    def orders(self, include_closed: bool = False) -> list[Order]:
        where = "" if include_closed else "WHERE state NOT IN ('closed', 'cancelled')"
        return [_order(r) for r in self._q(
            f"SELECT {_ORDER_COLS} FROM alert_order {where} ORDER BY opened_ms, order_id")]

    def history(self, order_id: str) -> list[dict[str, Any]]:
        rows = self._q("SELECT seq, at_ms, actor, action, from_state, to_state, note "
                       "FROM order_audit WHERE order_id = ? ORDER BY seq", (order_id,))
        return [dict(zip(("seq", "at_ms", "actor", "action", "from_state", "to_state", "note"),
                         r, strict=True)) for r in rows]

    def deadlines(self, order_id: str | None = None, open_only: bool = False) -> list[DeadlineRow]:
        where, args = [], []
        if order_id is not None:
            where.append("order_id = ?")
            args.append(order_id)
        if open_only:
            where.append("done_ms IS NULL AND breached_ms IS NULL")
        clause = ("WHERE " + " AND ".join(where)) if where else ""
        rows = self._q("SELECT order_id, step, start_ms, due_ms, done_ms, warned_ms, breached_ms "
                       f"FROM order_deadline {clause}", args)
        return [DeadlineRow(Deadline(r[0], r[1], int(r[2]), int(r[3])), r[4], r[5], r[6])
                for r in rows]

    @staticmethod
    def mark_escalated(db: sqlite3.Connection, order_id: str, step: str, mark: str,
                       at_ms: int) -> None:
        col = "warned_ms" if mark == "warn" else "breached_ms"
        db.execute(f"UPDATE order_deadline SET {col}=? WHERE order_id=? AND step=?",
                   (at_ms, order_id, step))

    # -- notices, compensation, billing ------------------------------------------------------
    def notices(self) -> list[dict[str, Any]]:
        cols = ("notice_id", "incident_key", "account_id", "building_id", "substation_id",
                "at_ms", "delivery", "reason", "expected_restore_ms", "text")
        rows = self._q(f"SELECT {', '.join(cols)} FROM notice ORDER BY at_ms, notice_id")
        return [dict(zip(cols, r, strict=True)) for r in rows]

    def compensation(self) -> list[dict[str, Any]]:
        cols = ("incident_key", "account_id", "started_ms", "duration_h", "days",
                "season_fee_cny", "season_days", "amount_cny", "final", "updated_ms")
        rows = self._q(f"SELECT {', '.join(cols)} FROM compensation "
                       "ORDER BY incident_key, account_id")
        return [dict(zip(cols, r, strict=True)) for r in rows]

    def billing_basis(self) -> list[dict[str, Any]]:
        cols = ("incident_key", "account_id", "basis", "from_ms", "to_ms", "cause")
        rows = self._q(f"SELECT {', '.join(cols)} FROM billing_basis ORDER BY from_ms")
        return [dict(zip(cols, r, strict=True)) for r in rows]

    # -- outbox ------------------------------------------------------------------------------
    @staticmethod
    def enqueue(db: sqlite3.Connection, m: Message, now_ms: int) -> bool:
        """Add a message unless its dedup key is already there; True if added."""
        cur = db.execute(
            "INSERT OR IGNORE INTO outbox (dedup_key, channel, target, title, body, data, "
            "created_ms, next_ms) VALUES (?,?,?,?,?,?,?,?)",
            (m.dedup_key, m.channel, m.target, m.title, m.body,
             json.dumps(m.data, ensure_ascii=False, sort_keys=True), now_ms, now_ms))
        return cur.rowcount == 1

    def due_messages(self, channel: str, now_ms: int, limit: int) -> list[OutboxRow]:
        # 'sending' rows are from a run that died mid-send: the receiver dedups by key
        rows = self._q("SELECT id, dedup_key, channel, target, title, body, data, attempts, "
                       "status FROM outbox WHERE status IN ('pending', 'sending') AND channel=? "
                       "AND next_ms <= ? ORDER BY id LIMIT ?", (channel, now_ms, limit))
        return [OutboxRow(int(r[0]), r[1], r[2], r[3], r[4], r[5], json.loads(r[6]), int(r[7]),
                          r[8]) for r in rows]

    def pending_channels(self, now_ms: int) -> list[str]:
        return [r[0] for r in self._q("SELECT DISTINCT channel FROM outbox WHERE status IN "
                                      "('pending', 'sending') AND next_ms <= ?", (now_ms,))]

    def mark_sending(self, row_id: int) -> None:
        with self.tx() as db:
            db.execute("UPDATE outbox SET status='sending', attempts=attempts+1 WHERE id=?",
                       (row_id,))

    def mark_sent(self, row_id: int, now_ms: int) -> None:
        with self.tx() as db:
            db.execute("UPDATE outbox SET status='sent', sent_ms=?, last_error='' WHERE id=?",
                       (now_ms, row_id))

    def mark_failed(self, row_id: int, next_ms: int, error: str, dead: bool) -> None:
        with self.tx() as db:
            db.execute("UPDATE outbox SET status=?, next_ms=?, last_error=? WHERE id=?",
                       ("dead" if dead else "pending", next_ms, error[:500], row_id))

    def outbox(self, status: str | None = None) -> list[dict[str, Any]]:
        cols = ("id", "dedup_key", "channel", "target", "title", "attempts", "status",
                "created_ms", "next_ms", "sent_ms", "last_error")
        where = "WHERE status = ?" if status else ""
        rows = self._q(f"SELECT {', '.join(cols)} FROM outbox {where} ORDER BY id",
                       (status,) if status else ())
        return [dict(zip(cols, r, strict=True)) for r in rows]


def _steps_through(state: str) -> list[str]:
    from alerts.orders import STATES

    return list(STATES[:STATES.index(state) + 1])


def _order(r: Sequence[Any]) -> Order:
    return Order(r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8], r[9], r[10], r[11],
                 int(r[12]), int(r[13]), int(r[14]), r[15], r[16], json.loads(r[17]))
