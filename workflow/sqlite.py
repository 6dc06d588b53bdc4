"""The SQLite backend: one file in WAL mode, one connection shared by a process's threads."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from workflow.port import Conn, Health, Row, StoreBusy, WorkflowError
from workflow.private import private_file

# SQLite's units hold the database's one write lock (BEGIN IMMEDIATE): a claim needs no row lock
_ROW_LOCK = " FOR UPDATE SKIP LOCKED"


def transient(e: sqlite3.OperationalError) -> bool:
    text = str(e).lower()
    return any(w in text for w in ("locked", "busy", "unable to open", "disk i/o"))


@contextmanager
def busy_guard(health: Health | None = None) -> Iterator[None]:
    """sqlite's "database is locked" (and the like) as StoreBusy, noted on `health`."""
    try:
        yield
    except sqlite3.OperationalError as e:
        if not transient(e):
            raise
        if health is not None:
            health.reason = f"workflow database busy: {e}"
        raise StoreBusy(f"workflow database busy: {e}") from None


class SqliteBackend:
    """One connection shared by the threads of a process; a unit of work is one transaction.

    Processes share the file: BEGIN IMMEDIATE takes the write lock at the start of a unit, and
    a writer in another process waits (busy timeout) instead of failing.
    """

    def __init__(self, path: Path, busy_timeout_s: float = 10.0) -> None:
        self.path = path
        self.target = str(path)
        private_file(self.path)  # before SQLite opens it: its -wal and -shm take its mode
        self._lock = threading.RLock()
        self.health = Health()
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        with busy_guard(self.health):
            self._db.execute(f"PRAGMA busy_timeout={int(busy_timeout_s * 1000)}")
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
        self.reader = Conn(self._execute, writable=False)

    def _execute(self, sql: str, args: Sequence[Any]) -> tuple[list[Row], int]:
        with self._lock, busy_guard(self.health):
            cur = self._db.execute(sql.replace(_ROW_LOCK, ""), tuple(args))
            rows = [tuple(r) for r in cur.fetchall()]
            return rows, cur.rowcount

    def script(self, conn: Conn, sql: str) -> None:
        """Run a migration's statements, one by one, inside the unit of `conn`."""
        statement = ""
        for line in sql.splitlines(keepends=True):
            statement += line
            if sqlite3.complete_statement(statement):
                conn.run(statement)
                statement = ""
        if statement.strip() and not statement.strip().startswith("--"):
            conn.run(statement)

    @contextmanager
    def transaction(self, claim: bool = False) -> Iterator[Conn]:
        with self._lock:
            if self._db.in_transaction:
                raise WorkflowError("workflow: units of work do not nest")
            with busy_guard(self.health):
                self._db.execute("BEGIN IMMEDIATE")
            try:
                yield Conn(self._execute, writable=True)
                with busy_guard(self.health):
                    self._db.execute("COMMIT")
            except BaseException:
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                raise
            self.health.reason = ""

    def close(self) -> None:
        with self._lock:
            self._db.close()
