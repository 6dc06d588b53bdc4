"""Meter profiles: a model's register map as data, and the codec both sides share."""

from __future__ import annotations

import math
import struct
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any, Final

import numpy as np

from district.readings import KINDS, FieldType

PROFILES_DIR: Final = Path(__file__).parent / "profiles"

# type name -> (struct code, registers, is float)
TYPES: Final[dict[str, tuple[str, int, bool]]] = {
    "u16": ("H", 1, False),
    "i16": ("h", 1, False),
    "u32": ("I", 2, False),
    "i32": ("i", 2, False),
    "f32": ("f", 2, True),
    "f64": ("d", 4, True),
}
ORDERS: Final = ("big", "little")
FUNCTIONS: Final = (3, 4)  # 0x03 holding, 0x04 input registers
METER_SCHEMA: Final = KINDS["meter"]

_PROFILE_KEYS: Final = {"name", "description", "function", "byte_order", "word_order",
                        "registers", "golden"}
_REGISTER_KEYS: Final = {"field", "address", "count", "type", "scale", "byte_order",
                         "word_order"}
_GOLDEN_KEYS: Final = {"name", "registers", "base_address", "fields", "error"}


class ProfileError(Exception):
    """A profile file that cannot be used; the message names the file and key."""


class DecodeError(ValueError):
    """Registers that do not decode to a plausible reading (short, out of range, NaN/inf)."""


class EncodeError(ValueError):
    """Fields that do not fit the profile's registers."""


@dataclass(frozen=True, slots=True)
class Register:
    """One field's place in the register map and how its words become a number."""

    field: str
    address: int
    count: int
    type: str
    scale: float
    byte_order: str
    word_order: str

    @property
    def end(self) -> int:
        """One past the last register address."""
        return self.address + self.count

    @property
    def is_int_field(self) -> bool:
        return METER_SCHEMA.field_type(self.field) is FieldType.INT

    def _code(self) -> str:
        return TYPES[self.type][0]

    def _words_to_bytes(self, words: Sequence[int]) -> bytes:
        ordered = list(words) if self.word_order == "big" else list(reversed(words))
        out = bytearray()
        for w in ordered:
            out += w.to_bytes(2, "big" if self.byte_order == "big" else "little")
        return bytes(out)

    def _bytes_to_words(self, raw: bytes) -> list[int]:
        little = self.byte_order == "little"
        words = [int.from_bytes(raw[i:i + 2], "little" if little else "big")
                 for i in range(0, len(raw), 2)]
        return words if self.word_order == "big" else list(reversed(words))

    def decode(self, words: Sequence[int]) -> float | int:
        """This field's value from its own registers."""
        (raw,) = struct.unpack(">" + self._code(), self._words_to_bytes(words))
        if TYPES[self.type][2]:
            if not math.isfinite(raw):
                raise DecodeError(f"{self.field}: {raw} is not a finite number")
            # shortest decimal that is this f32, so 55.3 stays 55.3 rather than 55.29999923706055
            value = float(str(np.float32(raw))) if self.type == "f32" else float(raw)
            value = value * self.scale if self.scale != 1 else value
        else:
            value = _scaled(int(raw), self.scale)
        if self.is_int_field:
            return int(value)
        return float(value)

    def encode(self, value: float | int) -> list[int]:
        """The registers that hold this value."""
        code, _, is_float = TYPES[self.type]
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise EncodeError(f"{self.field}: {value!r} is not a number")
        if not math.isfinite(value):
            raise EncodeError(f"{self.field}: {value!r} is not finite")
        raw: float | int = value / self.scale if self.scale != 1 else value
        if not is_float:
            raw = round(raw)
        try:
            packed = struct.pack(">" + code, raw)
        except (struct.error, OverflowError) as e:
            raise EncodeError(f"{self.field}: {value!r} does not fit {self.type}") from e
        if is_float and self.type == "f32" and math.isinf(struct.unpack(">f", packed)[0]):
            raise EncodeError(f"{self.field}: {value!r} does not fit f32")
        return self._bytes_to_words(packed)


def _scaled(raw: int, scale: float) -> float | int:
    if scale == 1:
        return raw
    # round to the scale's own decimals so 1234567 x 0.01 is 12345.67, not 12345.670000000002
    exponent = Decimal(repr(scale)).normalize().as_tuple().exponent
    digits = max(0, -exponent) if isinstance(exponent, int) else 0
    return round(raw * scale, digits)


@dataclass(frozen=True, slots=True)
class GoldenCase:
    """Raw registers and the fields they must decode to, or the field that must be rejected."""

    name: str
    registers: tuple[int, ...]
    base_address: int
    fields: dict[str, float | int]
    error: str  # non-empty: decode must raise DecodeError naming this field


@dataclass(frozen=True, slots=True)
class Profile:
    """One meter model: its register map over one function code, and golden cases."""

    name: str
    path: Path
    function: int
    registers: tuple[Register, ...]
    golden: tuple[GoldenCase, ...]
    description: str = ""

    @property
    def first_address(self) -> int:
        return self.registers[0].address

    @property
    def end_address(self) -> int:
        """One past the highest register the profile uses."""
        return max(r.end for r in self.registers)

    @property
    def fields(self) -> tuple[str, ...]:
        return tuple(r.field for r in self.registers)

    def decode(self, registers: Sequence[int], base_address: int = 0) -> dict[str, float | int]:
        """Fields from a register image whose first word sits at base_address."""
        out: dict[str, float | int] = {}
        for reg in self.registers:
            lo = reg.address - base_address
            hi = lo + reg.count
            if lo < 0 or hi > len(registers):
                raise DecodeError(f"{reg.field}: registers {reg.address}..{reg.end - 1} "
                                  f"are not in the {len(registers)} words from {base_address}")
            words = registers[lo:hi]
            for w in words:
                if not isinstance(w, int) or isinstance(w, bool) or not 0 <= w <= 0xFFFF:
                    raise DecodeError(f"{reg.field}: {w!r} is not a 16-bit register")
            out[reg.field] = reg.decode(words)
        return out

    def encode(self, fields: Mapping[str, float | int]) -> list[int]:
        """The register image from first_address to end_address - 1; gaps are zero."""
        image = [0] * (self.end_address - self.first_address)
        for reg in self.registers:
            if reg.field not in fields:
                raise EncodeError(f"{self.name}: field {reg.field!r} is missing")
            lo = reg.address - self.first_address
            image[lo:lo + reg.count] = reg.encode(fields[reg.field])
        return image

    def run_golden(self) -> list[str]:
        """Every golden case that fails, as one line each; empty when all pass."""
        failures: list[str] = []
        for case in self.golden:
            where = f"{self.path}: golden {case.name!r}"
            try:
                got = self.decode(case.registers, case.base_address)
            except DecodeError as e:
                if not case.error or case.error not in str(e):
                    failures.append(f"{where}: unexpected DecodeError {e}")
                continue
            if case.error:
                failures.append(f"{where}: expected DecodeError on {case.error!r}, got {got}")
                continue
            for name, want in case.fields.items():
                have = got.get(name)
                want_type = int if name in _int_fields() else float
                if have is None or type(have) is not want_type:
                    failures.append(f"{where}: {name} = {have!r}, want {want_type.__name__} "
                                    f"{want!r}")
                elif not math.isclose(float(have), float(want), rel_tol=1e-9, abs_tol=1e-12):
                    failures.append(f"{where}: {name} = {have!r}, want {want!r}")
        return failures


def _int_fields() -> set[str]:
    return {n for n, t in {**METER_SCHEMA.required, **METER_SCHEMA.optional}.items()
            if t is FieldType.INT}


def _known_fields() -> dict[str, FieldType]:
    return {**METER_SCHEMA.required, **METER_SCHEMA.optional}


def _check_keys(table: Mapping[str, Any], allowed: set[str], where: str) -> None:
    unknown = sorted(set(table) - allowed)
    if unknown:
        raise ProfileError(f"{where}: unknown key(s) {', '.join(unknown)} "
                           f"(known: {', '.join(sorted(allowed))})")


def _get(table: Mapping[str, Any], key: str, kind: type | tuple[type, ...], where: str,
         default: Any = None) -> Any:
    if key not in table:
        if default is None:
            raise ProfileError(f"{where}: missing key {key!r}")
        return default
    value = table[key]
    if isinstance(value, bool) and bool not in (kind if isinstance(kind, tuple) else (kind,)):
        raise ProfileError(f"{where}: {key} = {value!r} has the wrong type")
    if not isinstance(value, kind):
        raise ProfileError(f"{where}: {key} = {value!r} has the wrong type")
    return value


def _order(table: Mapping[str, Any], key: str, where: str, default: str) -> str:
    value = _get(table, key, str, where, default)
    if value not in ORDERS:
        raise ProfileError(f"{where}: {key} = {value!r} (expected big or little)")
    return str(value)


def _register(item: Any, where: str, byte_order: str, word_order: str) -> Register:
    if not isinstance(item, Mapping):
        raise ProfileError(f"{where}: must be a table")
    field_name = _get(item, "field", str, where)
    where = f"{where} ({field_name})"
    _check_keys(item, _REGISTER_KEYS, where)
    kinds = _known_fields()
    if field_name not in kinds:
        raise ProfileError(f"{where}: field {field_name!r} is not a meter field "
                           f"(known: {', '.join(sorted(kinds))})")
    address = _get(item, "address", int, where)
    if not 0 <= address <= 0xFFFF:
        raise ProfileError(f"{where}: address {address} is outside 0..65535")
    type_name = _get(item, "type", str, where)
    if type_name not in TYPES:
        raise ProfileError(f"{where}: unknown type {type_name!r} "
                           f"(expected {', '.join(TYPES)})")
    width = TYPES[type_name][1]
    count = _get(item, "count", int, where, width)
    if count != width:
        raise ProfileError(f"{where}: count {count} does not match type {type_name} "
                           f"({width} register{'s' if width > 1 else ''})")
    if address + count - 1 > 0xFFFF:
        raise ProfileError(f"{where}: registers run past 65535")
    scale = float(_get(item, "scale", (int, float), where, 1.0))
    if not math.isfinite(scale) or scale == 0:
        raise ProfileError(f"{where}: scale {scale!r} must be finite and non-zero")
    if kinds[field_name] is FieldType.INT and (TYPES[type_name][2] or scale != 1):
        raise ProfileError(f"{where}: {field_name} is an integer field: "
                           "it needs an integer type and scale 1")
    return Register(field_name, address, count, type_name, scale,
                    _order(item, "byte_order", where, byte_order),
                    _order(item, "word_order", where, word_order))


def _golden(item: Any, where: str) -> GoldenCase:
    if not isinstance(item, Mapping):
        raise ProfileError(f"{where}: must be a table")
    _check_keys(item, _GOLDEN_KEYS, where)
    name = _get(item, "name", str, where)
    where = f"{where} ({name})"
    regs = _get(item, "registers", list, where)
    if not all(isinstance(r, int) and not isinstance(r, bool) for r in regs):
        raise ProfileError(f"{where}: registers must be integers")
    error = _get(item, "error", str, where, "")
    fields = _get(item, "fields", dict, where, {} if error else None)
    for k, v in fields.items():
        if isinstance(v, bool) or not isinstance(v, int | float):
            raise ProfileError(f"{where}: fields.{k} = {v!r} is not a number")
    base = _get(item, "base_address", int, where, -1)
    return GoldenCase(name, tuple(regs), base, dict(fields), error)


def parse_profile(data: Mapping[str, Any], path: Path) -> Profile:
    """A checked Profile from a TOML document; ProfileError names file and key."""
    where = str(path)
    _check_keys(data, _PROFILE_KEYS, where)
    name = _get(data, "name", str, where, path.stem)
    function = _get(data, "function", int, where, 4)
    if function not in FUNCTIONS:
        raise ProfileError(f"{where}: function = {function} (expected 3 holding or 4 input)")
    byte_order = _order(data, "byte_order", where, "big")
    word_order = _order(data, "word_order", where, "big")
    items = _get(data, "registers", list, where)
    if not items:
        raise ProfileError(f"{where}: registers is empty")
    regs = [_register(item, f"{where}: registers[{i}]", byte_order, word_order)
            for i, item in enumerate(items)]
    seen: dict[str, int] = {}
    for i, r in enumerate(regs):
        if r.field in seen:
            raise ProfileError(f"{where}: registers[{i}]: field {r.field!r} is already "
                               f"mapped by registers[{seen[r.field]}]")
        seen[r.field] = i
    order = sorted(range(len(regs)), key=lambda i: regs[i].address)
    for a, b in zip(order, order[1:], strict=False):
        if regs[b].address < regs[a].end:
            raise ProfileError(f"{where}: registers[{b}] ({regs[b].field}) at {regs[b].address} "
                               f"overlaps registers[{a}] ({regs[a].field}) at "
                               f"{regs[a].address}..{regs[a].end - 1}")
    missing = sorted(set(METER_SCHEMA.required) - set(seen))
    if missing:
        raise ProfileError(f"{where}: registers lack required meter field(s) "
                           f"{', '.join(missing)}")
    sorted_regs = tuple(regs[i] for i in order)
    golden_items = _get(data, "golden", list, where, [])
    golden = []
    for i, item in enumerate(golden_items):
        case = _golden(item, f"{where}: golden[{i}]")
        if case.base_address < 0:
            case = GoldenCase(case.name, case.registers, sorted_regs[0].address, case.fields,
                              case.error)
        golden.append(case)
    description = _get(data, "description", str, where, "")
    return Profile(name, path, function, sorted_regs, tuple(golden), description)


def load_profile(name_or_path: str | Path) -> Profile:
    """A profile by name (from collector/profiles) or by path to its TOML file."""
    p = Path(name_or_path)
    if p.suffix != ".toml":
        p = PROFILES_DIR / f"{name_or_path}.toml"
    try:
        data = tomllib.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ProfileError(f"{p}: profile not found") from None
    except OSError as e:
        raise ProfileError(f"{p}: cannot read: {e.strerror}") from None
    except tomllib.TOMLDecodeError as e:
        raise ProfileError(f"{p}: not valid TOML: {e}") from None
    except UnicodeDecodeError as e:
        raise ProfileError(f"{p}: not UTF-8 ({e.reason})") from None
    profile = parse_profile(data, p)
    if profile.name != p.stem:
        raise ProfileError(f"{p}: name = {profile.name!r} must match the file name {p.stem!r}")
    return profile


def load_profiles(folder: str | Path | None = None) -> dict[str, Profile]:
    """Every *.toml profile in a folder (default collector/profiles), by name."""
    root = Path(folder) if folder is not None else PROFILES_DIR
    if not root.is_dir():
        raise ProfileError(f"{root}: profile folder not found")
    return {p.stem: load_profile(p) for p in sorted(root.glob("*.toml"))}
