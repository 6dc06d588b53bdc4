"""The committed dashboards are valid by Grafana's own definition: @grafana/schema (the types
Grafana generates from its CUE schema), pinned to the Grafana image of docker-compose.yml and
checked with tsc. Negative controls prove the check rejects what Grafana does not know."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from grafana import dashboards as gd
from grafana import schema_check

REPO = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.services  # node + npm packages: under CI=true a skip is a failure


def committed() -> dict[str, dict[str, Any]]:
    return {p.name: json.loads(p.read_text(encoding="utf-8"))
            for p in sorted(gd.DASHBOARDS_DIR.glob("*.json"))}


def broken(mutate: Any, base: str = "ingest.json") -> dict[str, Any]:
    """A committed dashboard with one change."""
    dash = copy.deepcopy(committed()[base])
    mutate(dash)
    return dash


def first(dash: dict[str, Any], kind: str) -> dict[str, Any]:
    return next(p for p in dash["panels"] if p["type"] == kind)


def rename(d: dict[str, Any], old: str, new: str) -> None:
    d[new] = d.pop(old)


# name → (change, a fragment of tsc's complaint)
BROKEN: dict[str, tuple[Any, str]] = {
    "unknown panel type": (lambda d: first(d, "timeseries").update(type="timeserie"),
                           "'timeserie' does not exist on type 'Panels'"),
    "misspelled option": (lambda d: rename(first(d, "timeseries")["options"], "legend",
                                           "legnd"), "'\"legnd\"' does not exist"),
    "value outside an enum": (lambda d: first(d, "table")["options"].update(
        cellHeight="huge"), "'\"huge\"' is not assignable"),
    "misspelled custom field option": (
        lambda d: first(d, "timeseries")["fieldConfig"]["defaults"]["custom"].update(
            lineWidht=2), "'\"lineWidht\"' does not exist"),
    "custom field option of another plugin": (
        lambda d: first(d, "table")["fieldConfig"]["defaults"]["custom"].update(
            drawStyle="line"), "'\"drawStyle\"' does not exist"),
    "misspelled override property": (
        lambda d: d["panels"][3]["fieldConfig"]["overrides"][0]["properties"][1].update(
            id="custom.axisPlacment"), "custom.axisPlacment"),
    "unknown dashboard field": (lambda d: d.update(refreshh="1m"),
                                "'\"refreshh\"' does not exist in type 'Dashboard'"),
    "wrong type": (lambda d: first(d, "timeseries").update(
        gridPos={"x": "0", "y": 0, "w": 6, "h": 8}),
        "Type 'string' is not assignable to type 'number'"),
    "stat option on a time series": (
        lambda d: first(d, "timeseries")["options"].update(colorMode="background"),
        "'\"colorMode\"' does not exist"),
}
# the same, on the substation dashboard's annotation queries
BROKEN_ANNOTATIONS: dict[str, tuple[Any, str]] = {
    "misspelled annotation column": (
        lambda d: rename(d["annotations"]["list"][0]["target"], "timeEndColumn",
                         "timeEndColum"), "'\"timeEndColum\"' does not exist"),
    "annotation without a query type": (
        lambda d: d["annotations"]["list"][0]["target"].update(queryType="events"),
        "'\"events\"' is not assignable"),
}


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[str]]:
    """One tsc run over the committed dashboards and every broken variant."""
    try:
        schema_check.schema_version()
    except FileNotFoundError:
        pytest.skip("grafana/schema/node_modules missing (scripts/test runs npm ci)")
    dashboards: dict[str, Any] = committed()
    for name, (change, _) in BROKEN.items():
        dashboards[name] = broken(change)
    for name, (change, _) in BROKEN_ANNOTATIONS.items():
        dashboards[name] = broken(change, "substation.json")
    try:
        return schema_check.check(dashboards, tmp_path_factory.mktemp("tsc"))
    except schema_check.SchemaToolMissing as e:
        pytest.skip(str(e))


@pytest.mark.parametrize("name", sorted(p.name for p in gd.DASHBOARDS_DIR.glob("*.json")))
def test_committed_dashboard_is_valid_by_grafanas_schema(results: dict[str, list[str]],
                                                         name: str) -> None:
    assert results[name] == [], "\n".join(results[name])


@pytest.mark.parametrize("name", sorted(BROKEN) + sorted(BROKEN_ANNOTATIONS))
def test_what_grafana_does_not_know_is_rejected(results: dict[str, list[str]],
                                                name: str) -> None:
    errors = results[name]
    assert errors, f"{name}: tsc accepted it"
    fragment = {**BROKEN, **BROKEN_ANNOTATIONS}[name][1]
    assert any(fragment in e for e in errors), errors


def test_the_broken_variants_change_what_they_say() -> None:
    """Negative controls are real: each variant differs from the committed dashboard."""
    good = committed()["ingest.json"]
    for name, (change, _) in BROKEN.items():
        assert broken(change) != good, name
    for name, (change, _) in BROKEN_ANNOTATIONS.items():
        assert broken(change, "substation.json") != committed()["substation.json"], name


def test_schema_is_pinned_to_the_grafana_image() -> None:
    """Validated against the same version docker-compose runs."""
    compose = yaml.safe_load((REPO / "docker-compose.yml").read_text(encoding="utf-8"))
    image = compose["services"]["grafana"]["image"]
    name, _, tag = image.partition(":")
    assert name == "grafana/grafana-oss" and tag.count(".") == 2, image
    pkg = json.loads((schema_check.SCHEMA_DIR / "package.json").read_text(encoding="utf-8"))
    assert pkg["devDependencies"]["@grafana/schema"] == tag
    lock = json.loads((schema_check.SCHEMA_DIR / "package-lock.json").read_text(
        encoding="utf-8"))
    assert lock["packages"]["node_modules/@grafana/schema"]["version"] == tag


def test_installed_schema_is_the_pinned_one(results: dict[str, list[str]]) -> None:
    pkg = json.loads((schema_check.SCHEMA_DIR / "package.json").read_text(encoding="utf-8"))
    assert schema_check.schema_version() == pkg["devDependencies"]["@grafana/schema"]
