"""One source of city rules: the `[analyzer.*]` rules a city configures reach the compensation
records the alerts service writes (docs/rules.md worked example 1 and the cities it names)."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from alerts.sla import HOUR_MS
from heatwatch.bootstrap import alerts_service
from heatwatch.config import load_config
from tests.test_alerts_support import ms, raise_incident, reconcile, write_records
from workflow.details import OutageDetails


def _compensation(tmp_path: Path, analyzer: str,
                  hours: float = 30.0) -> dict[str, dict[str, object]]:
    """An outage at S1 of `hours`, restored, through the service `heatwatch alerts` builds."""
    cfg_path = tmp_path / "heatwatch.toml"
    cfg_path.write_text(f'[site]\nrecords_dir = "{write_records(tmp_path / "rec")}"\n'
                        f'data_dir = "{tmp_path / "var"}"\n{analyzer}', encoding="utf-8")
    svc = alerts_service(load_config(cfg_path, env={}))
    try:
        start = ms("2024-12-02 08:00")
        inc = raise_incident(svc.db, "outage", "S1", start, start, substation_id="S1",
                             details=OutageDetails(duration_h=0.0, ongoing=True))
        svc.step(start + HOUR_MS, wait=True)
        inc.closed_ms = start + round(hours * HOUR_MS)
        inc.details = OutageDetails(duration_h=hours, ongoing=False)
        reconcile(svc.db, inc, inc.closed_ms)
        svc.step(inc.closed_ms + HOUR_MS, wait=True)
        return {str(c["account_id"]): c for c in svc.db.compensation.find()}
    finally:
        svc.close()


@pytest.mark.parametrize(("analyzer", "amount", "days", "season_days"), [
    # docs/rules.md worked example 1: 90 m² × 24 元/m², 30 h -> 2 days -> 2 × 2,160 / 121
    ("", "35.70", 2, 121),
    # docs/rules.md: Dandong pays 2×
    ("[analyzer.outages]\nmultiplier = 2\n", "71.40", 2, 121),
    # a city's own area tariff: 90 × 30 = 2,700 元 a season -> 2 × 2,700 / 121
    ("[analyzer.tariff]\narea_cny_m2_season = 30.0\n", "44.63", 2, 121),
    # a city's own season: 1 Nov to 31 Mar is 151 days -> 2 × 2,160 / 151
    ('[analyzer.season]\nstart = "11-01"\nend = "03-31"\n', "28.61", 2, 151),
    # docs/rules.md: Luoyang counts from 12 h; read as in policy.rules (shorter outages are not
    # compensated), which keeps docs/rules.md's 9.72 元 = 0.054 × 90 × 2 days for the 30 h outage
    ("[analyzer.outages]\ncounts_from_h = 12.0\n", "35.70", 2, 121),
    # a threshold above the outage: the configured rule, not the default, decides
    ("[analyzer.outages]\ncounts_from_h = 36.0\n", None, 0, 121),
])
def test_configured_city_rules_reach_the_compensation_record(
        tmp_path: Path, analyzer: str, amount: str | None, days: int, season_days: int) -> None:
    comp = _compensation(tmp_path, analyzer)
    if amount is None:  # shorter than the city counts: nothing is owed, no record
        assert comp == {}
        return
    a1 = comp["A1"]  # 90 m², area tariff, at S1
    assert Decimal(str(a1["amount_cny"])) == Decimal(amount)
    assert (a1["days"], a1["season_days"]) == (days, season_days)


@pytest.mark.parametrize(("analyzer", "expected"), [
    ("", None),  # seed: restored within 24 h, nothing is owed
    # docs/rules.md: Luoyang counts from 12 h: a 14 h outage is one day, 2,160 / 121
    ("[analyzer.outages]\ncounts_from_h = 12.0\n", ("17.85", 1)),
])
def test_a_city_that_counts_from_12h_compensates_a_14h_outage(
        tmp_path: Path, analyzer: str, expected: tuple[str, int] | None) -> None:
    comp = _compensation(tmp_path, analyzer, hours=14.0)
    if expected is None:
        assert comp == {}
        return
    a1 = comp["A1"]
    assert (Decimal(str(a1["amount_cny"])), a1["days"], a1["final"]) == (
        Decimal(expected[0]), expected[1], 1)
