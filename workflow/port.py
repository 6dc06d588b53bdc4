"""The workflow database port's parts: a connection to run statements on, units of work, and
the errors the services act on. Two backends sit behind it: one SQLite file in WAL mode (the
embedded default, `workflow/sqlite.py`) and PostgreSQL (`[site] workflow_url`,
`workflow/postgres.py`).

The repositories (`workflow/*.py`) write one SQL for both: `?` placeholders (the PostgreSQL
backend translates them), `ON CONFLICT ... DO NOTHING/UPDATE`, no rowid, no SQLite-only
functions, `... FOR UPDATE SKIP LOCKED` where a claim needs row locks (SQLite, whose units
already hold the one write lock, drops the clause). Tables come from the migrations
(`workflow/migrate.py`), never from the repositories.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

Row = tuple[Any, ...]


class WorkflowError(Exception):
    """A misuse of the workflow database (a write outside a unit of work), or a database this
    heatwatch cannot use (one made by a newer heatwatch)."""


class WorkflowUnavailable(WorkflowError):
    """The workflow database cannot be opened at all (a wrong URL, password or path): said in
    one line, with the password taken out."""


class StoreBusy(Exception):
    """The workflow database is locked by another writer past the busy timeout, cannot be
    reached, or gave up a transaction to a concurrent one: transient. Loops back off and
    retry; HTTP answers 503 with Retry-After."""


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


@dataclass(frozen=True, slots=True)
class Done:
    """What a write statement did: the rows it changed."""

    rowcount: int


# a backend runs one statement: (sql, args) -> (rows, rowcount); it raises StoreBusy itself
Execute = Callable[[str, Sequence[Any]], tuple[list[Row], int]]


class Conn:
    """What a repository runs its statements on: a transaction's connection, or a reader.

    A reader (outside any unit of work) refuses writes, so every change goes through a unit.
    """

    def __init__(self, execute: Execute, writable: bool, dialect: str = "sqlite") -> None:
        self._execute = execute
        self.writable = writable
        self.dialect = dialect

    def rows(self, sql: str, args: Sequence[Any] = ()) -> list[Row]:
        return self._execute(sql, args)[0]

    def one(self, sql: str, args: Sequence[Any] = ()) -> Row | None:
        got = self.rows(sql, args)
        return got[0] if got else None

    def run(self, sql: str, args: Sequence[Any] = ()) -> Done:
        if not self.writable:
            raise WorkflowError("workflow: a write outside a unit of work")
        return Done(self._execute(sql, args)[1])


class Backend(Protocol):
    """One kind of database behind the port."""

    health: Health
    reader: Conn
    target: str  # what it opened, shown in messages (a file, or a URL without its password)

    def transaction(self, claim: bool = False) -> AbstractContextManager[Conn]: ...

    def script(self, conn: Conn, sql: str) -> None: ...

    def close(self) -> None: ...


def redact(url: str) -> str:
    """The URL without its password (it is shown in errors and logs)."""
    return re.sub(r"(://[^:/@]*):[^@]*@", r"\1:***@", url)


def is_url(target: Path | str) -> bool:
    """Whether a workflow location is a PostgreSQL URL (else a SQLite file path)."""
    return isinstance(target, str) and target.startswith(("postgresql://", "postgres://"))
