"""The workflow database: one SQLite file in WAL mode, its connection and its transactions."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

Row = tuple[Any, ...]


class WorkflowError(Exception):
    """A misuse of the workflow database (a write outside a unit of work)."""


class Conn:
    """What a repository runs its statements on: a transaction's connection, or a reader.

    A reader (outside any unit of work) refuses writes, so every change goes through a unit.
    """

    def __init__(self, db: sqlite3.Connection, lock: threading.RLock, writable: bool) -> None:
        self._db = db
        self._lock = lock
        self.writable = writable

    def rows(self, sql: str, args: Sequence[Any] = ()) -> list[Row]:
        with self._lock:
            return [tuple(r) for r in self._db.execute(sql, tuple(args)).fetchall()]

    def one(self, sql: str, args: Sequence[Any] = ()) -> Row | None:
        got = self.rows(sql, args)
        return got[0] if got else None

    def run(self, sql: str, args: Sequence[Any] = ()) -> sqlite3.Cursor:
        if not self.writable:
            raise WorkflowError("workflow: a write outside a unit of work")
        with self._lock:
            return self._db.execute(sql, tuple(args))


class Database:
    """One connection shared by the threads of a process; a unit of work is one transaction.

    Processes share the file: BEGIN IMMEDIATE takes the write lock at the start of a unit, and
    a writer in another process waits (busy timeout) instead of failing.
    """

    def __init__(self, path: Path | str, schemas: Sequence[str] = ()) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute("PRAGMA busy_timeout=10000")
        for sql in schemas:
            self._db.executescript(sql)
        self.reader = Conn(self._db, self._lock, writable=False)

    @contextmanager
    def transaction(self) -> Iterator[Conn]:
        """Everything written through the yielded connection commits together or not at all."""
        with self._lock:
            if self._db.in_transaction:
                raise WorkflowError("workflow: units of work do not nest")
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield Conn(self._db, self._lock, writable=True)
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def close(self) -> None:
        with self._lock:
            self._db.close()
