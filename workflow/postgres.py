"""The PostgreSQL backend: psycopg 3 with a connection pool, for a company's service records.

Units of work keep the contract the repositories were written for under SQLite's BEGIN
IMMEDIATE: each one first takes one transaction-scoped advisory lock, so units from every
process and machine run one after another (serialisable by construction), while reads never
wait. A claim unit (the outbox's) skips that lock and takes its rows with `FOR UPDATE SKIP
LOCKED`, so two alerts services send disjoint batches at the same time. The lock wait is
bounded by `lock_timeout` (the busy timeout) and every statement by `statement_timeout`.

Whatever a retry may cure (a lost or refused connection, a timeout, a serialization failure
or deadlock, an empty pool) is StoreBusy: the services back off and run the unit again.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from functools import lru_cache
from typing import Any

import psycopg
from psycopg_pool import ConnectionPool, PoolTimeout

from workflow.port import (
    Conn,
    Health,
    Row,
    StoreBusy,
    WorkflowError,
    WorkflowUnavailable,
    redact,
)

WRITER_LOCK = 0x6865617477617463  # "heatwatc": the advisory lock every non-claim unit takes


@lru_cache(maxsize=2048)
def pg_sql(sql: str) -> str:
    """`?` placeholders as psycopg's `%s` (and a literal `%` as `%%`), outside quoted text."""
    out, quoted = [], False
    for ch in sql:
        if ch == "'":
            quoted = not quoted
        out.append("%s" if ch == "?" and not quoted else "%%" if ch == "%" else ch)
    return "".join(out)


def _args(args: Sequence[Any]) -> tuple[Any, ...]:
    # SQLite keeps flags as 0/1 in INTEGER columns; so does the PostgreSQL schema
    return tuple(int(a) if isinstance(a, bool) else a for a in args)


class PostgresBackend:
    """A pool of connections to one PostgreSQL database."""

    dialect = "postgresql"

    def __init__(self, url: str, busy_timeout_s: float = 10.0,
                 statement_timeout_s: float = 30.0) -> None:
        self.target = redact(url)
        self.health = Health()
        options = (f"-c statement_timeout={int(statement_timeout_s * 1000)} "
                   f"-c lock_timeout={int(busy_timeout_s * 1000)}")
        kwargs: dict[str, Any] = {"options": options, "connect_timeout": 5, "autocommit": True}
        try:  # once, directly: a wrong host, database or password is one line, not a pool retry
            psycopg.connect(url, **kwargs).close()
        except psycopg.Error as e:
            first = (str(e).strip().splitlines() or [type(e).__name__])[-1]
            raise WorkflowUnavailable(f"workflow database {self.target}: {first}") from None
        self._pool = ConnectionPool(url, kwargs=kwargs, min_size=1, max_size=8, open=True,
                                    timeout=busy_timeout_s, check=ConnectionPool.check_connection,
                                    name="workflow")
        self._local = threading.local()
        self.reader = Conn(self._read, writable=False, dialect=self.dialect)

    @contextmanager
    def _guard(self) -> Iterator[None]:
        try:
            yield
        except (psycopg.OperationalError, psycopg.InterfaceError, PoolTimeout) as e:
            text = (str(e).strip().splitlines() or [type(e).__name__])[0]
            self.health.reason = f"workflow database busy: {text}"
            raise StoreBusy(f"workflow database busy: {text}") from None

    @staticmethod
    def _run(c: psycopg.Connection[Any], sql: str, args: Sequence[Any]) -> tuple[list[Row], int]:
        cur = c.execute(pg_sql(sql), _args(args)) if args else c.execute(sql)
        rows = [tuple(r) for r in cur.fetchall()] if cur.description is not None else []
        return rows, cur.rowcount

    def _read(self, sql: str, args: Sequence[Any]) -> tuple[list[Row], int]:
        with self._guard(), self._pool.connection() as c:
            return self._run(c, sql, args)

    def script(self, conn: Conn, sql: str) -> None:
        """Run a migration file inside the unit of `conn` (one execute: no parameters)."""
        conn.run(sql)

    @contextmanager
    def transaction(self, claim: bool = False) -> Iterator[Conn]:
        if getattr(self._local, "open", False):
            raise WorkflowError("workflow: units of work do not nest")
        self._local.open = True
        try:
            with self._guard(), self._pool.connection() as c:
                c.execute("BEGIN")
                try:
                    if not claim:
                        c.execute("SELECT pg_advisory_xact_lock(%s)", (WRITER_LOCK,))
                    yield Conn(lambda sql, args: self._run(c, sql, args), writable=True,
                               dialect=self.dialect)
                    c.execute("COMMIT")
                except BaseException:
                    if not c.closed and c.info.transaction_status != 0:  # not IDLE
                        with suppress(psycopg.Error):
                            c.execute("ROLLBACK")
                    raise
            self.health.reason = ""
        finally:
            self._local.open = False

    def close(self) -> None:
        self._pool.close()
