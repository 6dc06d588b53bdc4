"""Text staff type (crew and dispatcher notes) made safe for wherever it goes: stored notes,
chat-robot markdown and the operator's terminal."""

from __future__ import annotations

import re
import unicodedata

from alerts.lifecycle import OrderError

# bidi embeddings, overrides and isolates: they reorder what a reader sees (removed)
BIDI = re.compile("[\u202a-\u202e\u2066-\u2069\u200e\u200f\u061c]")
_URL = re.compile(r"https?://\S+")
_MARKDOWN = re.compile(r"([\\`*_\[\]()<>#!|~>])")


class NoteRefused(OrderError):
    """A note that cannot be stored as sent (too long, or with control characters)."""


def clean_note(note: str, max_chars: int) -> str:
    """The note to store: bidi controls removed; refused if over `max_chars` or with a
    control character other than newline and tab (a CR, an ESC, a NUL ...)."""
    note = BIDI.sub("", note)
    if len(note) > max_chars:
        raise NoteRefused(f"the note is {len(note)} characters; at most {max_chars}")
    bad = sorted({c for c in note if c not in "\n\t" and unicodedata.category(c) in
                  ("Cc", "Cf", "Cs", "Co")})
    if bad:
        names = ", ".join(f"U+{ord(c):04X}" for c in bad)
        raise NoteRefused(f"the note holds control characters ({names}); only newlines and "
                          "tabs are allowed")
    return note


def one_line(text: str) -> str:
    """Staff text inside a message line: its line breaks cannot start a line of their own."""
    return " ⏎ ".join(part.strip() for part in text.splitlines()) if text else text


def escape_markdown(text: str) -> str:
    """WeCom / DingTalk markdown of plain text: every markup character escaped, except
    inside URLs (so the links still open) and at no place a line can be forged from."""
    out: list[str] = []
    pos = 0
    for m in _URL.finditer(text):
        out.append(_MARKDOWN.sub(r"\\\1", text[pos:m.start()]))
        out.append(m.group(0))
        pos = m.end()
    out.append(_MARKDOWN.sub(r"\\\1", text[pos:]))
    return "".join(out)


def printable(text: str) -> str:
    """Text for a terminal: control characters (but newline and tab) and bidi controls shown
    as escapes, never acted on."""
    return "".join(c if c in "\n\t" or unicodedata.category(c) not in ("Cc", "Cf")
                   else repr(c)[1:-1] if c.isascii() else f"\\u{ord(c):04x}" for c in text)
