"""The Jinja2 environment and the page shell every printable document extends
(templates/base.html with page.css: A4 portrait, numbered pages, table headers repeated)."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from functools import lru_cache
from pathlib import Path
from typing import Any

import jinja2

TEMPLATES = Path(__file__).parent / "templates"


def money(x: Any) -> str:
    """A yuan amount with thousands separators and two decimals (2160 -> 2,160.00)."""
    try:
        return f"{Decimal(str(x)):,.2f}"
    except (InvalidOperation, ValueError):
        return str(x)


def num(x: Any, digits: int = 2) -> str:
    """A number with thousands separators, or a dash when there is none."""
    if x is None or x == "":
        return "—"
    try:
        d = Decimal(str(x))
    except (InvalidOperation, ValueError):
        return str(x)
    if not d.is_finite():
        return "—"
    text = f"{d:,.{digits}f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


@lru_cache(maxsize=1)
def environment() -> jinja2.Environment:
    """Templates from documents/templates, autoescaped, strict about unknown names."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=jinja2.select_autoescape(["html"]),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["money"] = money
    env.filters["num"] = num
    env.globals["page_css"] = (TEMPLATES / "page.css").read_text(encoding="utf-8")
    return env


def render(template: str, **context: Any) -> str:
    """One page of HTML from a template that extends base.html."""
    return environment().get_template(template).render(**context)
