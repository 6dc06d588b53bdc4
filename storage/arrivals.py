"""The arrivals log: which (measurement, hour) each stored batch touched, so an analyzer can
re-read only those hours (a reading that arrives late, up to its look-back, included).

`ArrivalsLog` wraps the InfluxDB store under the spool: every body it writes carries, in the
same request, one `heatwatch_arrivals` point per (measurement, hour) the body touches
(tags `writer`, `measurement`; field `hour`, the hour's start in epoch hours; time, the
writer's clock in ms, made unique per writer). A 204 stores both or neither, so an arrival
is never logged without its readings, nor readings stored without their arrival; a spooled
batch is logged when it is drained. `touched_hours` reads the log back.
"""

from __future__ import annotations

import itertools
import os
import re
import socket
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Protocol

import numpy as np

from district.readings import Reading
from storage.base import Frame
from storage.lineprotocol import escape_tag

ARRIVALS = "heatwatch_arrivals"
WATCHED = ("room", "meter", "meter_comm", "substation", "weather")
HOUR_MS = 3_600_000

# a line of line protocol: its measurement (up to the first unescaped ',' or ' ') and its
# trailing timestamp; one pass in C over the whole body
_LINE = re.compile(rb"^((?:[^,\s\\]|\\.)+)[,\s][^\n]* (-?\d+)\r?$", re.M)
_WATCHED = frozenset(m.encode() for m in WATCHED)
# what may follow a measurement name: the regex's [,\s] on one line
_AFTER_NAME = np.zeros(256, bool)
_AFTER_NAME[list(b", \t\r\x0b\x0c")] = True
# the timestamps the column path reads: 13 digits of ms
_TS_DIGITS = 13
_U64 = np.uint64
_ZEROS = _U64(0x3030303030303030)  # eight ASCII '0'
_HIGH = _U64(0xF0F0F0F0F0F0F0F0)
_SIX = _U64(0x0606060606060606)
_LOW3 = _U64(0x303030)  # three '0's in place of the bytes before a timestamp's 5 high digits


def _name_words(name: bytes) -> tuple[int, int, int, int]:
    """A name's first 16 bytes as two little-endian words to compare with, and their masks."""
    padded = name.ljust(16, b"\0")
    mask = b"\xff" * len(name) + b"\0" * (16 - len(name))
    return (int.from_bytes(padded[:8], "little"), int.from_bytes(padded[8:], "little"),
            int.from_bytes(mask[:8], "little"), int.from_bytes(mask[8:], "little"))


_NAMES: list[tuple[bytes, np.uint64, np.uint64, np.uint64, np.uint64]] = [
    (m, *(_U64(x) for x in _name_words(m))) for m in sorted(_WATCHED)]  # type: ignore[misc]
assert max(len(m) for m in _WATCHED) < 16  # a name and its separator fit the two words


class _Inner(Protocol):
    def encode(self, readings: Sequence[Reading]) -> bytes: ...

    def write_encoded(self, body: bytes,
                      with_each: Callable[[bytes], bytes] | None = None) -> None: ...

    def query_csv(self, q: str) -> list[dict[str, str]]: ...

    def read_window(self, measurement: str, start_ms: int, end_ms: int,
                    fields: Sequence[str] | None = None,
                    tags: Sequence[str] = ("device_id",)) -> Frame: ...

    def latest(self, measurement: str, tags: Sequence[str] = ("device_id",)) -> Frame: ...

    def read_aggregate(self, measurement: str, start_ms: int, end_ms: int, every_s: int,
                       fields: Sequence[str], fn: str | Sequence[str] = "mean",
                       tags: Sequence[str] = ("device_id",), offset_s: int = 0) -> Frame: ...

    def close(self) -> None: ...


def hours_of(body: bytes) -> dict[bytes, set[int]]:
    """The epoch hours each watched measurement's lines in a body fall in (ms timestamps)."""
    fast = _hours_by_columns(body)
    return fast if fast is not None else hours_by_regex(body)


def hours_by_regex(body: bytes) -> dict[bytes, set[int]]:
    """hours_of for any body, line by line: the reference the column path must equal."""
    out: dict[bytes, set[int]] = {}
    for m, ts in _LINE.findall(body):
        if m in _WATCHED:
            out.setdefault(m, set()).add(int(ts) // HOUR_MS)
    return out


def _hours_by_columns(body: bytes) -> dict[bytes, set[int]] | None:
    """hours_of in a few numpy passes, for a body whose lines all end in a space and a
    13-digit timestamp (ms from 2001 to 2286: what the encoders write); None for anything
    else, which the regex judges. The regex cost the collector a quarter of its CPU.

    Each line's bytes are read eight at a time as words (one unaligned load at every byte
    offset), so a line costs a handful of 1-D gathers: the timestamp is two words, parsed
    eight digits at once (SWAR), and a name compares as two masked words.
    """
    n_body = len(body)
    if not n_body or body[-1] != 10:
        return None
    buf = np.frombuffer(body, np.uint8)
    ends = np.flatnonzero(buf == 10)
    starts = np.concatenate(([0], ends[:-1] + 1))
    if (ends - starts < _TS_DIGITS + 2).any():
        return None  # an empty line or one too short for a name and a timestamp
    # word i: body bytes i..i+7 (an unaligned load at every offset); each index read below
    # stays inside, since every line holds at least 15 bytes
    words = np.ndarray((n_body - 7,), "<u8", buf, 0, (1,))
    low = words[ends - 8]  # the timestamp's last 8 digits (bytes ends-8 .. ends-1)
    high = (words[ends - _TS_DIGITS] << _U64(24)) | _LOW3  # its first 5, behind three '0's
    if (buf[ends - _TS_DIGITS - 1] != 32).any() or not (_digits(low) & _digits(high)).all():
        return None  # another width, a sign, a \r: the regex decides
    hours = (_number(high) * _U64(100_000_000) + _number(low)) // _U64(HOUR_MS)
    before_ts = ends - _TS_DIGITS - 1 - starts  # a line's bytes before its timestamp's space
    head0, head1 = words[starts], words[starts + 8]
    # the usual body, every line of one series prefix: its first line names them all
    uniform = bool((head0 == head0[0]).all() and (head1 == head1[0]).all())
    out: dict[bytes, set[int]] = {}
    for name, word0, word1, mask0, mask1 in _NAMES:
        n = len(name)
        # the name, a separator, and the timestamp's space further on (as the regex wants)
        if uniform:
            if ((head0[0] & mask0) != word0 or (head1[0] & mask1) != word1
                    or not _AFTER_NAME[buf[n]]):
                continue
            match = before_ts > n
        else:
            match = (((head0 & mask0) == word0) & ((head1 & mask1) == word1)
                     & _AFTER_NAME[buf[starts + n]] & (before_ts > n))
        if match.any():
            out[name] = _distinct(hours[match].astype(np.int64))
    return out


def _distinct(hours: np.ndarray) -> set[int]:
    """The distinct values of a non-empty int64 array (a count per hour when they are near)."""
    lo = int(hours.min())
    if int(hours.max()) - lo < 65_536:
        return set((np.flatnonzero(np.bincount(hours - lo)) + lo).tolist())
    return set(np.unique(hours).tolist())


def _digits(words: np.ndarray) -> np.ndarray:
    """Whether each word's 8 bytes are all ASCII digits."""
    ok: np.ndarray = ((words & _HIGH) == _ZEROS) & (((words + _SIX) & _HIGH) == _ZEROS)
    return ok


def _number(words: np.ndarray) -> np.ndarray:
    """Eight ASCII digits (the first in the lowest byte) to their value, all lanes at once."""
    v = words - _ZEROS
    v = v * _U64(10) + (v >> _U64(8))
    out: np.ndarray = ((v & _U64(0x000000FF000000FF)) * _U64(100 + (1_000_000 << 32))
            + ((v >> _U64(16)) & _U64(0x000000FF000000FF)) * _U64(1 + (10_000 << 32))
           ) >> _U64(32)
    return out


class ArrivalsLog:
    """A store (InfluxDB, ms precision) whose every write also logs the hours it touched."""

    def __init__(self, store: Any, writer: str | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self.store: _Inner = store
        self.writer = writer or f"{socket.gethostname()}-{os.getpid()}-{id(self) % 10_000}"
        self._clock = clock
        self._lock = threading.Lock()
        self._last_ms = 0
        self._writer_tag = escape_tag(self.writer).encode()

    def _stamp(self) -> int:
        with self._lock:
            self._last_ms = max(int(self._clock() * 1000), self._last_ms + 1)
            return self._last_ms

    def arrival_lines(self, body: bytes) -> bytes:
        """The arrivals points for a body (empty if it touches no watched measurement)."""
        out = []
        for m, hours in sorted(hours_of(body).items()):
            for h in sorted(hours):
                out.append(b"%s,measurement=%s,writer=%s hour=%di %d" % (
                    ARRIVALS.encode(), m, self._writer_tag, h, self._stamp()))
        return b"".join(line + b"\n" for line in out)

    # -- writes (the EncodedStore the spool drives) -----------------------------------------
    def encode(self, readings: Sequence[Reading]) -> bytes:
        return self.store.encode(readings)

    def write_encoded(self, body: bytes) -> None:
        if not body.endswith(b"\n"):
            body += b"\n"
        # each request carries the arrivals of its own lines: one 204 stores both
        self.store.write_encoded(body, self.arrival_lines)

    def write(self, readings: Sequence[Reading]) -> None:
        if readings:
            self.write_encoded(self.encode(readings))

    def write_lines(self, lines: Sequence[str]) -> None:
        if lines:
            self.write_encoded(("\n".join(lines) + "\n").encode("utf-8"))

    # -- reads ------------------------------------------------------------------------------
    def __getattr__(self, name: str) -> Any:
        return getattr(self.store, name)

    def read_window(self, measurement: str, start_ms: int, end_ms: int,
                    fields: Sequence[str] | None = None,
                    tags: Sequence[str] = ("device_id",)) -> Frame:
        return self.store.read_window(measurement, start_ms, end_ms, fields, tags)

    def latest(self, measurement: str, tags: Sequence[str] = ("device_id",)) -> Frame:
        return self.store.latest(measurement, tags)

    def read_aggregate(self, measurement: str, start_ms: int, end_ms: int, every_s: int,
                       fields: Sequence[str], fn: str | Sequence[str] = "mean",
                       tags: Sequence[str] = ("device_id",), offset_s: int = 0) -> Frame:
        return self.store.read_aggregate(measurement, start_ms, end_ms, every_s, fields, fn,
                                         tags, offset_s)

    def close(self) -> None:
        self.store.close()


def touched_hours(store: Any, since_ms: int,
                  measurements: Iterable[str] = WATCHED) -> dict[str, set[int]] | None:
    """The hours (start, epoch ms) of each measurement touched by writes logged after
    since_ms; None when the store keeps no arrivals log (the caller must re-read all)."""
    while not isinstance(store, ArrivalsLog) and hasattr(store, "store"):
        store = store.store  # the spool wraps the log
    if not isinstance(store, ArrivalsLog):
        return None
    query = store.store.query_csv
    wanted = set(measurements)
    rows = query(f'SELECT DISTINCT("hour") FROM "{ARRIVALS}" WHERE time > {int(since_ms)}ms '
                 f'GROUP BY "measurement"')
    out: dict[str, set[int]] = {m: set() for m in wanted}
    for row in rows:
        tags = row.get("tags", "")
        m = next((p.split("=", 1)[1] for p in tags.split(",") if p.startswith("measurement=")),
                 "")
        if m in wanted and row.get("distinct"):
            out[m].add(int(float(row["distinct"])) * HOUR_MS)
    return out


def chunked(hours: Iterable[int]) -> list[tuple[int, int]]:
    """Sorted hour starts (ms) as [start, end) ranges of consecutive hours."""
    out: list[tuple[int, int]] = []
    for _, grp in itertools.groupby(enumerate(sorted(set(hours))),
                                    key=lambda p: p[1] - p[0] * HOUR_MS):
        g = [h for _, h in grp]
        out.append((g[0], g[-1] + HOUR_MS))
    return out
