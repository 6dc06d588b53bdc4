"""Residents' calls as stored: the calls, their append-only audit, the suspended accounts.

Every change of state is conditional on the state and owner the caller read (首问责任制: the
clerk who took a call owns it until it closes); a change that finds them moved is refused.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from workflow.db import Conn, Row, WorkflowError

# its tables: workflow/migrations (the calls tables)

# open: taken, being handled; resolved: result and reply given, a repair waits for its return
# visit; closed: done (the seed's feedback kept); refused: an application not accepted
OPEN_STATES = ("open", "resolved")
_COLS = ("call_id, kind, account_id, building_id, substation_id, received_ms, taken_by, owner, "
         "due_ms, state, incident_key, order_id, text, reporter, result, reply, satisfaction, "
         "resolved_ms, visit_due_ms, closed_ms, updated_ms")
_N = len(_COLS.split(","))


class CallConflict(WorkflowError):
    """The call moved (state or owner) since it was read; nothing was changed."""


@dataclass(slots=True)
class Call:
    """One resident's call as stored (reporter: who reported, only a supervisor sees it)."""

    call_id: str
    kind: str
    account_id: str
    building_id: str
    substation_id: str
    received_ms: int
    taken_by: str
    owner: str
    due_ms: int | None
    state: str
    incident_key: str = ""
    order_id: str = ""
    text: str = ""
    reporter: str = ""
    result: str = ""
    reply: str = ""
    satisfaction: str = ""
    resolved_ms: int | None = None
    visit_due_ms: int | None = None
    closed_ms: int | None = None
    updated_ms: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__slots__}

    @property
    def is_open(self) -> bool:
        return self.state in OPEN_STATES


def _call(r: Row) -> Call:
    return Call(*r)


class Calls:
    """The call repository."""

    def __init__(self, conn: Conn) -> None:
        self._c = conn

    def insert(self, c: Call) -> None:
        self._c.run(f"INSERT INTO desk_call ({_COLS}) VALUES ({','.join('?' * _N)})",
                    tuple(getattr(c, k) for k in Call.__slots__))

    def get(self, call_id: str) -> Call | None:
        r = self._c.one(f"SELECT {_COLS} FROM desk_call WHERE call_id = ?", (call_id,))
        return _call(r) if r else None

    def find(self, include_closed: bool = False, account_id: str | None = None) -> list[Call]:
        where: list[str] = []
        args: list[Any] = []
        if not include_closed:
            where.append(f"state IN ({','.join('?' * len(OPEN_STATES))})")
            args += OPEN_STATES
        if account_id is not None:
            where.append("account_id = ?")
            args.append(account_id)
        clause = ("WHERE " + " AND ".join(where)) if where else ""
        return [_call(r) for r in self._c.rows(
            f"SELECT {_COLS} FROM desk_call {clause} ORDER BY received_ms, call_id", args)]

    def in_building(self, building_id: str, kinds: tuple[str, ...], since_ms: int,
                    until_ms: int) -> list[Call]:
        """The calls of these kinds from one building received in [since, until]."""
        return [_call(r) for r in self._c.rows(
            f"SELECT {_COLS} FROM desk_call WHERE building_id = ? AND received_ms BETWEEN ? AND ? "
            f"AND kind IN ({','.join('?' * len(kinds))}) ORDER BY received_ms",
            (building_id, since_ms, until_ms, *kinds))]

    def change(self, read: Call, changes: dict[str, Any], at_ms: int) -> None:
        """Store `changes` if the call still has the state and owner it was read with."""
        sets = ", ".join(f"{k}=?" for k in changes)
        cur = self._c.run(f"UPDATE desk_call SET {sets}, updated_ms=? WHERE call_id=? AND "
                          "state=? AND owner=?",
                          (*changes.values(), at_ms, read.call_id, read.state, read.owner))
        if cur.rowcount != 1:
            raise CallConflict(f"call {read.call_id} changed since it was read "
                               f"(was {read.state}, owner {read.owner}); nothing done")

    def audit(self, call_id: str, at_ms: int, actor: str, action: str, from_state: str,
              to_state: str, note: str = "") -> None:
        self._c.run("INSERT INTO desk_call_audit (call_id, at_ms, actor, action, from_state, "
                    "to_state, note) VALUES (?,?,?,?,?,?,?)",
                    (call_id, at_ms, actor, action, from_state, to_state, note))

    def history(self, call_id: str) -> list[dict[str, Any]]:
        cols = ("seq", "at_ms", "actor", "action", "from_state", "to_state", "note")
        rows = self._c.rows(f"SELECT {', '.join(cols)} FROM desk_call_audit WHERE call_id = ? "
                            "ORDER BY seq", (call_id,))
        return [dict(zip(cols, r, strict=True)) for r in rows]

    def suspend(self, account_id: str, season: int, call_id: str) -> None:
        self._c.run("INSERT INTO desk_suspension (account_id, season, call_id) "
                    "VALUES (?,?,?) ON CONFLICT DO NOTHING", (account_id, season, call_id))

    def suspended(self, season: int) -> set[str]:
        """The accounts suspended for a season (not counted in compliance, notices or
        compensation)."""
        return {r[0] for r in self._c.rows(
            "SELECT account_id FROM desk_suspension WHERE season = ?", (season,))}
