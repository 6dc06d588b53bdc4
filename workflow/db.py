"""The workflow database: `Database` opens a SQLite file or a PostgreSQL URL behind the port
(`workflow/port.py`: the connection, the errors, the backend protocol) and applies the
migrations. The port's names are re-exported here, where the repositories import them."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from workflow.migrate import migrate as apply_migrations
from workflow.port import (
    Backend,
    Conn,
    Done,
    Execute,
    Health,
    Row,
    StoreBusy,
    WorkflowError,
    WorkflowUnavailable,
    is_url,
    redact,
)
from workflow.sqlite import SqliteBackend

__all__ = [
    "Backend", "Conn", "Done", "Execute", "Health", "Row", "StoreBusy", "WorkflowError",
    "WorkflowUnavailable", "is_url", "redact", "Database",
]


class Database:
    """The workflow database at `target`: a SQLite file path, or a postgresql:// URL.

    Opening it applies the pending migrations (`workflow/migrate.py`). A unit of work is one
    transaction; units from any thread or process are serialised as SQLite's BEGIN IMMEDIATE
    serialises them, except a claim unit (`claim=True`), which on PostgreSQL runs beside the
    others and takes its rows with `FOR UPDATE SKIP LOCKED`.
    """

    def __init__(self, target: Path | str, busy_timeout_s: float = 10.0,
                 statement_timeout_s: float = 30.0, migrate: bool = True) -> None:
        self._backend: Backend
        if is_url(target):
            from workflow.postgres import PostgresBackend  # psycopg only where it is used

            self._backend = PostgresBackend(str(target), busy_timeout_s, statement_timeout_s)
        else:
            self._backend = SqliteBackend(Path(target), busy_timeout_s)
        self.health = self._backend.health
        self.reader = self._backend.reader
        self.target = self._backend.target
        if migrate:
            try:
                apply_migrations(self)
            except BaseException:
                self.close()
                raise

    @property
    def dialect(self) -> str:
        return self.reader.dialect

    @contextmanager
    def transaction(self, claim: bool = False) -> Iterator[Conn]:
        """Everything written through the yielded connection commits together or not at all."""
        with self._backend.transaction(claim) as conn:
            yield conn

    def script(self, conn: Conn, sql: str) -> None:
        """Run a migration file's statements inside the unit of `conn`."""
        self._backend.script(conn, sql)

    def close(self) -> None:
        self._backend.close()

