"""Contract payloads straight to lines of line protocol: no Reading object per element.

The common shapes are checked and written in one pass (payload_shapes for the plainest,
_fast_line per element for the rest); anything doubtful goes through payloads.reading_of,
the one reference of what is valid, and tests/test_payloads_lines.py holds the two equal.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from collector.payload_shapes import plain_block, plain_lines
from collector.payloads import (
    INT64_MAX,
    INT64_MIN,
    TS_MAX_S,
    TS_MIN_S,
    Refused,
    Registered,
    Rejection,
    describe,
    device_of,
    element_payload,
    elements_of,
    reading_of,
)
from district.readings import KINDS, FieldType
from storage.lineprotocol import LineEncoder

# Per kind, each field's name, type and whether it is required, in the order reading_of and
# the line encoder use (required, then optional, in schema order).
_PLANS: Final = {
    kind: tuple((name, ftype, True) for name, ftype in schema.required.items())
    + tuple((name, ftype, False) for name, ftype in schema.optional.items())
    for kind, schema in KINDS.items()
}
# integers below 2**53 convert to float64 exactly; larger ones take the reference path
_EXACT: Final = 1 << 53
_TS_MIN_I: Final = int(TS_MIN_S)
_TS_MAX_I: Final = int(TS_MAX_S)
_FLOAT, _INT, _BOOL = FieldType.FLOAT, FieldType.INT, FieldType.BOOL


# complexity 16, allowed here only: it runs once per reading, and a helper call per field
# would cost more than the whole check
def _fast_line(series: str, plan: tuple[tuple[str, FieldType, bool], ...], obj: Any  # noqa: C901
               ) -> str | None:
    """The line of a plainly valid element, or None for anything reading_of must judge.

    Accepts only what reading_of accepts and yields what the encoder writes for it (the
    property test in tests/test_payloads_lines.py holds the two together); every doubtful
    value (bool for a number, NaN, huge ints, RFC 3339 times, ...) goes the reference way.
    """
    if type(obj) is not dict:
        return None
    ts = obj.get("ts")
    if type(ts) is int:
        if not _TS_MIN_I <= ts < _TS_MAX_I:
            return None
        ts_ms = ts * 1000
    elif type(ts) is float:
        if not TS_MIN_S <= ts < TS_MAX_S:  # NaN fails too
            return None
        ts_ms = round(ts * 1000)
    else:
        return None
    out = []
    for name, ftype, required in plan:
        v = obj.get(name)
        if v is None:
            if required:
                return None
            continue
        t = type(v)
        if ftype is _FLOAT:
            if t is float:
                if v - v != 0.0:  # inf or NaN
                    return None
                out.append(f"{name}={v!r}")
            elif t is int and -_EXACT < v < _EXACT:
                out.append(f"{name}={float(v)!r}")
            else:
                return None
        elif ftype is _INT:
            if t is not int or not INT64_MIN <= v <= INT64_MAX:
                return None
            out.append(f"{name}={v}i")
        elif t is bool:
            out.append(f"{name}={'true' if v else 'false'}")
        else:
            return None
    return f"{series} {','.join(out)} {ts_ms}"


def parse_plain(topic: str, payload: bytes, registry: Mapping[str, Registered],
                encoder: LineEncoder, prefix: str = "heat", max_bytes: int = 256 * 1024
                ) -> tuple[str, int] | None:
    """A message in the plainest shape (payload_shapes) as one block of lines and their
    count; None for anything else, rejections included: parse_lines judges those."""
    try:
        found = device_of(topic, payload, registry, prefix, max_bytes)
        if isinstance(found, Rejection):
            return None
        kind, device = found
        return plain_block(kind, encoder.series(kind, device.tags), payload)
    except Exception:  # whatever it is, the reference path says what and counts it
        return None


def parse_lines(
    topic: str,
    payload: bytes,
    registry: Mapping[str, Registered],
    encoder: LineEncoder,
    prefix: str = "heat",
    max_bytes: int = 256 * 1024,
) -> tuple[list[str], list[int], list[Rejection]]:
    """As parse_indexed, but each valid reading as its line of line protocol; never raises.

    No Reading object per element: the common shapes are checked and written in one pass;
    anything else goes through reading_of, the one reference of what is valid.
    """
    try:
        found = device_of(topic, payload, registry, prefix, max_bytes)
        if isinstance(found, Rejection):
            return [], [], [found]
        kind, device = found
        series = encoder.series(kind, device.tags)
        plain = plain_lines(kind, series, payload)
        if plain is not None:  # the usual array: no JSON objects at all
            return plain, list(range(len(plain))), []
        head = elements_of(kind, device, topic, payload)
        if isinstance(head, Rejection):
            return [], [], [head]
        items = head[2]
        plan = _PLANS[kind]
        lines: list[str] = []
        indexes: list[int] = []
        rejections: list[Rejection] = []
        for i, item in enumerate(items):
            line = _fast_line(series, plan, item)
            if line is None:
                try:
                    line = encoder.line(reading_of(kind, item, device.tags))
                except Refused as r:
                    rejections.append(Rejection(r.cause, r.detail, topic,
                                                element_payload(payload, items, i)))
                    continue
                except Exception as e:  # e.g. RecursionError on a deeply nested element
                    rejections.append(Rejection("parse_error", describe(e), topic,
                                                element_payload(payload, items, i)))
                    continue
            lines.append(line)
            indexes.append(i)
        return lines, indexes, rejections
    except Exception as e:  # a bug or an input we did not foresee fails only this message
        return [], [], [Rejection("parse_error", describe(e), topic, payload)]
