"""Message templates: a TOML file of titles and bodies with {placeholders}, Chinese by default."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

DEFAULT_PATH = Path(__file__).parent / "templates" / "zh.toml"
MESSAGE_KINDS = ("order_new", "escalation_warn", "escalation_breach", "return_visit",
                 "resident_notice")


class TemplateError(Exception):
    """A templates file that cannot be used; one line."""


class _Keep(dict[str, Any]):
    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


@dataclass(frozen=True, slots=True)
class Templates:
    """Titles and bodies per message kind, plus the names of order kinds and steps."""

    messages: dict[str, tuple[str, str]]
    kinds: dict[str, str]
    steps: dict[str, str]
    defaults: dict[str, str]
    causes: dict[str, str] = field(default_factory=dict)
    # an order kind's own words for a step ([kind_steps.<kind>]; a station has no resident)
    kind_steps: dict[str, dict[str, str]] = field(default_factory=dict)

    def render(self, kind: str, fields: dict[str, Any]) -> tuple[str, str]:
        """(title, body) of one message."""
        title, body = self.messages[kind]
        values = _Keep(fields)
        return title.format_map(values), body.format_map(values)

    def kind_text(self, order_kind: str) -> str:
        return self.kinds.get(order_kind, order_kind)

    def step_text(self, step: str, order_kind: str = "") -> str:
        """A step in words, as the order kind has it, else as [steps] has it."""
        own = self.kind_steps.get(order_kind, {})
        return own.get(step) or self.steps.get(step, step)

    def cause_text(self, cause: str) -> str:
        """A cause code in words (exception_<n> names its code); unknown codes stay as they
        are, so a test can catch them."""
        return cause_text(self.causes, cause)


def cause_text(causes: dict[str, str], cause: str) -> str:
    """One cause code (meter fault, comm fault, sensor fault, outage reason) in words."""
    code = cause.strip().lower()
    if code in causes:
        return causes[code]
    if code.startswith("exception_") and "exception" in causes:
        return f"{causes['exception']}（代码{code.removeprefix('exception_')}）"
    return cause


@lru_cache(maxsize=1)
def bundled() -> Templates:
    """The bundled Chinese templates (for texts made where no configured set is at hand)."""
    return load_templates()


def load_templates(path: Path | str | None = None) -> Templates:
    """The bundled templates, with a user file's entries laid over them."""
    data = _read(DEFAULT_PATH)
    if path:
        for key, value in _read(Path(path)).items():
            if isinstance(value, dict) and isinstance(data.get(key), dict):
                data[key] = {**data[key], **value}
            else:
                data[key] = value
    messages = {}
    for kind in MESSAGE_KINDS:
        entry = data.get(kind)
        if not isinstance(entry, dict) or not isinstance(entry.get("title"), str) \
                or not isinstance(entry.get("body"), str):
            raise TemplateError(f"templates: [{kind}] needs a title and a body")
        messages[kind] = (entry["title"], entry["body"])
    kind_steps = {str(k): {str(s): str(t) for s, t in v.items()}
                  for k, v in data.get("kind_steps", {}).items() if isinstance(v, dict)}
    return Templates(messages, dict(data.get("kinds", {})), dict(data.get("steps", {})),
                     dict(data.get("defaults", {})), dict(data.get("causes", {})), kind_steps)


def _read(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise TemplateError(f"{path}: templates file not found") from None
    except tomllib.TOMLDecodeError as e:
        raise TemplateError(f"{path}: not valid TOML: {e}") from None
