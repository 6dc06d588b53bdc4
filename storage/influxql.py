"""InfluxQL text for InfluxDB 1.x: quoted identifiers and literals, and the CSV a query
answers with, parsed into Frames."""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Iterator, Sequence

import numpy as np
import numpy.typing as npt

from storage.base import Frame, StoreError
from storage.frames import empty_frame

# CSV cells that are not numbers: a missing field is NaN, a bool is 0/1 (Frame contract)
_CELL = {"": math.nan, "true": 1.0, "false": 0.0}
_ESCAPED = frozenset(", =")


class CsvTable:
    """One header and its rows from an InfluxDB CSV response."""

    def __init__(self, header: list[str]) -> None:
        self.header = header
        self.rows: list[list[str]] = []


def quote_ident(name: str) -> str:
    """An InfluxQL double-quoted identifier."""
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def quote_literal(value: str) -> str:
    """An InfluxQL string literal: single quotes, backslash and quote escaped."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def parse_tags(text: str) -> dict[str, str]:
    """Decode InfluxDB's series tag string `k1=v1,k2=v2` (`\\` escapes `,`, `=` and space).

    Any other backslash is literal, as in line protocol.
    """
    out: dict[str, str] = {}
    if not text:
        return out
    if "\\" not in text:
        for part in text.split(","):
            k, _, v = part.partition("=")
            out[k] = v
        return out
    key: str | None = None
    buf: list[str] = []
    i = 0
    while i < len(text):
        c = text[i]
        if c == "\\" and i + 1 < len(text) and text[i + 1] in _ESCAPED:
            buf.append(text[i + 1])
            i += 2
            continue
        if c == "=" and key is None:
            key, buf = "".join(buf), []
        elif c == ",":
            if key is None:
                out["".join(buf)] = ""
            else:
                out[key] = "".join(buf)
            key, buf = None, []
        else:
            buf.append(c)
        i += 1
    if key is not None:
        out[key] = "".join(buf)
    return out


def parse_csv(text: str) -> list[CsvTable]:
    """Split a CSV response into tables; a blank line starts a new header (columns changed)."""
    return list(_csv_tables(text))


def _csv_tables(text: str, block_rows: int = 0) -> Iterator[CsvTable]:
    """The tables of a CSV response in order; with block_rows, a longer table comes as
    several of at most that many rows each (the same header)."""
    table: CsvTable | None = None
    for row in csv.reader(io.StringIO(text)):
        if not row:
            if table is not None:
                yield table
            table = None
            continue
        if table is None:
            if row == ["error"]:
                raise StoreError("influxdb query error: " + text.split("\n", 1)[-1].strip())
            table = CsvTable(row)
            continue
        table.rows.append(row)
        if block_rows and len(table.rows) >= block_rows:
            yield table
            table = CsvTable(table.header)
    if table is not None:
        yield table


def _floats(cells: Sequence[str]) -> npt.NDArray[np.float64]:
    text = np.array(cells, dtype=np.str_)
    text[text == ""] = "nan"
    try:
        # numbers and blanks (most columns): numpy parses them in C
        return text.astype(np.float64)
    except ValueError:
        return np.array([_CELL[c] if c in _CELL else float(c) for c in cells],
                        dtype=np.float64)


def _strs(cells: Sequence[str]) -> npt.NDArray[np.str_]:
    return np.array(cells, dtype=np.str_) if cells else np.array([], dtype=np.str_)


def frame_of(tables: list[CsvTable], fields: Sequence[str] | None, tags: Sequence[str],
             tag_columns: bool) -> Frame:
    """Tables → one Frame; tags from trailing ::tag columns or from the series tags."""
    if not tables or not any(t.rows for t in tables):
        return empty_frame(fields, tags)
    ntags = len(tags) if tag_columns else 0
    field_names: list[str] = list(fields) if fields is not None else []
    if fields is None:
        for t in tables:
            for name in t.header[3:len(t.header) - ntags]:
                if name not in field_names:
                    field_names.append(name)
    ts: list[npt.NDArray[np.int64]] = []
    tag_parts: dict[str, list[npt.NDArray[np.str_]]] = {k: [] for k in tags}
    field_parts: dict[str, list[npt.NDArray[np.float64]]] = {k: [] for k in field_names}
    for t in tables:
        if not t.rows:
            continue
        n = len(t.rows)
        cols = list(zip(*t.rows, strict=False))
        ts.append(np.array(cols[2], dtype=np.str_).astype(np.int64))
        if tag_columns:
            for i, k in enumerate(tags):
                tag_parts[k].append(_strs(cols[len(t.header) - ntags + i]))
        else:
            # rows of one series repeat its tag string: parse each distinct one once
            parsed = {s: parse_tags(s) for s in set(cols[1])}
            series = [parsed[s] for s in cols[1]]
            for k in tags:
                tag_parts[k].append(_strs([s.get(k, "") for s in series]))
        # field columns by position: a field may share its name with a tag
        index = {name: i for i, name in enumerate(t.header[:len(t.header) - ntags])
                 if i >= 3}
        for k in field_names:
            i = index.get(k, -1)
            field_parts[k].append(_floats(cols[i]) if i >= 0 else np.full(n, math.nan))
    return Frame(
        ts_ms=np.concatenate(ts),
        tags={k: np.concatenate(v) for k, v in tag_parts.items()},
        fields={k: np.concatenate(v) for k, v in field_parts.items()},
    )


BLOCK_ROWS = 50_000


def frame_of_csv(text: str, fields: Sequence[str], tags: Sequence[str], tag_columns: bool,
                 block_rows: int = BLOCK_ROWS) -> Frame:
    """parse_csv then frame_of, a block of rows at a time: the Python lists of only one block
    live at once (a read of a city's meters is millions of rows; as lists of cells they took
    more than a gigabyte). The same frame as frame_of(parse_csv(text), ...)."""
    parts = [frame_of([t], fields, tags, tag_columns)
             for t in _csv_tables(text, block_rows) if t.rows]
    if len(parts) <= 1:
        return parts[0] if parts else empty_frame(fields, tags)
    return Frame(ts_ms=np.concatenate([p.ts_ms for p in parts]),
                 tags={k: np.concatenate([p.tags[k] for p in parts]) for k in tags},
                 fields={k: np.concatenate([p.fields[k] for p in parts]) for k in fields})
