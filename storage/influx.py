"""InfluxDB 1.x over its HTTP API: line protocol in, CSV query results out."""

from __future__ import annotations

import base64
import http.client
import itertools
import json
import threading
import urllib.parse
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING

import numpy as np

from district.readings import Reading
from storage.base import Frame, StoreError, StoreRejected, StoreUnavailable
from storage.frames import aggregate_columns, check_aggregate, empty_frame, sort_frame
from storage.influxql import (
    CsvTable,
    frame_of,
    frame_of_csv,
    parse_csv,
    quote_ident,
    quote_literal,
)
from storage.lineprotocol import LineEncoder

if TYPE_CHECKING:
    from storage.config import InfluxConfig

# InfluxDB's own guidance for /write: 5,000-10,000 points per request
MAX_LINES_PER_REQUEST = 5000

class InfluxStore:
    """The Store protocol over the InfluxDB v1 HTTP API; one keep-alive connection per caller."""

    def __init__(
        self,
        url: str,
        database: str,
        retention_policy: str = "heatwatch",
        retention: str = "1830d",
        username: str = "",
        password: str = "",
        timeout_s: float = 10.0,
        create_database: bool = True,
        query_timeout_s: float = 120.0,
    ) -> None:
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"influxdb url must be http(s)://host:port, got {url!r}")
        self.url = url
        self.database = database
        self.retention_policy = retention_policy
        self.retention = retention
        self.timeout_s = timeout_s
        # an analyzer window grouped by device and hour takes InfluxDB 1.x many seconds;
        # writes keep the short timeout so the collector spools quickly when it hangs
        self.query_timeout_s = query_timeout_s
        self.create_database = create_database
        self._https = parts.scheme == "https"
        self._host = parts.hostname
        self._port = parts.port or (443 if self._https else 8086)
        self._base = parts.path.rstrip("/")
        self._headers: dict[str, str] = {}
        if username:
            token = base64.b64encode(f"{username}:{password}".encode()).decode()
            self._headers["Authorization"] = f"Basic {token}"
        self._write_path = f"{self._base}/write?" + urllib.parse.urlencode(
            {"db": database, "rp": retention_policy, "precision": "ms"})
        self._encoder = LineEncoder()
        self._idle: list[http.client.HTTPConnection] = []
        self._lock = threading.Lock()
        self._ready = not create_database
        self._ready_lock = threading.Lock()
        self._closed = False

    @classmethod
    def from_config(cls, cfg: InfluxConfig) -> InfluxStore:
        return cls(cfg.url, cfg.database, cfg.retention_policy, cfg.retention, cfg.username,
                   cfg.password, cfg.timeout_s, cfg.create_database, cfg.query_timeout_s)

    # -- HTTP -------------------------------------------------------------------------------
    def _connect(self) -> http.client.HTTPConnection:
        if self._https:
            return http.client.HTTPSConnection(self._host, self._port, timeout=self.timeout_s)
        return http.client.HTTPConnection(self._host, self._port, timeout=self.timeout_s)

    def _request(self, method: str, path: str, body: bytes | None = None,
                 headers: dict[str, str] | None = None,
                 timeout_s: float | None = None) -> tuple[int, str, bytes]:
        """Status, influx error header and body; connection trouble is StoreUnavailable."""
        all_headers = {**self._headers, **(headers or {})}
        for attempt in range(2):
            with self._lock:
                if self._closed:
                    raise StoreError("influx store is closed")
                conn = self._idle.pop() if self._idle else None
            reused = conn is not None
            if conn is None:
                conn = self._connect()
            conn.timeout = self.timeout_s if timeout_s is None else timeout_s
            if conn.sock is not None:
                conn.sock.settimeout(conn.timeout)
            try:
                conn.request(method, path, body=body, headers=all_headers)
                resp = conn.getresponse()
                data = resp.read()
            except (OSError, http.client.HTTPException) as e:
                conn.close()
                # a kept-alive connection the server closed meanwhile: retry once on a new
                # one; safe for writes too, since the same series and time overwrite
                if reused and attempt == 0:
                    continue
                raise StoreUnavailable(f"influxdb at {self.url}: {e!r}") from e
            if resp.will_close:
                conn.close()
            else:
                with self._lock:
                    if self._closed:
                        conn.close()
                    else:
                        self._idle.append(conn)
            return resp.status, resp.getheader("X-Influxdb-Error", ""), data
        raise AssertionError("unreachable")

    @staticmethod
    def _raise_for(status: int, error: str, data: bytes, what: str) -> None:
        if 200 <= status < 300:
            return
        text = error or data.decode("utf-8", "replace").strip()[:500]
        # auth and throttling are about the server, not the data: retry, keep the data
        if status >= 500 or status in (401, 403, 408, 429):
            raise StoreUnavailable(f"influxdb {what}: HTTP {status}: {text}")
        raise StoreRejected(f"influxdb {what}: HTTP {status}: {text}")

    def _statement(self, q: str) -> str:
        """Run one statement via POST /query; the statement's error text, or ''."""
        body = urllib.parse.urlencode({"q": q}).encode()
        status, error, data = self._request(
            "POST", f"{self._base}/query", body,
            {"Content-Type": "application/x-www-form-urlencoded"})
        self._raise_for(status, error, data, "query")
        results = json.loads(data or b"{}").get("results", [])
        return str(results[0].get("error", "")) if results else ""

    def _ensure(self) -> None:
        """Create the database and make our retention policy its default, once."""
        if self._ready:
            return
        with self._ready_lock:
            if self._ready:
                return
            db, rp = quote_ident(self.database), quote_ident(self.retention_policy)
            err = self._statement(f"CREATE DATABASE {db}")
            if err:
                raise StoreRejected(f"influxdb: cannot create database: {err}")
            err = self._statement(f"CREATE RETENTION POLICY {rp} ON {db} "
                                  f"DURATION {self.retention} REPLICATION 1 DEFAULT")
            if "already exists" in err:
                # seed: keep raw records >= 5 years; an existing policy gets our duration
                err = self._statement(f"ALTER RETENTION POLICY {rp} ON {db} "
                                      f"DURATION {self.retention} DEFAULT")
            if err:
                raise StoreRejected(f"influxdb: cannot set retention policy: {err}")
            self._ready = True

    def execute(self, statement: str) -> None:
        """Run one InfluxQL statement that changes something (CREATE, DROP, ...) via POST."""
        err = self._statement(statement)
        if err:
            raise StoreError(f"influxdb: {statement[:80]}: {err}")

    # -- writes -----------------------------------------------------------------------------
    def encode(self, readings: Sequence[Reading]) -> bytes:
        """The batch as a /write body; a value InfluxDB cannot hold is StoreRejected."""
        try:
            return self._encoder.encode(readings)
        except ValueError as e:
            raise StoreRejected(str(e)) from e

    def write(self, readings: Sequence[Reading]) -> None:
        """Store the batch; returns once InfluxDB answered 204 (its WAL is fsync'd)."""
        rejected: list[str] = []
        for i in range(0, len(readings), MAX_LINES_PER_REQUEST):
            try:
                self._post(self.encode(readings[i:i + MAX_LINES_PER_REQUEST]))
            except StoreRejected as e:
                # a 400 is a partial write: influx kept the good points; send the rest too
                rejected.append(str(e))
        if rejected:
            raise StoreRejected("; ".join(rejected))

    def write_lines(self, lines: Sequence[str]) -> None:
        """Store lines of line protocol (from LineEncoder), as write does with readings."""
        if lines:
            self.write_encoded(("\n".join(lines) + "\n").encode("utf-8"))

    def write_encoded(self, body: bytes,
                      with_each: Callable[[bytes], bytes] | None = None) -> None:
        """Store a line-protocol body (from `encode`), split into requests of bounded size;
        with_each(piece), if given, adds lines to each request (the arrivals log's own, which
        must be stored by the same 204 as the readings they describe)."""
        rejected: list[str] = []
        for chunk in _chunks(body, MAX_LINES_PER_REQUEST):
            try:
                self._post(chunk + with_each(chunk) if with_each is not None else chunk)
            except StoreRejected as e:
                rejected.append(str(e))
        if rejected:
            raise StoreRejected("; ".join(rejected))

    def _post(self, body: bytes) -> None:
        if body.isspace() or not body:  # isspace stops at the first other byte
            return
        self._ensure()
        headers = {"Content-Type": "text/plain; charset=utf-8"}
        status, error, data = self._request("POST", self._write_path, body, headers)
        if status == 404 and "database not found" in (error or data.decode("utf-8", "replace")):
            # dropped, or a fresh server behind the same address: create it again, once
            self._ready = not self.create_database
            self._ensure()
            status, error, data = self._request("POST", self._write_path, body, headers)
            if status == 404:
                # about the server, not the data: keep it (the broker or the spool) and retry
                raise StoreUnavailable(f"influxdb write: database {self.database!r} not found")
        self._raise_for(status, error, data, "write")

    # -- reads ------------------------------------------------------------------------------
    def query_tables(self, q: str) -> list[CsvTable]:
        """Run InfluxQL against our database; the CSV result (epoch ms times) as tables."""
        return parse_csv(self._query_text(q))

    def query_frame(self, q: str, fields: Sequence[str] | None, tags: Sequence[str],
                    tag_columns: bool) -> Frame:
        """Run InfluxQL; the result as one Frame (parsed a block of rows at a time when the
        fields are known)."""
        text = self._query_text(q)
        if fields is None:
            return frame_of(parse_csv(text), None, tags, tag_columns)
        return frame_of_csv(text, fields, tags, tag_columns)

    def _query_text(self, q: str) -> str:
        self._ensure()
        params = urllib.parse.urlencode({"db": self.database, "epoch": "ms", "q": q})
        status, error, data = self._request(
            "GET", f"{self._base}/query?{params}", None, {"Accept": "application/csv"},
            timeout_s=self.query_timeout_s)
        if status >= 500 or status in (401, 403, 408, 429):
            self._raise_for(status, error, data, "query")
        text = data.decode("utf-8")
        if status != 200:
            raise StoreError(f"influxdb query: HTTP {status}: {error or text.strip()[:500]}")
        return text

    def query_csv(self, q: str) -> list[dict[str, str]]:
        """Run InfluxQL; every result row as a dict keyed by column name."""
        return [dict(zip(t.header, row, strict=False)) for t in self.query_tables(q)
                for row in t.rows]

    def _source(self, measurement: str) -> str:
        return f"{quote_ident(self.retention_policy)}.{quote_ident(measurement)}"

    def read_window(
        self,
        measurement: str,
        start_ms: int,
        end_ms: int,
        fields: Sequence[str] | None = None,
        tags: Sequence[str] = ("device_id",),
    ) -> Frame:
        """Points with start_ms <= time < end_ms, sorted by device then time."""
        if fields is not None and not fields:
            return empty_frame(fields, tags)
        want = _with_device(tags)
        select = "*::field" if fields is None else ", ".join(quote_ident(f) for f in fields)
        q = (f"SELECT {select}, {', '.join(quote_ident(t) + '::tag' for t in want)} "
             f"FROM {self._source(measurement)} "
             f"WHERE time >= {int(start_ms)}ms AND time < {int(end_ms)}ms")
        frame = self.query_frame(q, fields, want, tag_columns=True)
        return _project(sort_frame(frame, ["device_id"]), tags)

    def read_device(
        self,
        measurement: str,
        device_id: str,
        start_ms: int,
        end_ms: int,
        fields: Sequence[str] | None = None,
    ) -> Frame:
        """One device's points with start_ms <= time < end_ms, oldest first."""
        if fields is not None and not fields:
            return empty_frame(fields, ("device_id",))
        select = "*::field" if fields is None else ", ".join(quote_ident(f) for f in fields)
        q = (f"SELECT {select}, \"device_id\"::tag FROM {self._source(measurement)} "
             f"WHERE \"device_id\" = {quote_literal(device_id)} "
             f"AND time >= {int(start_ms)}ms AND time < {int(end_ms)}ms")
        frame = self.query_frame(q, fields, ["device_id"], tag_columns=True)
        return sort_frame(frame, ["device_id"])

    def latest(self, measurement: str, tags: Sequence[str] = ("device_id",)) -> Frame:
        """The newest point of each device."""
        want = _with_device(tags)
        q = (f"SELECT *::field, {', '.join(quote_ident(t) + '::tag' for t in want)} "
             f"FROM {self._source(measurement)} GROUP BY \"device_id\" "
             "ORDER BY time DESC LIMIT 1")
        frame = self.query_frame(q, None, want, tag_columns=True)
        return _project(sort_frame(frame, ["device_id"]), tags)

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
        select = ", ".join(f"{g}({quote_ident(f)}) AS {quote_ident(name)}"
                           for g, f, name in columns)
        group = f"time({int(every_s)}s, {int(offset_s) % int(every_s)}s)"
        group += "".join(", " + quote_ident(t) for t in tags)
        q = (f"SELECT {select} FROM {self._source(measurement)} "
             f"WHERE time >= {int(start_ms)}ms AND time < {int(end_ms)}ms "
             f"GROUP BY {group} fill(none)")
        frame = self.query_frame(q, [name for _, _, name in columns], list(tags),
                                 tag_columns=False)
        return sort_frame(frame, list(tags))

    def ping(self) -> bool:
        """Whether InfluxDB answers /ping now."""
        try:
            status, _, _ = self._request("GET", f"{self._base}/ping")
        except StoreUnavailable:
            return False
        return status == 204

    def close(self) -> None:
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()


def _with_device(tags: Sequence[str]) -> list[str]:
    # Frame contract: rows sorted by device, so fetch device_id even when not asked for
    return list(tags) if "device_id" in tags else [*tags, "device_id"]


def _project(frame: Frame, tags: Sequence[str]) -> Frame:
    frame.tags = {k: frame.tags[k] for k in tags}
    return frame


def _chunks(body: bytes, max_lines: int) -> Iterator[bytes]:
    """A line-protocol body in pieces of at most max_lines lines, cut after a newline (a
    body that fits is passed on as it is; no piece is blank)."""
    newline = np.frombuffer(body, np.uint8) == 10  # bytes.count: a byte at a time, 4x slower
    if np.count_nonzero(newline) <= max_lines:
        if body and not body.isspace():
            yield body
        return
    ends = np.flatnonzero(newline)
    cuts = [0, *(ends[max_lines - 1::max_lines] + 1).tolist()]
    if cuts[-1] < len(body):
        cuts.append(len(body))
    for start, end in itertools.pairwise(cuts):
        piece = body[start:end]
        if not piece.isspace():
            yield piece if piece.endswith(b"\n") else piece + b"\n"
