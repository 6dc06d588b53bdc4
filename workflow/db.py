"""The workflow database: one SQLite file in WAL mode, its connection and its transactions."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from workflow.private import private_file

Row = tuple[Any, ...]


class WorkflowError(Exception):
    """A misuse of the workflow database (a write outside a unit of work)."""


class StoreBusy(Exception):
    """The workflow database is locked by another writer past the busy timeout, or cannot be
    opened: transient. Loops back off and retry; HTTP answers 503 with Retry-After."""


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


class Health:
    """Why the workflow store is degraded (empty: it is not): the last busy error, until the
    next commit or for `recent_s` after it."""

    def __init__(self, recent_s: float = 60.0) -> None:
        self._reason = ""
        self._at = 0.0
        self.recent_s = recent_s

    @property
    def reason(self) -> str:
        return self._reason if time.monotonic() - self._at < self.recent_s else ""

    @reason.setter
    def reason(self, text: str) -> None:
        self._reason, self._at = text, time.monotonic()


class Conn:
    """What a repository runs its statements on: a transaction's connection, or a reader.

    A reader (outside any unit of work) refuses writes, so every change goes through a unit.
    """

    def __init__(self, db: sqlite3.Connection, lock: threading.RLock, writable: bool,
                 health: Health | None = None) -> None:
        self._db = db
        self._lock = lock
        self.writable = writable
        self._health = health

    def rows(self, sql: str, args: Sequence[Any] = ()) -> list[Row]:
        with self._lock, busy_guard(self._health):
            return [tuple(r) for r in self._db.execute(sql, tuple(args)).fetchall()]

    def one(self, sql: str, args: Sequence[Any] = ()) -> Row | None:
        got = self.rows(sql, args)
        return got[0] if got else None

    def run(self, sql: str, args: Sequence[Any] = ()) -> sqlite3.Cursor:
        if not self.writable:
            raise WorkflowError("workflow: a write outside a unit of work")
        with self._lock, busy_guard(self._health):
            return self._db.execute(sql, tuple(args))


class Database:
    """One connection shared by the threads of a process; a unit of work is one transaction.

    Processes share the file: BEGIN IMMEDIATE takes the write lock at the start of a unit, and
    a writer in another process waits (busy timeout) instead of failing.
    """

    def __init__(self, path: Path | str, schemas: Sequence[str] = (),
                 busy_timeout_s: float = 10.0) -> None:
        self.path = Path(path)
        private_file(self.path)  # before SQLite opens it: its -wal and -shm take its mode
        self._lock = threading.RLock()
        self.health = Health()
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        with busy_guard(self.health):
            self._db.execute(f"PRAGMA busy_timeout={int(busy_timeout_s * 1000)}")
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            for sql in schemas:
                self._db.executescript(sql)
        self.reader = Conn(self._db, self._lock, writable=False, health=self.health)

    @contextmanager
    def transaction(self) -> Iterator[Conn]:
        """Everything written through the yielded connection commits together or not at all."""
        with self._lock:
            if self._db.in_transaction:
                raise WorkflowError("workflow: units of work do not nest")
            with busy_guard(self.health):
                self._db.execute("BEGIN IMMEDIATE")
            try:
                yield Conn(self._db, self._lock, writable=True, health=self.health)
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
