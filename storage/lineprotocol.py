"""InfluxDB line protocol, written with millisecond precision."""

from __future__ import annotations

import math
from collections.abc import Iterable

from district.readings import FieldValue, Reading

_TAG_ESCAPE = str.maketrans({",": r"\,", " ": r"\ ", "=": r"\=", "\n": " "})
_MEASUREMENT_ESCAPE = str.maketrans({",": r"\,", " ": r"\ ", "\n": " "})


def _field(value: FieldValue) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return f"{value}i"
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"field value {value!r} is not finite")
        return repr(value)
    s = str(value).replace("\\", "\\\\").replace('"', '\\"')
    return f'"{s}"'


def encode_line(r: Reading) -> str:
    """One point; empty tag values are left out, as InfluxDB requires."""
    parts = [r.measurement.translate(_MEASUREMENT_ESCAPE)]
    for k in sorted(r.tags):
        v = r.tags[k]
        if v != "":
            parts.append(f"{k.translate(_TAG_ESCAPE)}={v.translate(_TAG_ESCAPE)}")
    fields = ",".join(f"{k.translate(_TAG_ESCAPE)}={_field(v)}" for k, v in r.fields.items())
    return f"{','.join(parts)} {fields} {r.ts_ms}"


def encode(readings: Iterable[Reading]) -> bytes:
    """A batch as one /write body (precision=ms)."""
    return ("\n".join(encode_line(r) for r in readings) + "\n").encode("utf-8")
