"""Contract payloads to readings: parse, validate and tag; every refusal has a cause."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from district.readings import KINDS, FieldType, FieldValue, Reading

# The causes a reading can be refused for; each is counted and dead-lettered.
CAUSES: Final = (
    "too_large",       # payload above the configured size
    "bad_topic",       # not heat/<kind>/<id>, or an unknown kind
    "unknown_device",  # the registry does not know the id
    "kind_mismatch",   # the id is known, but as another kind of device
    "bad_json",        # not UTF-8 JSON
    "bad_shape",       # neither an object nor an array of objects
    "missing_ts",
    "bad_ts",          # not epoch seconds nor RFC 3339 with an offset, or out of range
    "missing_field",
    "wrong_type",
    "not_finite",      # NaN or infinity
    "store_rejected",  # the store refused the batch itself (e.g. a field type conflict)
)

# A timestamp outside this range is a device clock fault, not a reading.
TS_MIN_S: Final = 946_684_800.0  # 2000-01-01
TS_MAX_S: Final = 4_102_444_800.0  # 2100-01-01


@dataclass(frozen=True, slots=True)
class Rejection:
    """A refused message or array element, kept for inspection."""

    cause: str
    detail: str
    topic: str
    raw: bytes


@dataclass(frozen=True, slots=True)
class Registered:
    """What the records say about a device id: its kind and the tags its readings carry."""

    kind: str
    tags: Mapping[str, str]


class _Refused(Exception):
    def __init__(self, cause: str, detail: str) -> None:
        self.cause = cause
        self.detail = detail


def _reject_constant(name: str) -> float:
    # json accepts NaN/Infinity; we turn them into floats so the field check names the field
    return float(name.replace("Infinity", "inf"))


# one decoder for every message: json.loads with a keyword builds a new one per call
_DECODER = json.JSONDecoder(parse_constant=_reject_constant)


def parse_ts_ms(value: Any) -> int:
    """Epoch seconds (int or float) or RFC 3339 with an offset, as epoch milliseconds."""
    if isinstance(value, bool):
        raise _Refused("bad_ts", "ts is a boolean")
    if isinstance(value, int | float):
        seconds = float(value)
        if not math.isfinite(seconds):
            raise _Refused("bad_ts", "ts is not finite")
    elif isinstance(value, str):
        try:
            dt = datetime.fromisoformat(value)
        except ValueError:
            raise _Refused("bad_ts", f"ts {value[:40]!r} is not RFC 3339") from None
        if dt.tzinfo is None:
            raise _Refused("bad_ts", f"ts {value[:40]!r} has no UTC offset")
        seconds = dt.timestamp()
    else:
        raise _Refused("bad_ts", f"ts is a {type(value).__name__}")
    if not TS_MIN_S <= seconds < TS_MAX_S:
        raise _Refused("bad_ts", f"ts {seconds:.0f} is outside 2000..2100")
    return round(seconds * 1000)


def _field(name: str, value: Any, kind: FieldType) -> FieldValue:
    if kind is FieldType.BOOL:
        if isinstance(value, bool):
            return value
        raise _Refused("wrong_type", f"{name} must be true/false, got {type(value).__name__}")
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _Refused("wrong_type", f"{name} must be a number, got {type(value).__name__}")
    if kind is FieldType.INT:
        if isinstance(value, float):
            if not math.isfinite(value):
                raise _Refused("not_finite", f"{name} is {value}")
            if not value.is_integer():
                raise _Refused("wrong_type", f"{name} must be an integer, got {value}")
        return int(value)
    x = float(value)
    if not math.isfinite(x):
        raise _Refused("not_finite", f"{name} is {value}")
    return x


def _reading(kind: str, obj: Any, measurement_tags: Mapping[str, str]) -> Reading:
    if not isinstance(obj, dict):
        raise _Refused("bad_shape", f"element is a {type(obj).__name__}, not an object")
    if "ts" not in obj:
        raise _Refused("missing_ts", "no ts")
    ts_ms = parse_ts_ms(obj["ts"])
    schema = KINDS[kind]
    fields: dict[str, FieldValue] = {}
    for name, ftype in schema.required.items():
        if name not in obj or obj[name] is None:
            raise _Refused("missing_field", f"no {name}")
        fields[name] = _field(name, obj[name], ftype)
    for name, ftype in schema.optional.items():
        if obj.get(name) is not None:
            fields[name] = _field(name, obj[name], ftype)
    # the registry's tag mapping is shared, not copied: the store caches its encoding
    return Reading(kind, measurement_tags, fields, ts_ms)


def parse_message(
    topic: str,
    payload: bytes,
    registry: Mapping[str, Registered],
    prefix: str = "heat",
    max_bytes: int = 256 * 1024,
) -> tuple[list[Reading], list[Rejection]]:
    """One MQTT message to its valid readings and its refusals; never raises."""
    try:
        if len(payload) > max_bytes:
            raise _Refused("too_large", f"{len(payload)} bytes > {max_bytes}")
        parts = topic.split("/")
        if len(parts) != 3 or parts[0] != prefix or parts[1] not in KINDS or not parts[2]:
            raise _Refused("bad_topic", f"expected {prefix}/<kind>/<id>")
        kind, device_id = parts[1], parts[2]
        device = registry.get(device_id)
        if device is None:
            raise _Refused("unknown_device", f"{kind} {device_id!r} is not in the records")
        if device.kind != kind:
            raise _Refused("kind_mismatch", f"{device_id!r} is a {device.kind}, not a {kind}")
        try:
            # UnicodeDecodeError is a ValueError: not UTF-8 is bad JSON too
            doc = _DECODER.decode(payload.decode("utf-8-sig"))
        except (ValueError, RecursionError) as e:
            raise _Refused("bad_json", str(e)[:120]) from None
    except _Refused as r:
        return [], [Rejection(r.cause, r.detail, topic, payload)]

    items = doc if isinstance(doc, list) else [doc]
    if isinstance(doc, list) and not doc:
        return [], [Rejection("bad_shape", "empty array", topic, payload)]
    readings: list[Reading] = []
    rejections: list[Rejection] = []
    for item in items:
        try:
            readings.append(_reading(kind, item, device.tags))
        except _Refused as r:
            raw = payload if len(items) == 1 else json.dumps(item, ensure_ascii=False,
                                                             default=str).encode()
            rejections.append(Rejection(r.cause, r.detail, topic, raw))
    return readings, rejections
