"""Measurement orders (测温工单, issue 22) as stored: who asked for a measurement, which measurer
goes, by when, and the record that closed it.

An order starts from a 测温 call, a cold-room flag of the analyzer or a supervisor; it is
assigned to a measurer (staff role `measurer`) and closed by the record submitted from the
measurer's phone. Every change is conditional on the state and measurer the caller read, as
calls and crew orders are: of two assignments or two submissions at the same moment, one wins
and the other is refused with nothing changed. The history is append-only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from workflow.db import Conn, Row, WorkflowError

SCHEMA = """
CREATE TABLE IF NOT EXISTS measurement_order (
    order_id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL,
    source TEXT NOT NULL,
    source_ref TEXT NOT NULL DEFAULT '',
    opened_ms INTEGER NOT NULL,
    opened_by TEXT NOT NULL,
    due_ms INTEGER,
    state TEXT NOT NULL,
    measurer TEXT NOT NULL DEFAULT '',
    record_id TEXT NOT NULL DEFAULT '',
    note TEXT NOT NULL DEFAULT '',
    updated_ms INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS measurement_order_state ON measurement_order (state, due_ms);
CREATE INDEX IF NOT EXISTS measurement_order_ref ON measurement_order (source_ref);
CREATE TABLE IF NOT EXISTS measurement_order_audit (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    order_id TEXT NOT NULL,
    at_ms INTEGER NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    from_state TEXT NOT NULL,
    to_state TEXT NOT NULL,
    note TEXT NOT NULL DEFAULT ''
);
CREATE TRIGGER IF NOT EXISTS measurement_order_audit_no_update
BEFORE UPDATE ON measurement_order_audit
BEGIN SELECT RAISE(ABORT, 'measurement_order_audit is append-only'); END;
CREATE TRIGGER IF NOT EXISTS measurement_order_audit_no_delete
BEFORE DELETE ON measurement_order_audit
BEGIN SELECT RAISE(ABORT, 'measurement_order_audit is append-only'); END;
"""

# where an order comes from: a 测温 call, a cold-room incident, a supervisor at the desk
SOURCES = ("call", "cold_room", "supervisor")
# opened → assigned → measured; cancelled by a supervisor before it is measured
STATES = ("opened", "assigned", "measured", "cancelled")
OPEN_STATES = ("opened", "assigned")
STATE_TEXT = {"opened": "待派单", "assigned": "已派测温员", "measured": "已测温",
              "cancelled": "已取消"}
SOURCE_TEXT = {"call": "测温来电", "cold_room": "室温偏低告警", "supervisor": "主管派发"}
_COLS = ("order_id", "account_id", "source", "source_ref", "opened_ms", "opened_by", "due_ms",
         "state", "measurer", "record_id", "note", "updated_ms")


class VisitConflict(WorkflowError):
    """The order moved (state or measurer) since it was read, or the move is not allowed;
    nothing was changed."""


@dataclass(slots=True)
class MeasureOrder:
    order_id: str
    account_id: str
    source: str
    source_ref: str
    opened_ms: int
    opened_by: str
    due_ms: int | None
    state: str = "opened"
    measurer: str = ""
    record_id: str = ""
    note: str = ""
    updated_ms: int = 0

    @property
    def is_open(self) -> bool:
        return self.state in OPEN_STATES

    def as_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in _COLS}


def _order(r: Row) -> MeasureOrder:
    return MeasureOrder(*r)


class Visits:
    """The measurement-order repository."""

    def __init__(self, conn: Conn) -> None:
        self._c = conn

    def open(self, o: MeasureOrder) -> MeasureOrder:
        """Store a new order (its id given by the caller, from the counters)."""
        if o.source not in SOURCES:
            raise VisitConflict(f"unknown source {o.source!r} (known: {', '.join(SOURCES)})")
        o.state, o.updated_ms = ("assigned" if o.measurer else "opened"), o.opened_ms
        self._c.run(f"INSERT INTO measurement_order ({', '.join(_COLS)}) "
                    f"VALUES ({', '.join('?' * len(_COLS))})", tuple(o.as_dict().values()))
        self.audit(o.order_id, o.opened_ms, o.opened_by, "open", "", o.state,
                   f"{SOURCE_TEXT[o.source]} {o.source_ref}".strip())
        return o

    def get(self, order_id: str) -> MeasureOrder | None:
        r = self._c.one(f"SELECT {', '.join(_COLS)} FROM measurement_order WHERE order_id=?",
                        (order_id,))
        return _order(r) if r else None

    def find(self, include_closed: bool = False, measurer: str | None = None
             ) -> list[MeasureOrder]:
        where, args = [], []
        if not include_closed:
            where.append(f"state IN ({','.join('?' * len(OPEN_STATES))})")
            args += list(OPEN_STATES)
        if measurer is not None:
            where.append("measurer=?")
            args.append(measurer)
        clause = ("WHERE " + " AND ".join(where)) if where else ""
        return [_order(r) for r in self._c.rows(
            f"SELECT {', '.join(_COLS)} FROM measurement_order {clause} "
            "ORDER BY opened_ms, order_id", args)]

    def of_ref(self, source_ref: str) -> list[MeasureOrder]:
        """The orders opened from one call or incident."""
        return [_order(r) for r in self._c.rows(
            f"SELECT {', '.join(_COLS)} FROM measurement_order WHERE source_ref=? "
            "ORDER BY order_id", (source_ref,))]

    def _move(self, read: MeasureOrder, to: str, at_ms: int, actor: str, action: str,
              why: str, changes: dict[str, Any]) -> MeasureOrder:
        sets = "".join(f", {k}=?" for k in changes)
        cur = self._c.run(f"UPDATE measurement_order SET state=?{sets}, updated_ms=? "
                          "WHERE order_id=? AND state=? AND measurer=?",
                          (to, *changes.values(), at_ms, read.order_id, read.state,
                           read.measurer))
        if cur.rowcount != 1:
            raise VisitConflict(f"测温工单 {read.order_id} 已被他人处理（原为"
                                f"{STATE_TEXT.get(read.state, read.state)}），本次未生效")
        self.audit(read.order_id, at_ms, actor, action, read.state, to, why)
        got = self.get(read.order_id)
        assert got is not None
        return got

    def assign(self, read: MeasureOrder, measurer: str, at_ms: int, actor: str
               ) -> MeasureOrder:
        """Send an open order to a measurer (again: reassign while not yet measured)."""
        if not read.is_open:
            raise VisitConflict(f"测温工单 {read.order_id} {STATE_TEXT[read.state]}，不能派单")
        return self._move(read, "assigned", at_ms, actor, "assign", measurer,
                          {"measurer": measurer})

    def measured(self, read: MeasureOrder, record_id: str, at_ms: int) -> MeasureOrder:
        """Close the order with its record; only its measurer, only once."""
        if read.state != "assigned":
            raise VisitConflict(f"测温工单 {read.order_id} {STATE_TEXT[read.state]}，"
                                "不能再次提交")
        return self._move(read, "measured", at_ms, read.measurer, "measured", record_id,
                          {"record_id": record_id})

    def cancel(self, read: MeasureOrder, at_ms: int, actor: str, note: str) -> MeasureOrder:
        if not read.is_open:
            raise VisitConflict(f"测温工单 {read.order_id} {STATE_TEXT[read.state]}，不能取消")
        return self._move(read, "cancelled", at_ms, actor, "cancel", note, {"note": note})

    def audit(self, order_id: str, at_ms: int, actor: str, action: str, from_state: str,
              to_state: str, note: str = "") -> None:
        self._c.run("INSERT INTO measurement_order_audit (order_id, at_ms, actor, action, "
                    "from_state, to_state, note) VALUES (?,?,?,?,?,?,?)",
                    (order_id, at_ms, actor, action, from_state, to_state, note))

    def history(self, order_id: str) -> list[dict[str, Any]]:
        cols = ("seq", "at_ms", "actor", "action", "from_state", "to_state", "note")
        rows = self._c.rows(f"SELECT {', '.join(cols)} FROM measurement_order_audit "
                            "WHERE order_id=? ORDER BY seq", (order_id,))
        return [dict(zip(cols, r, strict=True)) for r in rows]
