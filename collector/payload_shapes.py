"""The plainest payloads straight to lines by one regex, with no JSON objects in between.

A device's message is usually an array of objects with `ts` (epoch seconds) and the kind's
required fields, in schema order, written as json.dumps writes them. For such a payload one
regex checks the whole message, string splits lift the numbers out as text and one %-format
writes them into the message's lines: a JSON decode, a dict per reading and a float repr per
field are saved. Only text that reads back unchanged is taken:
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
class _Punctuation:
    """What stands between a message's values in one spacing: before the first ts, between
    two objects, and before each field."""

    opening: str
    between: str
    before: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class _Shape:
    whole: re.Pattern[str]  # the message: one object, or an array of them
    usual: re.Pattern[str]  # the same in json.dumps' default spacing only: a third faster
    # json.dumps' default spacing (", " and ": "), then none at all
    spacings: tuple[_Punctuation, _Punctuation]
    tail: str  # a reading's line after its series: a %-format of its values, then ts


def _shape(kind: str) -> _Shape:
    fields = KINDS[kind].required
    obj = r'\{"ts": ?' + _TS + "".join(
        f', ?"{name}": ?{_VALUE[ftype]}' for name, ftype in fields.items()) + r"\}"
    group = obj.replace("(", "(?:").replace("(?:?:", "(?:")
    whole = re.compile(rf"\[{group}(?:, ?{group})*\]|{group}")
    spaced = group.replace(" ?", " ")
    usual = re.compile(rf"\[{spaced}(?:, {spaced})*\]|{spaced}")
    values = ",".join(f"{name}=%s{_SUFFIX[ftype]}" for name, ftype in fields.items())
    spacings = tuple(_Punctuation(f'{{"ts":{sp}', f'}},{sp}{{"ts":{sp}',
                                  tuple(f',{sp}"{name}":{sp}' for name in fields))
                     for sp in (" ", ""))
    return _Shape(whole, usual, (spacings[0], spacings[1]), " " + values + " %s000")


_SHAPES: Final = {kind: _shape(kind) for kind in KINDS}


def plain_lines(kind: str, series: str, payload: bytes) -> list[str] | None:
    """The lines of a message in the plainest shape, or None for anything else."""
    block = plain_block(kind, series, payload)
    return None if block is None else block[0].split("\n")


def plain_block(kind: str, series: str, payload: bytes) -> tuple[str, int] | None:
    """plain_lines as one text (the lines joined by newlines, none at the end) and their
    count, or None: the collector's batch keeps a message's lines as one such block.

    Once the regex has checked the whole message, its values are cut out by plain string
    splits, reordered by slices (the timestamp goes last) and written by one %-format for
    the whole message: a handful of C calls per message, not a few per reading.
    """
    shape = _SHAPES[kind]
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError:
        return None
    if shape.usual.fullmatch(text) is None and shape.whole.fullmatch(text) is None:
        return None
    flat = _values_apart(shape, text[1:-1] if text[0] == "[" else text)
    values = flat.split("\0")  # ts, its fields, the next ts, ...
    width = len(shape.spacings[0].before) + 1
    n = len(values) // width
    ordered: list[str] = values[:]  # each object's fields, then its ts
    for i in range(1, width):
        ordered[i - 1::width] = values[i::width]
    ordered[width - 1::width] = values[0::width]
    tails = "\0".join([shape.tail] * n) % tuple(ordered)
    block = series + tails.replace("\0", "\n" + series)
    # the values hold no newline (the regex saw to it), but a series with one of its own
    # would split a line: the reference path judges that
    return (block, n) if "\n" not in series and n * width == len(values) else None


def _values_apart(shape: _Shape, objects: str) -> str:
    """A matched message's objects (its brackets gone) as its values joined by NULs.

    Cut by json.dumps' default punctuation when the message starts that way; a quote or a
    space left over means some of it is spaced otherwise (the regex allows one optional
    space at each place), and then the spaces are dropped (the shape has none inside a
    token) and it is cut by the punctuation without spaces.
    """
    usual, compact = shape.spacings
    if objects.startswith(usual.opening):
        flat = objects[len(usual.opening):-1].replace(usual.between, "\0")
        for before in usual.before:
            flat = flat.replace(before, "\0")
        if '"' not in flat and " " not in flat:
            return flat
    flat = objects.replace(" ", "")[len(compact.opening):-1].replace(compact.between, "\0")
    for before in compact.before:
        flat = flat.replace(before, "\0")
    return flat
