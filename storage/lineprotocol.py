"""InfluxDB line protocol, written with millisecond precision."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from district.readings import FieldValue, Reading

_TAG_ESCAPE = str.maketrans({",": r"\,", " ": r"\ ", "=": r"\=", "\n": " "})
_MEASUREMENT_ESCAPE = str.maketrans({",": r"\,", " ": r"\ ", "\n": " "})
_PREFIX_CACHE_MAX = 200_000


def _field(value: FieldValue) -> str:
    kind = type(value)
    if kind is float:
        if not math.isfinite(value):
            raise ValueError(f"field value {value!r} is not finite")
        return repr(value)
    if kind is bool:
        return "true" if value else "false"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return f"{int(value)}i"
    if isinstance(value, float):  # numpy floats and other float subclasses
        return _field(float(value))
    s = str(value).replace("\\", "\\\\").replace('"', '\\"')
    return f'"{s}"'


def escape_tag(value: str) -> str:
    """A tag key or value as the line protocol carries it."""
    return value.translate(_TAG_ESCAPE)


def series_prefix(measurement: str, tags: Mapping[str, str]) -> str:
    """The escaped `measurement,tag=value,...` of a series (empty tag values left out)."""
    parts = [measurement.translate(_MEASUREMENT_ESCAPE)]
    for k in sorted(tags):
        v = tags[k]
        if v != "":  # InfluxDB refuses empty tag values
            parts.append(f"{k.translate(_TAG_ESCAPE)}={v.translate(_TAG_ESCAPE)}")
    return ",".join(parts)


class LineEncoder:
    """Encodes readings; caches each series' escaped prefix, since devices share tag dicts."""

    def __init__(self) -> None:
        self._prefixes: dict[tuple[str, int], tuple[Mapping[str, str], str]] = {}

    def prefix(self, r: Reading) -> str:
        return self.series(r.measurement, r.tags)

    def series(self, measurement: str, tags: Mapping[str, str]) -> str:
        """The escaped `measurement,tag=value,...` of a series, cached by its tags object."""
        key = (measurement, id(tags))
        hit = self._prefixes.get(key)
        if hit is not None and hit[0] is tags:
            return hit[1]
        p = series_prefix(measurement, tags)
        if len(self._prefixes) >= _PREFIX_CACHE_MAX:
            self._prefixes.clear()
        # the cache holds the tags object itself, so its id cannot be reused meanwhile
        self._prefixes[key] = (tags, p)
        return p

    def line(self, r: Reading) -> str:
        fields = ",".join(
            f"{k}={repr(v) if type(v) is float and math.isfinite(v) else _field(v)}"
            for k, v in r.fields.items()
        )
        return f"{self.prefix(r)} {fields} {r.ts_ms}"

    def encode(self, readings: Iterable[Reading]) -> bytes:
        """A batch as one /write body (precision=ms)."""
        return ("\n".join(map(self.line, readings)) + "\n").encode("utf-8")


def encode_line(r: Reading) -> str:
    """One point; empty tag values are left out, as InfluxDB requires."""
    fields = ",".join(f"{k.translate(_TAG_ESCAPE)}={_field(v)}" for k, v in r.fields.items())
    return f"{series_prefix(r.measurement, r.tags)} {fields} {r.ts_ms}"


def encode(readings: Iterable[Reading]) -> bytes:
    """A batch as one /write body (precision=ms), without a prefix cache."""
    return ("\n".join(encode_line(r) for r in readings) + "\n").encode("utf-8")


def encode_columns(prefixes: Sequence[str], rows: Iterable[int], ts_ms: Iterable[int],
                   fields: Sequence[tuple[str, Sequence[Any], int | None]]) -> list[str]:
    """Points given as columns, as lines (precision ms), exactly as LineEncoder writes their
    readings: each point's series (a prefix by row) and time, and per field (name, values,
    rounding) a Python int (an integer field), float, or None (the field left out)."""
    parts: list[list[str | None]] = []
    for name, values, digits in fields:
        if digits is not None:
            values = [None if v is None else round(v, digits) for v in values]
        parts.append([None if v is None else f"{name}={v}i" if type(v) is int
                      else f"{name}={v!r}" for v in values])
    text = [",".join([p for p in t if p is not None]) for t in zip(*parts, strict=True)]
    return [f"{prefixes[r]} {f} {t}" for r, f, t in zip(rows, text, ts_ms, strict=True) if f]
