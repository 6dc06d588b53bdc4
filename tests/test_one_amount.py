"""One amount for one outage (issue 19): over random cities, what the compensation record (and
so the resident notice, which quotes it) says a household is owed, and what `heatwatch
refunds` pays, agree to the fen. The morning report (documents/daily.py) lists outages with
their hours and shows no amount, so there is no third figure to compare.

The fixed case: a Luoyang metered 90 m² household after 30 h gets 9.72 元 everywhere."""

from __future__ import annotations

import datetime as dt
import json
import tempfile
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from alerts.config import AlertsConfig
from alerts.service import build_service
from district.records import Records, load_records
from heatwatch.bootstrap import alerts_service
from heatwatch.commands.alerts import notices_command
from heatwatch.commands.refunds import season_of
from heatwatch.config import load_config
from heatwatch.outage_days import outage_refunds
from policy.rules import CityRules, Compensation, Season
from policy.service import HOUR_MS
from tests.test_alerts_support import raise_incident, reconcile
from tests.test_alerts_support import write_records as write_small_district
from workflow.details import OutageDetails
from workflow.incidents import Incident

TZ = dt.timezone(dt.timedelta(hours=8))
YEAR = 2024


def _records(folder: Path, area_m2: float, tariff: str) -> Records:
    """One substation, one building, one household of this area and tariff."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "substations.csv").write_text("substation_id,name,design_outdoor_c\nS1,东风站,-7\n",
                                            encoding="utf-8")
    (folder / "buildings.csv").write_text("building_id,substation_id,address\nB1,S1,东风路1号楼\n",
                                          encoding="utf-8")
    (folder / "accounts.csv").write_text(
        "account_id,building_id,unit,area_m2,tariff,phone\n"
        f"A1,B1,1-101,{area_m2:g},{tariff},13800138000\n", encoding="utf-8")
    (folder / "devices.csv").write_text(
        "device_id,kind,account_id,building_id,substation_id,room_type,protocol,host,port,unit,"
        "profile\nR1,room,A1,,,bedroom,mqtt,,,,\n", encoding="utf-8")
    return load_records(folder)


def _outage(started_ms: int, hours: float) -> Incident:
    closed = started_ms + round(hours * HOUR_MS)
    return Incident(f"outage|S1|{started_ms}", "outage", "S1", started_ms, "S1",
                    closed_ms=closed, details=OutageDetails(duration_h=round(hours, 2)))


def record_and_refund(tmp: Path, rules: CityRules, area_m2: float, tariff: str,
                      started_ms: int, hours: float) -> tuple[str | None, str | None]:
    """The compensation record's amount (what the notice quotes) and refunds' amount."""
    records = _records(tmp / "rec", area_m2, tariff)
    svc = build_service(AlertsConfig(), records, str(tmp), "Asia/Shanghai", rules=rules)
    try:
        inc = _outage(started_ms, hours)
        with svc.db.unit() as u:
            svc.residents.compensate(u, inc, inc.closed_ms or started_ms)
        rows = svc.db.compensation.find()
    finally:
        svc.close()
    recorded = str(Decimal(str(rows[0]["amount_cny"]))) if rows else None
    paid = outage_refunds(rows, records, rules, season_of(rules, YEAR, TZ), TZ).get("A1", [])
    return recorded, (paid[0]["amount_cny"] if paid else None)


cities = st.builds(
    lambda counts, mult, metered, start_day: CityRules(
        season=Season(start_day=start_day),
        compensation=Compensation(counts_from_h=counts, multiplier=mult,
                                  metered_basic_cny_m2_day=metered)),
    st.sampled_from([0.0, 6.0, 12.0, 18.0, 24.0, 36.0]),
    st.sampled_from([Decimal("1"), Decimal("1.5"), Decimal("2")]),
    st.one_of(st.none(), st.decimals(Decimal("0.001"), Decimal("0.5"), places=3)),
    st.integers(1, 28),
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rules=cities, tariff=st.sampled_from(["area", "metered"]),
       area=st.integers(200, 3000).map(lambda a: a / 10),
       hours=st.floats(0.25, 120.0).map(lambda h: round(h, 2)),
       day=st.integers(0, 100), hour=st.integers(0, 23))
def test_the_record_and_refunds_agree_to_the_fen(rules: CityRules, tariff: str, area: float,
                                                 hours: float, day: int, hour: int) -> None:
    first = rules.season.start(YEAR)
    start = dt.datetime(first.year, first.month, first.day, hour, tzinfo=TZ) \
        + dt.timedelta(days=day)
    started_ms = int(start.timestamp() * 1000)
    with tempfile.TemporaryDirectory() as tmp:
        recorded, paid = record_and_refund(Path(tmp), rules, area, tariff, started_ms, hours)
    assert recorded == paid


LUOYANG = "[analyzer.outages]\ncounts_from_h = 12.0\nmetered_basic_cny_m2_day = 0.054\n"


def test_luoyang_metered_90_m2_after_30_h_is_9_72_everywhere(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """docs/rules.md: 0.054 元/(m²·day) × 90 m² × 2 days: on the record, the notice and refunds."""
    cfg_path = tmp_path / "heatwatch.toml"
    cfg_path.write_text(f'[site]\nrecords_dir = "{write_small_district(tmp_path / "rec")}"\n'
                        f'data_dir = "{tmp_path / "var"}"\n{LUOYANG}', encoding="utf-8")
    cfg = load_config(cfg_path, env={})
    rules = cfg.analyzer.rules()
    svc = alerts_service(cfg)
    try:
        start = int(dt.datetime(2024, 12, 2, 8, tzinfo=TZ).timestamp() * 1000)
        inc = raise_incident(svc.db, "outage", "S1", start, start, substation_id="S1",
                             details=OutageDetails(duration_h=0.0, ongoing=True))
        svc.step(start + HOUR_MS, wait=True)
        inc.closed_ms = start + 30 * HOUR_MS
        inc.details = OutageDetails(duration_h=30.0, ongoing=False)
        reconcile(svc.db, inc, inc.closed_ms)
        svc.step(inc.closed_ms + HOUR_MS, wait=True)
        rows = svc.db.compensation.find()
    finally:
        svc.close()
    a3 = next(r for r in rows if r["account_id"] == "A3")  # 90 m², metered
    assert Decimal(str(a3["amount_cny"])) == Decimal("9.72") and a3["days"] == 2
    records = load_records(cfg.site.records_dir)
    paid = outage_refunds(rows, records, rules, season_of(rules, 2024, TZ), TZ)
    assert paid["A3"][0]["amount_cny"] == "9.72"
    assert paid["A1"][0]["amount_cny"] == "35.70"  # 90 m² on the area tariff: example 1
    notices_command(cfg, True)
    (n,) = [n for n in json.loads(capsys.readouterr().out) if n["account_id"] == "A3"]
    assert (n["amount_cny"], n["compensation_days"]) == ("9.72", 2)
    # the same household drawn in the property test's terms
    with tempfile.TemporaryDirectory() as tmp:
        assert record_and_refund(Path(tmp), rules, 90.0, "metered", start, 30.0) == (
            "9.72", "9.72")
