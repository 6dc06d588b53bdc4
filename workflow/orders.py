"""Work orders as stored: the orders, their deadlines, the append-only audit log, counters."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from workflow.db import Conn, Row

# its tables: workflow/migrations (the orders tables)

_ORDER_COLS = ("order_id, incident_key, incident_kind, kind, crew, owner, state, substation_id, "
               "building_id, account_id, address, summary, started_ms, opened_ms, updated_ms, "
               "resolved_ms, closed_ms, passed")
_AUDIT_COLS = ("seq", "at_ms", "actor", "action", "from_state", "to_state", "note")


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

    def as_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__slots__}


@dataclass(frozen=True, slots=True)
class Deadline:
    """One step of one order that must happen by `due_ms`; the limit runs from `start_ms`."""

    order_id: str
    step: str
    start_ms: int
    due_ms: int

    @property
    def limit_ms(self) -> int:
        return self.due_ms - self.start_ms

    def warn_ms(self, share: float) -> int:
        """When the escalation share of the limit is used up."""
        # issue 5: escalate at a share of each limit (default 80 %) and again at breach
        return self.start_ms + round(self.limit_ms * share)


@dataclass(frozen=True, slots=True)
class DeadlineRow:
    """A stored deadline with its completion and escalation state."""

    deadline: Deadline
    done_ms: int | None
    warned_ms: int | None
    breached_ms: int | None


class StaleOrder(Exception):
    """A conditional update found the order no longer as it was read."""


def _order(r: Row) -> Order:
    return Order(r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8], r[9], r[10], r[11],
                 int(r[12]), int(r[13]), int(r[14]), r[15], r[16], json.loads(r[17]))


class Orders:
    """The order repository: orders and their audit log."""

    def __init__(self, conn: Conn) -> None:
        self._c = conn

    def insert(self, o: Order) -> None:
        self._c.run(f"INSERT INTO alert_order ({_ORDER_COLS}) VALUES ({','.join('?' * 18)})",
                    (o.order_id, o.incident_key, o.incident_kind, o.kind, o.crew, o.owner,
                     o.state, o.substation_id, o.building_id, o.account_id, o.address,
                     o.summary, o.started_ms, o.opened_ms, o.updated_ms, o.resolved_ms,
                     o.closed_ms, json.dumps(o.passed)))

    def set_state(self, o: Order, was: Order | None = None) -> None:
        """Store the order's state, owner, times and the states it passed; with `was` (the
        order as it was read), only if its state and owner are still those, else StaleOrder
        (another process or thread changed it in between)."""
        sql = ("UPDATE alert_order SET state=?, owner=?, updated_ms=?, resolved_ms=?, "
               "closed_ms=?, passed=? WHERE order_id=?")
        args: list[Any] = [o.state, o.owner, o.updated_ms, o.resolved_ms, o.closed_ms,
                           json.dumps(o.passed), o.order_id]
        if was is not None:
            sql += " AND state=? AND owner=?"
            args += [was.state, was.owner]
        if self._c.run(sql, args).rowcount != 1:
            raise StaleOrder(f"order {o.order_id} changed meanwhile; nothing was stored")

    def audit(self, order_id: str, at_ms: int, actor: str, action: str, from_state: str,
              to_state: str, note: str = "") -> None:
        self._c.run("INSERT INTO order_audit (order_id, at_ms, actor, action, from_state, "
                    "to_state, note) VALUES (?,?,?,?,?,?,?)",
                    (order_id, at_ms, actor, action, from_state, to_state, note))

    def get(self, order_id: str) -> Order | None:
        r = self._c.one(f"SELECT {_ORDER_COLS} FROM alert_order WHERE order_id = ?", (order_id,))
        return _order(r) if r else None

    def for_incident(self, incident_key: str, kind: str | None = None) -> list[Order]:
        """The orders an incident opened (of one order kind, if given)."""
        clause, args = "incident_key = ?", [incident_key]
        if kind is not None:
            clause, args = clause + " AND kind = ?", [incident_key, kind]
        return [_order(r) for r in self._c.rows(
            f"SELECT {_ORDER_COLS} FROM alert_order WHERE {clause} ORDER BY order_id", args)]

    def find(self, include_closed: bool = False) -> list[Order]:
        where = "" if include_closed else "WHERE state NOT IN ('closed', 'cancelled')"
        return [_order(r) for r in self._c.rows(
            f"SELECT {_ORDER_COLS} FROM alert_order {where} ORDER BY opened_ms, order_id")]

    def audit_after(self, seq: int, limit: int = 1000) -> list[dict[str, Any]]:
        """The audit log after a cursor, oldest first (the annotations follow it)."""
        rows = self._c.rows(f"SELECT {', '.join(_AUDIT_COLS)}, order_id FROM order_audit "
                            "WHERE seq > ? ORDER BY seq LIMIT ?", (seq, limit))
        return [dict(zip((*_AUDIT_COLS, "order_id"), r, strict=True)) for r in rows]

    def audit_until(self, as_of_ms: int) -> list[tuple[str, int, str, str]]:
        """Every order's audit lines at or before an instant, oldest first:
        (order id, at, action, state reached) -- what was known then (issue 20)."""
        rows = self._c.rows("SELECT order_id, at_ms, action, to_state FROM order_audit "
                            "WHERE at_ms <= ? ORDER BY seq", (as_of_ms,))
        return [(str(r[0]), int(r[1]), str(r[2]), str(r[3])) for r in rows]

    def history(self, order_id: str) -> list[dict[str, Any]]:
        rows = self._c.rows(f"SELECT {', '.join(_AUDIT_COLS)} FROM order_audit "
                            "WHERE order_id = ? ORDER BY seq", (order_id,))
        return [dict(zip(_AUDIT_COLS, r, strict=True)) for r in rows]


def _deadline(r: Row) -> DeadlineRow:
    return DeadlineRow(Deadline(r[0], r[1], int(r[2]), int(r[3])), r[4], r[5], r[6])


_DEADLINE_COLS = "order_id, step, start_ms, due_ms, done_ms, warned_ms, breached_ms"


class Deadlines:
    """The deadline repository: one row per order step, with its done and escalation marks."""

    def __init__(self, conn: Conn) -> None:
        self._c = conn

    def add(self, d: Deadline) -> None:
        self._c.run("INSERT INTO order_deadline (order_id, step, start_ms, due_ms) "
                    "VALUES (?,?,?,?) ON CONFLICT DO NOTHING",
                    (d.order_id, d.step, d.start_ms, d.due_ms))

    def settle(self, order_id: str, steps: Sequence[str] | None, at_ms: int) -> None:
        """Mark these steps (None: every open one) of the order done at at_ms."""
        if steps is None:
            self._c.run("UPDATE order_deadline SET done_ms=? WHERE order_id=? AND done_ms IS "
                        "NULL", (at_ms, order_id))
            return
        for step in steps:
            # a reopened order's later rounds name the step step:2, step:3, ...
            self._c.run("UPDATE order_deadline SET done_ms=? WHERE order_id=? AND (step=? "
                        "OR step LIKE ?) AND done_ms IS NULL",
                        (at_ms, order_id, step, f"{step}:%"))

    def mark(self, order_id: str, step: str, breach: bool, at_ms: int) -> None:
        """Record the warning (or, with `breach`, the breach) escalation of one step."""
        col = "breached_ms" if breach else "warned_ms"
        self._c.run(f"UPDATE order_deadline SET {col}=? WHERE order_id=? AND step=?",
                    (at_ms, order_id, step))

    def get(self, order_id: str, step: str) -> DeadlineRow | None:
        r = self._c.one(f"SELECT {_DEADLINE_COLS} FROM order_deadline WHERE order_id=? AND "
                        "step=?", (order_id, step))
        return _deadline(r) if r else None

    def find(self, order_id: str | None = None, open_only: bool = False) -> list[DeadlineRow]:
        where, args = [], []
        if order_id is not None:
            where.append("order_id = ?")
            args.append(order_id)
        if open_only:
            where.append("done_ms IS NULL AND breached_ms IS NULL")
        clause = ("WHERE " + " AND ".join(where)) if where else ""
        return [_deadline(r) for r in self._c.rows(
            f"SELECT {_DEADLINE_COLS} FROM order_deadline {clause} ORDER BY seq", args)]

    def added_since(self, seq: int) -> list[tuple[int, DeadlineRow]]:
        """Deadlines stored after a sequence number (this process's or another's), oldest
        first (units commit one after another, so the numbers commit in order)."""
        return [(int(r[0]), _deadline(r[1:])) for r in self._c.rows(
            f"SELECT seq, {_DEADLINE_COLS} FROM order_deadline WHERE seq > ? ORDER BY seq",
            (seq,))]


class Counters:
    """The ingest cursors and the id counters of the alerts side."""

    def __init__(self, conn: Conn) -> None:
        self._c = conn

    def cursor(self, name: str = "incidents") -> int:
        r = self._c.one("SELECT seq FROM alert_cursor WHERE name = ?", (name,))
        return int(r[0]) if r else 0

    def set_cursor(self, seq: int, name: str = "incidents") -> None:
        self._c.run("INSERT INTO alert_cursor (name, seq) VALUES (?, ?) ON CONFLICT(name) "
                    "DO UPDATE SET seq = excluded.seq", (name, seq))

    def next_id(self, name: str, prefix: str) -> str:
        self._c.run("INSERT INTO alert_counter (name, n) VALUES (?, 1) ON CONFLICT(name) "
                    "DO UPDATE SET n = alert_counter.n + 1", (name,))
        r = self._c.one("SELECT n FROM alert_counter WHERE name = ?", (name,))
        return f"{prefix}{int(r[0] if r else 0):06d}"
