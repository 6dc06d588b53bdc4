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
    "bad_topic",       # not heat/<kind>/<id>
    "unknown_kind",    # heat/<kind>/<id> with a kind the contract does not know
    "unknown_device",  # the registry does not know the id
    "kind_mismatch",   # the id is known, but as another kind of device
    "bad_json",        # not UTF-8 JSON
    "bad_shape",       # neither an object nor an array of objects
    "missing_ts",
    "bad_ts",          # not epoch seconds nor RFC 3339 with an offset, or out of range
    "missing_field",
    "wrong_type",
    "not_finite",      # NaN or infinity
    "out_of_range",    # a number float64 or int64 cannot hold
    "parse_error",     # anything else that went wrong parsing this one reading
    "store_rejected",  # the store refused this reading itself (e.g. a field type conflict)
)

# int fields are stored as int64 (InfluxDB `i`, SQLite INTEGER)
INT64_MIN: Final = -(1 << 63)
INT64_MAX: Final = (1 << 63) - 1

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


class Refused(Exception):
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
        raise Refused("bad_ts", "ts is a boolean")
    if isinstance(value, int | float):
        try:
            seconds = float(value)
        except OverflowError:
            raise Refused("bad_ts", "ts is outside 2000..2100") from None
        if not math.isfinite(seconds):
            raise Refused("bad_ts", "ts is not finite")
    elif isinstance(value, str):
        try:
            dt = datetime.fromisoformat(value)
        except ValueError:
            raise Refused("bad_ts", f"ts {value[:40]!r} is not RFC 3339") from None
        if dt.tzinfo is None:
            raise Refused("bad_ts", f"ts {value[:40]!r} has no UTC offset")
        seconds = dt.timestamp()
    else:
        raise Refused("bad_ts", f"ts is a {type(value).__name__}")
    if not TS_MIN_S <= seconds < TS_MAX_S:
        raise Refused("bad_ts", f"ts {seconds:.0f} is outside 2000..2100")
    return round(seconds * 1000)


def _field(name: str, value: Any, kind: FieldType) -> FieldValue:
    if kind is FieldType.BOOL:
        if isinstance(value, bool):
            return value
        raise Refused("wrong_type", f"{name} must be true/false, got {type(value).__name__}")
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise Refused("wrong_type", f"{name} must be a number, got {type(value).__name__}")
    if kind is FieldType.INT:
        if isinstance(value, float):
            if not math.isfinite(value):
                raise Refused("not_finite", f"{name} is {value}")
            if not value.is_integer():
                raise Refused("wrong_type", f"{name} must be an integer, got {value}")
        n = int(value)
        if not INT64_MIN <= n <= INT64_MAX:
            raise Refused("out_of_range", f"{name} {_short(n)} does not fit in int64")
        return n
    try:
        x = float(value)
    except OverflowError:
        raise Refused("out_of_range", f"{name} {_short(value)} does not fit in float64") from None
    if not math.isfinite(x):
        raise Refused("not_finite", f"{name} is {value}")
    return x


def _short(n: int | float) -> str:
    """A number for a message: huge ints by their digit count, not 400 digits."""
    if isinstance(n, int) and abs(n) >= 10**20:
        return f"{'-' if n < 0 else ''}({len(str(abs(n)))}-digit integer)"
    return repr(n)


def reading_of(kind: str, obj: Any, measurement_tags: Mapping[str, str]) -> Reading:
    if not isinstance(obj, dict):
        raise Refused("bad_shape", f"element is a {type(obj).__name__}, not an object")
    if "ts" not in obj:
        raise Refused("missing_ts", "no ts")
    ts_ms = parse_ts_ms(obj["ts"])
    schema = KINDS[kind]
    fields: dict[str, FieldValue] = {}
    for name, ftype in schema.required.items():
        if name not in obj or obj[name] is None:
            raise Refused("missing_field", f"no {name}")
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
    readings, _, rejections = parse_indexed(topic, payload, registry, prefix, max_bytes)
    return readings, rejections


def parse_indexed(
    topic: str,
    payload: bytes,
    registry: Mapping[str, Registered],
    prefix: str = "heat",
    max_bytes: int = 256 * 1024,
) -> tuple[list[Reading], list[int], list[Rejection]]:
    """As parse_message, plus each reading's element index (0 for a single object)."""
    try:
        return _parse(topic, payload, registry, prefix, max_bytes)
    except Exception as e:  # a bug or an input we did not foresee fails only this message
        return [], [], [Rejection("parse_error", describe(e), topic, payload)]


def describe(e: BaseException) -> str:
    return f"{type(e).__name__}: {e}"[:500]


def _header(
    topic: str,
    payload: bytes,
    registry: Mapping[str, Registered],
    prefix: str,
    max_bytes: int,
) -> tuple[str, Registered, list[Any]] | Rejection:
    """The message's kind, device and elements, or the refusal of the whole message."""
    found = device_of(topic, payload, registry, prefix, max_bytes)
    return found if isinstance(found, Rejection) else elements_of(*found, topic, payload)


def device_of(
    topic: str,
    payload: bytes,
    registry: Mapping[str, Registered],
    prefix: str,
    max_bytes: int,
) -> tuple[str, Registered] | Rejection:
    """The message's kind and device, or the refusal of the whole message."""
    try:
        if len(payload) > max_bytes:
            raise Refused("too_large", f"{len(payload)} bytes > {max_bytes}")
        parts = topic.split("/")
        if len(parts) != 3 or parts[0] != prefix or not parts[1] or not parts[2]:
            raise Refused("bad_topic", f"expected {prefix}/<kind>/<id>")
        kind, device_id = parts[1], parts[2]
        if kind not in KINDS:
            raise Refused("unknown_kind", f"kind {kind!r} is not one of {', '.join(KINDS)}")
        device = registry.get(device_id)
        if device is None:
            raise Refused("unknown_device", f"{kind} {device_id!r} is not in the records")
        if device.kind != kind:
            raise Refused("kind_mismatch", f"{device_id!r} is a {device.kind}, not a {kind}")
    except Refused as r:
        return Rejection(r.cause, r.detail, topic, payload)
    return kind, device


def elements_of(kind: str, device: Registered, topic: str,
              payload: bytes) -> tuple[str, Registered, list[Any]] | Rejection:
    """The message's JSON elements, or its refusal (bad JSON, an empty array)."""
    try:
        # UnicodeDecodeError is a ValueError: not UTF-8 is bad JSON too
        doc = _DECODER.decode(payload.decode("utf-8-sig"))
    except (ValueError, RecursionError) as e:
        return Rejection("bad_json", str(e)[:500], topic, payload)
    if isinstance(doc, list) and not doc:
        return Rejection("bad_shape", "empty array", topic, payload)
    return kind, device, doc if isinstance(doc, list) else [doc]


def _parse(
    topic: str,
    payload: bytes,
    registry: Mapping[str, Registered],
    prefix: str,
    max_bytes: int,
) -> tuple[list[Reading], list[int], list[Rejection]]:
    head = _header(topic, payload, registry, prefix, max_bytes)
    if isinstance(head, Rejection):
        return [], [], [head]
    kind, device, items = head
    readings: list[Reading] = []
    indexes: list[int] = []
    rejections: list[Rejection] = []
    for i, item in enumerate(items):
        try:
            readings.append(reading_of(kind, item, device.tags))
            indexes.append(i)
        except Refused as r:
            rejections.append(Rejection(r.cause, r.detail, topic,
                                        element_payload(payload, items, i)))
        except Exception as e:  # e.g. RecursionError on a deeply nested element
            rejections.append(Rejection("parse_error", describe(e), topic,
                                        element_payload(payload, items, i)))
    return readings, indexes, rejections


def element_payload(payload: bytes, items: list[Any], index: int) -> bytes:
    """What to keep of one element: the message itself, or the element as its own JSON.

    Either is a payload that can be published again on the same topic (a replay).
    """
    if len(items) == 1:
        return payload
    try:
        return json.dumps(items[index], ensure_ascii=False, default=str).encode()
    except (ValueError, RecursionError):
        return payload


def element_of(topic: str, payload: bytes, index: int) -> bytes:
    """Element `index` of a message as a payload of its own (see element_payload)."""
    try:
        doc = _DECODER.decode(payload.decode("utf-8-sig"))
    except (ValueError, RecursionError):
        return payload
    items = doc if isinstance(doc, list) else [doc]
    return element_payload(payload, items, index) if 0 <= index < len(items) else payload
