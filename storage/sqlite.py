"""The embedded store: one SQLite file in WAL mode, a table per measurement."""

from __future__ import annotations

import math
import sqlite3
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from district.readings import FieldValue, Reading
from storage.base import Frame, StoreError, StoreRejected, StoreUnavailable
from storage.frames import aggregate_columns, check_aggregate, empty_frame
from workflow.private import private_file

# column names: a prefix keeps tags, fields and our two key columns apart
TAG_PREFIX = "tag_"
FIELD_PREFIX = "field_"
DEVICE_COLUMN = TAG_PREFIX + "device_id"
_SQL_AGGREGATE = {"mean": "avg", "min": "min", "max": "max", "sum": "sum", "count": "count"}
_KEY_ESCAPE = str.maketrans({",": r"\,", "=": r"\=", "\\": "\\\\"})

Row = tuple[Any, ...]


def quote(name: str) -> str:
    """A SQLite quoted identifier."""
    return '"' + name.replace('"', '""') + '"'


def series_key(tags: dict[str, str]) -> str:
    """Sorted, escaped `k=v` pairs of the non-empty tags: a series' identity within a table."""
    return ",".join(f"{k.translate(_KEY_ESCAPE)}={v.translate(_KEY_ESCAPE)}"
                    for k, v in sorted(tags.items()))


def _value(name: str, v: FieldValue | str) -> float | int | str:
    if isinstance(v, str):
        return v  # a string field (the alerts' annotations), as InfluxDB keeps it
    if isinstance(v, bool):
        return int(v)
    if isinstance(v, int):
        if -(1 << 63) <= v < (1 << 63):
            return v
        # SQLite INTEGER is int64, as InfluxDB's `i` fields
        raise StoreRejected(f"field {name}={v} does not fit in int64")
    if isinstance(v, float) and math.isfinite(v):
        return v
    # same refusal as InfluxDB's line protocol, so both backends hold the same data
    raise StoreRejected(f"field {name}={v!r} is not a finite number")


Shape = tuple[str, tuple[str, ...], tuple[str, ...]]


def plan_rows(readings: Sequence[Reading]) -> dict[Shape, list[Row]]:
    """Rows grouped by (measurement, tag keys, field keys), one per series and time.

    Points of the same series and time within a batch are merged first, later fields
    winning, as InfluxDB does; so the grouping cannot reorder two writes of one point.
    """
    merged: dict[tuple[str, str, int], tuple[dict[str, str], dict[str, FieldValue]]] = {}
    for r in readings:
        if not r.fields:
            raise StoreRejected(f"a {r.measurement} point at {r.ts_ms} has no fields")
        tags = {k: v for k, v in r.tags.items() if v != ""}
        ident = (r.measurement, series_key(tags), r.ts_ms)
        prev = merged.get(ident)
        merged[ident] = (tags, r.fields) if prev is None else (prev[0], {**prev[1], **r.fields})
    plan: dict[Shape, list[Row]] = {}
    for (measurement, key, ts_ms), (tags, fields) in merged.items():
        tkeys, fkeys = tuple(sorted(tags)), tuple(sorted(fields))
        row = (key, ts_ms, *(tags[k] for k in tkeys), *(_value(k, fields[k]) for k in fkeys))
        plan.setdefault((measurement, tkeys, fkeys), []).append(row)
    return plan


def _upsert_sql(measurement: str, tkeys: tuple[str, ...], fkeys: tuple[str, ...]) -> str:
    cols = ["series_key", "ts_ms", *(TAG_PREFIX + k for k in tkeys),
            *(FIELD_PREFIX + k for k in fkeys)]
    # fields the new point lacks keep their stored value (InfluxDB's merge on overwrite)
    update = ", ".join(f"{quote(FIELD_PREFIX + k)} = excluded.{quote(FIELD_PREFIX + k)}"
                       for k in fkeys)
    return (f"INSERT INTO {quote(measurement)} ({', '.join(quote(c) for c in cols)}) "
            f"VALUES ({', '.join('?' * len(cols))}) "
            f"ON CONFLICT (series_key, ts_ms) DO UPDATE SET {update}")


class SqliteStore:
    """The Store protocol on one SQLite file; a connection per thread, one writer at a time."""

    def __init__(self, path: str | Path, busy_timeout_s: float = 10.0) -> None:
        self.path = Path(path)
        private_file(self.path)  # 0600 before SQLite opens it: its -wal and -shm take its mode
        self.busy_timeout_s = busy_timeout_s
        self._local = threading.local()
        self._conns: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self._write_lock = threading.Lock()
        self._closed = False
        self._conn()  # fail now on a bad path, and switch the file to WAL once

    def _conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is not None:
            return conn
        with self._lock:
            if self._closed:
                raise StoreError("sqlite store is closed")
            try:
                # check_same_thread off only so close() may close every thread's connection
                conn = sqlite3.connect(self.path, timeout=self.busy_timeout_s,
                                       isolation_level=None, check_same_thread=False)
                # WAL: readers never block the collector's writes, nor it them
                conn.execute("PRAGMA journal_mode=WAL")
                # FULL, not NORMAL: NORMAL survives a process crash but may lose the last
                # commits on power loss, and the collector acks MQTT once write() returns;
                # one fsync per batch of thousands of points costs little
                conn.execute("PRAGMA synchronous=FULL")
            except sqlite3.Error as e:
                raise StoreUnavailable(f"sqlite {self.path}: {e}") from e
            self._conns.append(conn)
        self._local.conn = conn
        return conn

    @staticmethod
    def _columns(conn: sqlite3.Connection, measurement: str) -> list[str] | None:
        rows = conn.execute(f"PRAGMA table_info({quote(measurement)})").fetchall()
        return [str(r[1]) for r in rows] if rows else None

    def _ensure_columns(self, conn: sqlite3.Connection, measurement: str,
                        wanted: list[str]) -> None:
        """Create the table, and add columns it lacks (within the write transaction)."""
        table = quote(measurement)
        have = self._columns(conn, measurement)
        if have is None:
            conn.execute(f"CREATE TABLE {table} (series_key TEXT NOT NULL, "
                         "ts_ms INTEGER NOT NULL, PRIMARY KEY (series_key, ts_ms)) WITHOUT ROWID")
            conn.execute(f"CREATE INDEX {quote(measurement + '__ts')} ON {table} (ts_ms)")
            have = ["series_key", "ts_ms"]
        for col in wanted:
            if col in have:
                continue
            kind = "TEXT" if col.startswith(TAG_PREFIX) else "REAL"
            conn.execute(f"ALTER TABLE {table} ADD COLUMN {quote(col)} {kind}")
            have.append(col)
            if col == DEVICE_COLUMN:
                # latest() per device walks this index instead of the table
                conn.execute(f"CREATE INDEX {quote(measurement + '__device_ts')} "
                             f"ON {table} ({quote(DEVICE_COLUMN)}, ts_ms)")

    def write(self, readings: Sequence[Reading]) -> None:
        """Upsert the batch in one transaction; returns once it is committed and fsync'd."""
        if not readings:
            return
        plan = plan_rows(readings)
        wanted: dict[str, list[str]] = {}
        for measurement, tkeys, fkeys in plan:
            cols = wanted.setdefault(measurement, [])
            cols.extend(c for c in (*(TAG_PREFIX + k for k in tkeys),
                                    *(FIELD_PREFIX + k for k in fkeys)) if c not in cols)
        with self._write_lock:
            conn = self._conn()
            try:
                conn.execute("BEGIN IMMEDIATE")
                try:
                    for measurement, cols in wanted.items():
                        self._ensure_columns(conn, measurement, cols)
                    for (measurement, tkeys, fkeys), rows in plan.items():
                        conn.executemany(_upsert_sql(measurement, tkeys, fkeys), rows)
                    conn.execute("COMMIT")
                finally:
                    if conn.in_transaction:
                        conn.execute("ROLLBACK")
            except sqlite3.OperationalError as e:
                # locked, disk full, I/O error: the same write may succeed later
                raise StoreUnavailable(f"sqlite {self.path}: {e}") from e
            except (sqlite3.IntegrityError, sqlite3.InterfaceError, sqlite3.DataError,
                    OverflowError, ValueError, TypeError) as e:
                # about the data (a value SQLite cannot bind or hold): refuse the batch
                raise StoreRejected(f"sqlite {self.path}: {type(e).__name__}: {e}") from e
            except sqlite3.Error as e:
                raise StoreError(f"sqlite {self.path}: {e}") from e

    def _select(self, sql: str, args: Sequence[Any] = ()) -> list[Row]:
        try:
            return self._conn().execute(sql, args).fetchall()
        except sqlite3.OperationalError as e:
            raise StoreUnavailable(f"sqlite {self.path}: {e}") from e

    def read_window(
        self,
        measurement: str,
        start_ms: int,
        end_ms: int,
        fields: Sequence[str] | None = None,
        tags: Sequence[str] = ("device_id",),
    ) -> Frame:
        """Points with start_ms <= time < end_ms, sorted by device then time."""
        have = self._columns(self._conn(), measurement)
        if have is None:
            return empty_frame(fields, tags)
        names = _field_names(have) if fields is None else list(fields)
        present = [f for f in names if FIELD_PREFIX + f in have]
        if not present:
            return empty_frame(names, tags)
        where = "ts_ms >= ? AND ts_ms < ?"
        if fields is not None:
            # as InfluxQL: a point none of whose selected fields is set is not returned
            where += " AND (" + " OR ".join(
                f"{quote(FIELD_PREFIX + f)} IS NOT NULL" for f in present) + ")"
        sql = (f"SELECT ts_ms, {_exprs(have, tags, names)} FROM {quote(measurement)} "
               f"WHERE {where} ORDER BY {_order(have, ['device_id'])}")
        return _frame(self._select(sql, (int(start_ms), int(end_ms))), names, tags)

    def read_device(
        self,
        measurement: str,
        device_id: str,
        start_ms: int,
        end_ms: int,
        fields: Sequence[str] | None = None,
    ) -> Frame:
        """One device's points with start_ms <= time < end_ms, oldest first."""
        tags = ("device_id",)
        have = self._columns(self._conn(), measurement)
        if have is None or DEVICE_COLUMN not in have:
            return empty_frame(fields, tags)
        names = _field_names(have) if fields is None else list(fields)
        present = [f for f in names if FIELD_PREFIX + f in have]
        if not present:
            return empty_frame(names, tags)
        where = f"{quote(DEVICE_COLUMN)} = ? AND ts_ms >= ? AND ts_ms < ?"
        if fields is not None:
            # as read_window: a point none of whose selected fields is set is not returned
            where += " AND (" + " OR ".join(
                f"{quote(FIELD_PREFIX + f)} IS NOT NULL" for f in present) + ")"
        sql = (f"SELECT ts_ms, {_exprs(have, tags, names)} FROM {quote(measurement)} "
               f"WHERE {where} ORDER BY ts_ms")
        return _frame(self._select(sql, (device_id, int(start_ms), int(end_ms))), names, tags)

    def latest(self, measurement: str, tags: Sequence[str] = ("device_id",)) -> Frame:
        """The newest point of each device."""
        have = self._columns(self._conn(), measurement)
        if have is None:
            return empty_frame(None, tags)
        names = _field_names(have)
        exprs = _exprs(have, tags, names)
        table = quote(measurement)
        if DEVICE_COLUMN not in have:
            sql = f"SELECT ts_ms, {exprs} FROM {table} ORDER BY ts_ms DESC LIMIT 1"
            return _frame(self._select(sql), names, tags)
        dev = quote(DEVICE_COLUMN)
        sql = (f"SELECT t.ts_ms, {exprs}, t.{dev} FROM {table} AS t JOIN "
               f"(SELECT {dev} AS d, max(ts_ms) AS m FROM {table} GROUP BY {dev}) AS g "
               f"ON t.{dev} IS g.d AND t.ts_ms = g.m ORDER BY t.{dev}")
        rows, seen = [], set()
        for row in self._select(sql):
            # two series of one device at the same newest time: keep one, as LIMIT 1 does
            if row[-1] not in seen:
                seen.add(row[-1])
                rows.append(row[:-1])
        return _frame(rows, names, tags)

    def read_aggregate(
        self,
        measurement: str,
        start_ms: int,
        end_ms: int,
        every_s: int,
        fields: Sequence[str],
        fn: str | Sequence[str] = "mean",
        tags: Sequence[str] = ("device_id",),
        offset_s: int = 0,
    ) -> Frame:
        """One row per tag group and bucket that has data; ts_ms is the bucket start.

        Buckets are aligned to the epoch (UTC) shifted by `offset_s`, as InfluxQL's
        `GROUP BY time(every, offset)`.
        """
        check_aggregate(every_s, fields, fn)
        columns = aggregate_columns(fields, fn)
        names = [name for _, _, name in columns]
        have = self._columns(self._conn(), measurement)
        if have is None:
            return empty_frame(names, tags)
        present = [f for f in fields if FIELD_PREFIX + f in have]
        if not present:
            return empty_frame(names, tags)
        every_ms = int(every_s) * 1000
        off_ms = (int(offset_s) * 1000) % every_ms
        x = f"(ts_ms - {off_ms})"
        # floor, not truncation, so times before the epoch land in the right bucket too
        bucket = f"({x} - ((({x} % {every_ms}) + {every_ms}) % {every_ms}) + {off_ms})"
        values = ", ".join(f"{_SQL_AGGREGATE[g]}({quote(FIELD_PREFIX + f)})" if f in present
                           else "NULL" for g, f, _ in columns)
        tag_cols = [quote(TAG_PREFIX + t) for t in tags if TAG_PREFIX + t in have]
        tag_exprs = ", ".join(quote(TAG_PREFIX + t) if TAG_PREFIX + t in have else "NULL"
                              for t in tags)
        having = " + ".join(f"count({quote(FIELD_PREFIX + f)})" for f in present)
        sql = (f"SELECT {bucket} AS bucket_ms{', ' + tag_exprs if tags else ''}, {values} "
               f"FROM {quote(measurement)} WHERE ts_ms >= ? AND ts_ms < ? "
               f"GROUP BY {', '.join([*tag_cols, 'bucket_ms'])} HAVING {having} > 0 "
               f"ORDER BY {', '.join([*tag_cols, 'bucket_ms'])}")
        return _frame(self._select(sql, (int(start_ms), int(end_ms))), names, tags)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            conns, self._conns = self._conns, []
        for conn in conns:
            conn.close()
        self._local = threading.local()


def _field_names(have: list[str]) -> list[str]:
    return [c[len(FIELD_PREFIX):] for c in have if c.startswith(FIELD_PREFIX)]


def _exprs(have: list[str], tags: Sequence[str], fields: Sequence[str]) -> str:
    """Tag then field columns; a column the table lacks reads as NULL."""
    cols = [TAG_PREFIX + t for t in tags] + [FIELD_PREFIX + f for f in fields]
    return ", ".join(quote(c) if c in have else "NULL" for c in cols)


def _order(have: list[str], tags: Sequence[str]) -> str:
    return ", ".join([*(quote(TAG_PREFIX + t) for t in tags if TAG_PREFIX + t in have), "ts_ms"])


def _frame(rows: list[Row], fields: Sequence[str], tags: Sequence[str]) -> Frame:
    """Rows of (ts, *tags, *fields) → Frame; NULL tags read "" and NULL fields NaN."""
    if not rows:
        return empty_frame(fields, tags)
    cols = list(zip(*rows, strict=True))
    nt = len(tags)
    return Frame(
        ts_ms=np.array(cols[0], dtype=np.int64),
        tags={t: np.array(["" if v is None else v for v in cols[1 + i]], dtype=np.str_)
              for i, t in enumerate(tags)},
        # numpy reads None as NaN in a float64 array
        fields={f: np.array(cols[1 + nt + i], dtype=np.float64) for i, f in enumerate(fields)},
    )
