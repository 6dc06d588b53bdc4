"""Message templates: a TOML file of titles and bodies with {placeholders}, Chinese by default.

A template states a rule's number as a placeholder ({over_h}, {min_c}, {contact_min}, ...),
filled from the city's rules and the service limits the templates are bound to
(`policy.causes.rule_values`); causes are words from the catalogue (`policy/causes.py`), which
a templates file's [causes] may reword.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path
from typing import Any

from policy import causes as catalogue
from policy.causes import CAUSES_ZH, ServiceLimitsLike, rule_values
from policy.rules import CityRules
from policy.service import ServiceLimits

DEFAULT_PATH = Path(__file__).parent / "templates" / "zh.toml"
MESSAGE_KINDS = ("order_new", "escalation_warn", "escalation_breach", "return_visit",
                 "resident_notice", "order_reopened")


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
    # the file's own words for causes, over the catalogue's (placeholders unfilled)
    cause_words: dict[str, str] = field(default_factory=dict)
    # an order kind's own words for a step ([kind_steps.<kind>]; a station has no resident)
    kind_steps: dict[str, dict[str, str]] = field(default_factory=dict)
    city: CityRules = field(default_factory=CityRules)
    limits: ServiceLimitsLike = field(default_factory=ServiceLimits)

    def for_city(self, city: CityRules, limits: ServiceLimitsLike | None = None) -> Templates:
        """The same templates stating this city's rules (and these service limits)."""
        return replace(self, city=city, limits=self.limits if limits is None else limits)

    @property
    def values(self) -> dict[str, str]:
        """The rules the templates may name, by placeholder."""
        return rule_values(self.city, self.limits)

    @property
    def causes(self) -> dict[str, str]:
        """Every cause code in words, the city's numbers filled in."""
        values = _Keep(self.values)
        return {code: text.format_map(values)
                for code, text in {**CAUSES_ZH, **self.cause_words}.items()}

    def render(self, kind: str, fields: Mapping[str, Any]) -> tuple[str, str]:
        """(title, body) of one message; rule placeholders from the bound city."""
        title, body = self.messages[kind]
        values = _Keep({**self.values, **fields})
        return title.format_map(values), body.format_map(values)

    def kind_text(self, order_kind: str) -> str:
        return self.kinds.get(order_kind, order_kind)

    def step_text(self, step: str, order_kind: str = "") -> str:
        """A step in words, as the order kind has it, else as [steps] has it."""
        own = self.kind_steps.get(order_kind, {})
        step = step.split(":", 1)[0]  # a reopened order's round (on_site:2) is the same step
        return own.get(step) or self.steps.get(step, step)

    def cause_text(self, cause: str) -> str:
        """A cause code in words (exception_<n> names its code); unknown codes stay as they
        are, so a test can catch them."""
        return cause_text(self.causes, cause)


def cause_text(causes: Mapping[str, str], cause: str) -> str:
    """One cause code (meter fault, comm fault, sensor fault, outage reason) in words."""
    return catalogue.cause_text(cause, causes)


@lru_cache(maxsize=1)
def bundled() -> Templates:
    """The bundled Chinese templates (for texts made where no configured set is at hand)."""
    return load_templates()


def load_templates(path: Path | str | None = None, city: CityRules | None = None,
                   limits: ServiceLimitsLike | None = None) -> Templates:
    """The bundled templates, with a user file's entries laid over them, stating the city's
    rules (default: docs/rules.md's) and these service limits (default: the seed's)."""
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
                     dict(data.get("defaults", {})), dict(data.get("causes", {})), kind_steps,
                     city or CityRules(), ServiceLimits() if limits is None else limits)


def _read(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise TemplateError(f"{path}: templates file not found") from None
    except tomllib.TOMLDecodeError as e:
        raise TemplateError(f"{path}: not valid TOML: {e}") from None
