"""The docs ship with the code: no file in the repository points at a document outside it, every
docs/ page and path it names exists, and the pages say what the code reads (the records'
columns, the devices' fields and registers, the worked examples the tests cite)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from collector.profiles import load_profiles
from district import records
from district.readings import KINDS

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
SELF = Path(__file__).resolve()
# documents that live beside the repository, never in it (written in pieces: this file is
# checked too)
OUTSIDE = re.compile("|".join((r"\bDOM" + r"AIN\b", r"\bCONT" + r"RACT\b", r"\bSTY" + r"LE\.md",
                               r"\.\./sha" + "red", r"\bsha" + r"red/", r"\bse" + r"eds/")))
DOC_REF = re.compile(r"\bdocs/[\w.-]+\.(?:md|html|pdf)\b")
EXAMPLES = re.compile(r"docs/rules\.md worked examples? ([0-9][0-9 ,–-]*(?:and [0-9]+)?)")


def tracked_text_files() -> list[Path]:
    out = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True)
    paths = [ROOT / p for p in out.stdout.decode().split("\0") if p]
    texts = []
    for p in paths:
        if p.resolve() == SELF or not p.is_file():
            continue
        data = p.read_bytes()
        if b"\0" not in data[:8192]:
            texts.append(p)
    return texts


@pytest.fixture(scope="module")
def texts() -> dict[Path, str]:
    return {p: p.read_text(encoding="utf-8", errors="replace") for p in tracked_text_files()}


def test_nothing_points_at_a_document_outside_the_repository(texts: dict[Path, str]) -> None:
    found = [f"{p.relative_to(ROOT)}:{n}: {line.strip()}"
             for p, text in texts.items()
             for n, line in enumerate(text.splitlines(), 1) if OUTSIDE.search(line)]
    assert not found, "\n".join(found)


def test_every_docs_reference_is_a_file_in_the_repository(texts: dict[Path, str]) -> None:
    refs = {m for text in texts.values() for m in DOC_REF.findall(text)}
    assert {"docs/rules.md", "docs/records.md", "docs/devices.md"} <= refs
    missing = sorted(r for r in refs if not (ROOT / r).is_file())
    assert not missing, missing


def cited_examples(text: str) -> set[int]:
    out: set[int] = set()
    for m in EXAMPLES.finditer(text):
        for part in re.split(r",|and", m.group(1)):
            lo, _, hi = part.strip().replace("–", "-").partition("-")
            if lo:
                out |= set(range(int(lo), int(hi or lo) + 1))
    return out


def test_every_cited_worked_example_is_on_the_rules_page(texts: dict[Path, str]) -> None:
    rules = (DOCS / "rules.md").read_text(encoding="utf-8")
    written = {int(n) for n in re.findall(r"^(\d+)\. \*\*", rules, re.MULTILINE)}
    assert written == set(range(1, 11))
    cited = set().union(*(cited_examples(t) for t in texts.values()))
    assert cited and cited <= written, sorted(cited - written)
    assert cited_examples("docs/rules.md worked examples 1–4 and 7") == {1, 2, 3, 4, 7}


def table_names(page: str, heading: str) -> set[str]:
    """The backticked names in the first column of the table under `## heading`."""
    section = page.split(f"## {heading}\n", 1)[1].split("\n## ", 1)[0]
    return {name for row in re.findall(r"^\| ([^|]+) \|", section, re.MULTILINE)
            for name in re.findall(r"`(\w+)`", row)}


def test_the_records_page_has_every_column_the_loader_reads() -> None:
    page = (DOCS / "records.md").read_text(encoding="utf-8")
    for heading, columns in (("substations.csv", records.SUBSTATION_COLUMNS),
                             ("buildings.csv", records.BUILDING_COLUMNS),
                             ("accounts.csv", records.ACCOUNT_COLUMNS)):
        assert table_names(page, heading) == set(columns), heading
    optional = {"commissioned", *records.RESOLUTION_COLUMNS}
    assert table_names(page, "devices.csv") == set(records.DEVICE_COLUMNS) | optional
    for values in (records.DEVICE_KINDS, records.ROOM_TYPES, records.TARIFFS, records.PROTOCOLS):
        for value in values:
            assert f"`{value}`" in page, value


def test_the_devices_page_has_every_field_and_register() -> None:
    page = (DOCS / "devices.md").read_text(encoding="utf-8")
    rows = {row.split("|")[1].strip().strip("`"): row for row in page.splitlines()
            if row.startswith("| `")}
    for kind, schema in KINDS.items():
        required, optional = rows[kind].split("|")[2], rows[kind].split("|")[3]
        assert set(re.findall(r"`(\w+)`", required)) == {"ts", *schema.required}, kind
        assert set(re.findall(r"`(\w+)`", optional)) == set(schema.optional), kind
    profile = load_profiles()["generic-heat-meter"]
    table = {(int(a), f) for a, f in re.findall(r"^\| (\d+) \| \d+ \| \w+ \| `(\w+)` \|", page,
                                                re.MULTILINE)}
    assert table == {(r.address, r.field) for r in profile.registers}
