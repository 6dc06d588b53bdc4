"""The desk's staff as stored: people and roles, sessions, failed sign-ins, the audit log.

A person's password is stored only as its argon2 hash; a session only as the hash of its
token. The audit log is append-only: every action at the desk, every view of a resident's full
phone number, every refusal, with the person's name.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from workflow.db import Conn

ROLES = ("clerk", "dispatcher", "measurer", "supervisor")

# its tables: workflow/migrations (the staff tables)


@dataclass(frozen=True, slots=True)
class Person:
    name: str
    role: str
    password_hash: str
    active: bool


@dataclass(frozen=True, slots=True)
class Session:
    name: str
    csrf: str
    expires_ms: int


class Staff:
    """The staff repository."""

    def __init__(self, conn: Conn) -> None:
        self._c = conn

    # -- people ------------------------------------------------------------------------------
    def put(self, name: str, role: str, password_hash: str, at_ms: int) -> None:
        """Add a person, or change an existing one's role and password."""
        if role not in ROLES:
            raise ValueError(f"unknown role {role!r} (known: {', '.join(ROLES)})")
        self._c.run("INSERT INTO desk_staff (name, role, password_hash, active, created_ms) "
                    "VALUES (?,?,?,1,?) ON CONFLICT(name) DO UPDATE SET role=excluded.role, "
                    "password_hash=excluded.password_hash, active=1",
                    (name, role, password_hash, at_ms))

    def get(self, name: str) -> Person | None:
        r = self._c.one("SELECT name, role, password_hash, active FROM desk_staff WHERE name=?",
                        (name,))
        return Person(r[0], r[1], r[2], bool(r[3])) if r else None

    def find(self) -> list[Person]:
        return [Person(r[0], r[1], r[2], bool(r[3])) for r in self._c.rows(
            "SELECT name, role, password_hash, active FROM desk_staff ORDER BY name")]

    def set_hash(self, name: str, password_hash: str) -> None:
        self._c.run("UPDATE desk_staff SET password_hash=? WHERE name=?", (password_hash, name))

    # -- sessions ----------------------------------------------------------------------------
    def open_session(self, token_hash: str, name: str, csrf: str, at_ms: int,
                     expires_ms: int) -> None:
        self._c.run("DELETE FROM desk_session WHERE expires_ms < ?", (at_ms,))
        self._c.run("INSERT INTO desk_session (token_hash, name, csrf, created_ms, expires_ms) "
                    "VALUES (?,?,?,?,?)", (token_hash, name, csrf, at_ms, expires_ms))

    def session(self, token_hash: str) -> Session | None:
        r = self._c.one("SELECT name, csrf, expires_ms FROM desk_session WHERE token_hash=?",
                        (token_hash,))
        return Session(r[0], r[1], int(r[2])) if r else None

    def touch_session(self, token_hash: str, expires_ms: int) -> None:
        self._c.run("UPDATE desk_session SET expires_ms=? WHERE token_hash=?",
                    (expires_ms, token_hash))

    def close_session(self, token_hash: str) -> None:
        self._c.run("DELETE FROM desk_session WHERE token_hash=?", (token_hash,))

    # -- failed sign-ins ---------------------------------------------------------------------
    def failures(self, who: str) -> tuple[int, int]:
        """(failed sign-ins in a row, when the last was) for a name or an address."""
        r = self._c.one("SELECT failures, last_ms FROM desk_signin_failure WHERE who=?", (who,))
        return (int(r[0]), int(r[1])) if r else (0, 0)

    def fail(self, who: str, at_ms: int) -> None:
        self._c.run("INSERT INTO desk_signin_failure (who, failures, last_ms) VALUES (?,1,?) "
                    "ON CONFLICT(who) DO UPDATE SET failures=desk_signin_failure.failures+1, "
                    "last_ms=excluded.last_ms",
                    (who, at_ms))

    def clear_failures(self, who: str) -> None:
        self._c.run("DELETE FROM desk_signin_failure WHERE who=?", (who,))

    # -- audit -------------------------------------------------------------------------------
    def audit(self, at_ms: int, name: str, action: str, subject: str = "", allowed: bool = True,
              note: str = "") -> None:
        self._c.run("INSERT INTO desk_audit (at_ms, name, action, subject, allowed, note) "
                    "VALUES (?,?,?,?,?,?)", (at_ms, name, action, subject, int(allowed), note))

    def audit_log(self, limit: int = 1000) -> list[dict[str, Any]]:
        cols = ("seq", "at_ms", "name", "action", "subject", "allowed", "note")
        rows = self._c.rows(f"SELECT {', '.join(cols)} FROM desk_audit ORDER BY seq DESC "
                            "LIMIT ?", (limit,))
        return [dict(zip(cols, r, strict=True)) for r in reversed(rows)]
