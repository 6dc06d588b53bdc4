"""The plainest payloads straight to lines by one regex, with no JSON objects in between.

A device's message is usually an array of objects with `ts` (epoch seconds) and the kind's
required fields, in schema order, written as json.dumps writes them. For such a payload one
regex checks the whole message and another lifts the numbers out as text, which becomes the
line: a JSON decode, a dict per reading and a float repr per field are saved (about half of
the collector's CPU per reading for arrays). Only text that reads back unchanged is taken:
a float written as repr writes it (up to 12 significant digits, no exponent), an integer
without leading zeros that fits int64, `true`/`false`, and a whole-second `ts` in 2001..2096;
anything else (other keys or order, optional fields, spacing, escapes, ...) returns None and
goes the reference way. tests/test_payload_shapes.py holds both ways equal.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

from district.readings import KINDS, FieldType

# floats that repr writes back the same: no exponent, no trailing zero, <= 12 digits
_FLOAT: Final = (r"-?(?:[1-9][0-9]{0,5}\.(?:0|[0-9]{0,5}[1-9])"
                 r"|0\.[0-9]{0,2}[1-9])")
# int64 without leading zeros; "-0" reads back as "0", so it is left out
_INT: Final = r"(?:0|-?[1-9][0-9]{0,17})"
_BOOL: Final = r"(?:true|false)"
# whole epoch seconds 1,000,000,000..3,999,999,999 (2001..2096), inside the contract's range
_TS: Final = r"[1-3][0-9]{9}"
_VALUE: Final = {FieldType.FLOAT: _FLOAT, FieldType.INT: _INT, FieldType.BOOL: _BOOL}
_SUFFIX: Final = {FieldType.FLOAT: "", FieldType.INT: "i", FieldType.BOOL: ""}


@dataclass(frozen=True, slots=True)
class _Shape:
    whole: re.Pattern[str]  # the message: one object, or an array of them
    item: re.Pattern[str]  # one object, its ts and fields as groups
    template: str  # the line, "{series}" still to fill in; groups by position
    # a kind with one required field (rooms, weather: most readings): " name=" and suffix
    single: tuple[str, str] | None


def _shape(kind: str) -> _Shape:
    fields = KINDS[kind].required
    obj = r'\{"ts": ?(' + _TS + ")" + "".join(
        f', ?"{name}": ?({_VALUE[ftype]})' for name, ftype in fields.items()) + r"\}"
    plain = obj.replace("(", "(?:").replace("(?:?:", "(?:")
    whole = re.compile(rf"\[{plain}(?:, ?{plain})*\]|{plain}")
    values = ",".join(f"{name}={{{i + 1}}}{_SUFFIX[ftype]}"
                      for i, (name, ftype) in enumerate(fields.items()))
    single = None
    if len(fields) == 1:
        name, ftype = next(iter(fields.items()))
        single = (f" {name}=", _SUFFIX[ftype])
    return _Shape(whole, re.compile(obj), "{series} " + values + " {0}000", single)


_SHAPES: Final = {kind: _shape(kind) for kind in KINDS}


def plain_lines(kind: str, series: str, payload: bytes) -> list[str] | None:
    """The lines of a message in the plainest shape, or None for anything else."""
    shape = _SHAPES[kind]
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError:
        return None
    if shape.whole.fullmatch(text) is None:
        return None
    found: list[tuple[str, ...]] = shape.item.findall(text)
    if shape.single is not None:
        head = series + shape.single[0]
        suffix = shape.single[1]
        return [f"{head}{value}{suffix} {ts}000" for ts, value in found]
    # the template's braces are the format's; a series' own braces must stay literal
    fmt = shape.template.replace("{series}", series.replace("{", "{{").replace("}", "}}"))
    return [fmt.format(*groups) for groups in found]
