"""No product code restates a rule's number (issue 19): the city's numbers live in `policy/`
and in config; everything else asks them. `python -m tests.test_policy_numbers` lists the
offenders.

Flagged: float literals of a rule's number (18.0, 24.0, 0.97, 0.02, 30.0, 120.0, 48.0, 35.0)
and strings that state one ("18℃", "24小时", "97 %", "30 min", ...). Not flagged: integers
(calendar facts such as 24 hours a day, 3600 s, loop counts), comments and docstrings, the
numbers of the config modules (`*/config.py`: their defaults are the config), floats on a
line that works in seconds (a name ending in `_s`: a timeout), and a line that says why it is
not a rule with a `# not a rule: <why>` comment.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EXCLUDED = {"policy", "tests", "bench", ".venv", "build", "docs", "deploy", "scripts"}
RULE_FLOATS = frozenset({18.0, 24.0, 0.97, 0.02, 30.0, 120.0, 48.0, 35.0})
# a number followed by its unit, not preceded by another digit or a decimal point
RULE_TEXT = re.compile(
    r"(?<![\d.])(?:18 ?(?:℃|°C|ºC)|24(?:小时| h\b)|97 ?%|2 ?%|30(?:分钟| min\b)|2 ?小时"
    r"|48(?:小时| h\b))")
# a line that works in seconds (a name ending in _s) states a timeout, not one of these rules
SECONDS = re.compile(r"\b\w+_[sS]\b")
WAIVER = re.compile(r"#\s*not a rule:\s*\S")
TEMPLATES = ROOT / "alerts" / "templates" / "zh.toml"
# Restatements found in files another change owns, left to it (issue 19); remove as fixed.
# Keyed by file and literal (not line), so a new literal elsewhere is still flagged.
PENDING: frozenset[tuple[str, object]] = frozenset()


def product_sources(root: Path = ROOT) -> list[Path]:
    """Every Python file of the product's packages (not policy, tests or bench)."""
    packages = [p for p in sorted(root.iterdir())
                if p.is_dir() and p.name not in EXCLUDED and (p / "__init__.py").exists()]
    return sorted(f for p in packages for f in p.rglob("*.py"))


def _docstrings(tree: ast.Module) -> set[int]:
    """ids of the string constants that are docstrings (statements of their own)."""
    out: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant) \
                and isinstance(node.value.value, str):
            out.add(id(node.value))
    return out


def _is_rule(value: object, line: str, config: bool) -> bool:
    """A float of a rule's number (not in a config module, not on a line in seconds), or a
    string that states one."""
    if isinstance(value, float):
        return value in RULE_FLOATS and not config and not SECONDS.search(line)
    return isinstance(value, str) and RULE_TEXT.search(value) is not None


def restated(path: Path, root: Path = ROOT) -> list[str]:
    """The rule numbers one Python file restates, as `path:line: literal`."""
    text = path.read_text(encoding="utf-8")
    lines = text.splitlines()
    tree = ast.parse(text)
    docs = _docstrings(tree)
    out = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Constant) or id(node) in docs:
            continue
        span = lines[node.lineno - 1:(node.end_lineno or node.lineno)]
        if not _is_rule(node.value, lines[node.lineno - 1], path.name == "config.py") \
                or any(WAIVER.search(line) for line in span):
            continue
        rel = path.relative_to(root).as_posix()
        if (rel, node.value) not in PENDING:
            out.append(f"{rel}:{node.lineno}: {node.value!r}")
    return out


def restated_in_templates(path: Path = TEMPLATES) -> list[str]:
    """Lines of the message templates that state a rule's number (not comments)."""
    return [f"{path.name}:{i}: {line.strip()}"
            for i, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
            if not line.lstrip().startswith("#") and RULE_TEXT.search(line)]


def offenders(root: Path = ROOT) -> list[str]:
    return [hit for path in product_sources(root) for hit in restated(path, root)]


def test_no_product_code_restates_a_rule_number() -> None:
    assert offenders() == []


def test_the_templates_take_rule_numbers_from_the_policy() -> None:
    assert restated_in_templates() == []


def test_the_scan_sees_a_restated_number(tmp_path: Path) -> None:
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "mod.py").write_text(
        '"""A docstring may say 18 °C."""\n'
        "LIMIT = 18.0\n"
        "DAY_H = 24  # an integer: a calendar fact\n"
        "WORDS = '室温低于18℃'\n"
        "ALSO = '目标 97 %'\n"
        "NOT = '118 °C, 2.2 %, 12 h'\n"
        "FINE = 24.0  # not a rule: hours in a day\n"
        "def stop(timeout_s: float = 30.0) -> None: ...\n"
        "RANGE = 'now-24h'\n")
    (pkg / "config.py").write_text(
        "from dataclasses import dataclass\n"
        "@dataclass\nclass C:\n    min_c: float = 18.0\n")
    assert offenders(tmp_path) == [
        "pkg/mod.py:2: 18.0", "pkg/mod.py:4: '室温低于18℃'", "pkg/mod.py:5: '目标 97 %'"]


if __name__ == "__main__":
    print("\n".join(offenders() + restated_in_templates()) or "none")


def test_the_pages_take_rule_numbers_from_the_policy() -> None:
    """The crew page's and the desk's HTML templates too (a 回访 heading once said 48小时)."""
    pages = sorted((ROOT / "alerts" / "templates").glob("*.html")) + \
        sorted((ROOT / "desk" / "templates").glob("*.html"))
    assert pages
    assert [line for p in pages for line in restated_in_templates(p)] == []
