"""`heatwatch refunds`: outage compensation on the sample district with the demo's 30 h pump
trip (simulator -> store -> analyzer -> alerts), docs/rules.md worked example 1 (35.70 元 for a
90 m² household); under-temperature band refunds in a small test district, worked
example 3 (19.83 元); totals that add up; the CSV a spreadsheet opens; notices' amounts."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import shutil
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from alerts.config import AlertsConfig
from alerts.service import build_service
from district.readings import Reading
from district.records import load_records
from heatwatch.commands.alerts import notices_command
from heatwatch.commands.refunds import refunds_command, season_refunds, to_csv
from heatwatch.common import CommandError
from heatwatch.config import Config, load_config
from storage.sqlite import SqliteStore
from tests.records_fixture import write_records
from tests.test_analyzer_scenarios import HERE, TZ, run_folder

ROOT = HERE.parent
SEASON_END = dt.datetime(2025, 3, 16, 0, 0, tzinfo=TZ)
DURING = dt.datetime(2024, 12, 20, 9, 0, tzinfo=TZ)
HOUSEHOLD_90 = "B07-0101"  # an area-tariff household on S2, set to 90 m² for example 1


def ms(t: dt.datetime) -> int:
    return int(t.timestamp() * 1000)


def check_totals_add_up(doc: dict[str, Any]) -> None:
    accounts = doc["accounts"]
    company = doc["totals"]["company"]
    for k in ("outage_cny", "under_temperature_cny", "total_cny"):
        assert Decimal(company[k]) == sum(Decimal(a[k]) for a in accounts)
        assert Decimal(company[k]) == sum(Decimal(s[k]) for s in doc["totals"]["by_substation"])
    for a in accounts:
        assert Decimal(a["total_cny"]) == Decimal(a["outage_cny"]) + Decimal(
            a["under_temperature_cny"])
        assert Decimal(a["outage_cny"]) == sum(Decimal(o["amount_cny"]) for o in a["outages"])
    for s in doc["totals"]["by_substation"]:
        mine = [a for a in accounts if a["substation_id"] == s["substation_id"]]
        assert s["accounts"] == len(mine)
        assert Decimal(s["total_cny"]) == sum(Decimal(a["total_cny"]) for a in mine)
    assert company["accounts"] == len(accounts)


# -- the sample district, the demo's 30 h pump trip on S2 --------------------------------------

@pytest.fixture(scope="module")
def pump_trip(tmp_path_factory: pytest.TempPathFactory) -> Config:
    tmp = tmp_path_factory.mktemp("trip")
    records = tmp / "records"
    shutil.copytree(ROOT / "district" / "sample", records)
    accounts = records / "accounts.csv"
    lines = accounts.read_text(encoding="utf-8").splitlines()
    for i, line in enumerate(lines):
        if line.startswith(HOUSEHOLD_90 + ","):
            cols = line.split(",")
            cols[3], cols[4] = "90", "area"
            lines[i] = ",".join(cols)
    accounts.write_text("\n".join(lines) + "\n", encoding="utf-8")
    folder = tmp / "scenario"
    folder.mkdir()
    text = (HERE / "scenarios/analyzer/pump_trip_30h_outage_over_24h_two_days/scenario.toml"
            ).read_text(encoding="utf-8").replace('records = ""', f'records = "{records}"')
    (folder / "scenario.toml").write_text(text, encoding="utf-8")
    _, wf, store, at_ms = run_folder(folder, tmp)
    wf.close()
    store.close()
    # the alerts service turns the outage into a notice at 24 h and compensation records
    svc = build_service(AlertsConfig(), load_records(records), str(tmp), "Asia/Shanghai")
    svc.step(at_ms, wait=False)
    svc.close()
    cfg = load_config(None, env={})
    cfg.site.data_dir = str(tmp)
    cfg.site.records_dir = str(records)
    return cfg


def test_worked_example_1_the_90_m2_household_gets_35_70(pump_trip: Config) -> None:
    doc = season_refunds(pump_trip, 2024, ms(SEASON_END))
    by_id = {a["account_id"]: a for a in doc["accounts"]}
    a = by_id[HOUSEHOLD_90]
    (o,) = a["outages"]
    assert (a["area_m2"], a["tariff"], o["days"], o["amount_cny"]) == (90.0, "area", 2, "35.70")
    assert 29.5 <= o["duration_h"] <= 30.5 and o["closed"] is True
    assert o["recorded_cny"] == "35.70"  # the alerts' record and the analyzer agree
    assert a["outage_cny"] == a["total_cny"] == "35.70"
    # every S2 household, and only they: 2 days of its area fee (2 × area × 24 ÷ 121)
    rec = load_records(pump_trip.site.records_dir)
    s2 = {aid for aid, acc in rec.accounts.items()
          if rec.buildings[acc.building_id].substation_id == "S2"}
    outage = {a["account_id"] for a in doc["accounts"] if a["outages"]}
    assert outage == s2
    for a in doc["accounts"]:
        if a["outages"]:
            want = (Decimal(2) * Decimal(repr(a["area_m2"])) * 24 / 121).quantize(
                Decimal("0.01"))
            assert Decimal(a["outage_cny"]) == want, a
            # the outage days are not refunded again by the band rule
            assert a["under_temperature"]["days"] == 0
    assert doc["status"] == "final"
    check_totals_add_up(doc)
    (s2_total,) = [s for s in doc["totals"]["by_substation"] if s["substation_id"] == "S2"]
    assert s2_total["accounts"] == len(s2)


def test_running_while_the_season_is_on(pump_trip: Config) -> None:
    doc = season_refunds(pump_trip, 2024, ms(DURING))
    assert doc["status"] == "running"
    said: list[str] = []
    refunds_command(pump_trip, 2024, None, False, say=said.append,
                    clock=lambda: DURING.timestamp())
    assert "running" in said[0]
    assert any(line.startswith(HOUSEHOLD_90) and "35.70" in line for line in said)
    assert any(line.startswith("company:") for line in said)


def test_notices_carry_the_amount_of_their_outage(pump_trip: Config,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    notices_command(pump_trip, True)
    notices = json.loads(capsys.readouterr().out)
    (n,) = [n for n in notices if n["account_id"] == HOUSEHOLD_90]
    assert (n["amount_cny"], n["compensation_days"], n["amount_final"]) == ("35.70", 2, True)
    assert "循环泵停运" in n["text"] and "pump" not in n["text"]
    notices_command(pump_trip, False)
    table = capsys.readouterr().out
    (line,) = [x for x in table.splitlines() if f" {HOUSEHOLD_90} " in x]
    assert "35.70" in line


# -- a test district for the band rule -----------------------------------------------------------

DEVICES = (
    "device_id,kind,account_id,building_id,substation_id,room_type,protocol,host,port,unit,"
    "profile\n"
    "r40b,room,A40,,,bedroom,mqtt,,,,\n"
    "r40l,room,A40,,,living,mqtt,,,,\n"
    "r90b,room,A90,,,bedroom,mqtt,,,,\n"
    "r90k,room,A90,,,other,mqtt,,,,\n"
    "w1,weather,,,,,mqtt,,,,\n"
)
ACCOUNTS = ("account_id,building_id,unit,area_m2,tariff,phone\n"
            "A40,B1,1-101,40,area,13800000001\n"
            "A90,B1,1-102,90,area,\n")


def room_day(device: str, day: dt.date, mean_c: float) -> list[Reading]:
    """Hourly readings alternating ±0.1 °C around the day's mean (never stuck)."""
    tags = {"device_id": device, "building_id": "B1", "substation_id": "S1",
            "account_id": "A40" if device.startswith("r40") else "A90",
            "room_type": "bedroom"}
    t0 = dt.datetime(day.year, day.month, day.day, tzinfo=TZ)
    return [Reading("room", tags, {"temp_c": round(mean_c + (0.1 if h % 2 else -0.1), 2)},
                    ms(t0 + dt.timedelta(hours=h))) for h in range(24)]


@pytest.fixture(scope="module")
def bands(tmp_path_factory: pytest.TempPathFactory) -> Config:
    tmp = tmp_path_factory.mktemp("bands")
    records = write_records(tmp / "records", accounts=ACCOUNTS, devices=DEVICES)
    store = SqliteStore(tmp / "readings.sqlite")
    readings: list[Reading] = []
    first = dt.date(2024, 12, 10)
    for d in range(8):
        day = first + dt.timedelta(days=d)
        outdoor = -9.0 if d == 7 else -5.0  # day 7 is colder than design (-7): excluded
        readings.append(Reading("weather", {"device_id": "w1"}, {"outdoor_c": outdoor},
                                ms(dt.datetime(day.year, day.month, day.day, 12, tzinfo=TZ))))
        # docs/rules.md worked example 3: A40's bedroom and living room at 15.5 °C for 5 days
        a40 = 15.5 if d < 5 else 20.0
        if d == 7:
            a40 = 12.0
        readings += room_day("r40b", day, a40) + room_day("r40l", day, a40)
        # A90: 17 °C on two days (0–2 K, 10 %), 20 °C otherwise; its kitchen is not counted
        readings += room_day("r90b", day, 17.0 if d in (2, 3) else 20.0)
        readings += room_day("r90k", day, 10.0)
    store.write(readings)
    store.close()
    cfg = load_config(None, env={})
    cfg.site.data_dir = str(tmp)
    cfg.site.records_dir = str(records)
    return cfg


def test_worked_example_3_band_refund_19_83(bands: Config) -> None:
    doc = season_refunds(bands, 2024, ms(SEASON_END))
    by_id = {a["account_id"]: a for a in doc["accounts"]}
    u = by_id["A40"]["under_temperature"]
    assert (u["days"], u["amount_cny"]) == (5, "19.83")  # 24 / 121 × 40 × 5 × 0.5
    (band,) = u["bands"]
    assert (band["band"], band["share_pct"], band["days"]) == ("2–6 K", 50, 5)
    assert band["dates"] == [f"2024-12-{d}" for d in range(10, 15)]
    # 0–2 K refunds 10 %: 2 × 0.1 × 90 × 24 / 121 = 3.57; the kitchen does not count
    u90 = by_id["A90"]["under_temperature"]
    assert (u90["days"], u90["amount_cny"], u90["bands"][0]["band"]) == (2, "3.57", "0–2 K")
    assert by_id["A40"]["outage_cny"] == "0.00" and by_id["A40"]["total_cny"] == "19.83"
    check_totals_add_up(doc)
    assert doc["totals"]["company"]["total_cny"] == "23.40"


def test_csv_is_utf8_with_bom_and_adds_up(bands: Config, tmp_path: Path) -> None:
    out = tmp_path / "refunds.csv"
    said: list[str] = []
    refunds_command(bands, 2024, str(out), False, say=said.append,
                    clock=lambda: SEASON_END.timestamp())
    data = out.read_bytes()
    assert data.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
    assert rows[0][0] == "户号 account" and rows[0][-2] == "合计 total_cny"
    body = {r[0]: r for r in rows[1:]}
    assert body["A40"][-2] == "19.83" and "2–6 K 50% × 5 天" in body["A40"][12]
    assert body["合计 company"][-2] == "23.40" and body["合计 company"][-1] == "final"
    assert body["小计 S1"][-2] == "23.40"
    assert sum(Decimal(r[-2]) for k, r in body.items() if k.startswith("A")) == Decimal("23.40")
    assert any("UTF-8 with BOM" in s for s in said)
    doc = season_refunds(bands, 2024, ms(SEASON_END))
    assert data.decode("utf-8-sig") == to_csv(doc)


def test_json_and_errors(bands: Config, tmp_path: Path) -> None:
    said: list[str] = []
    refunds_command(bands, 2024, None, True, say=said.append,
                    clock=lambda: SEASON_END.timestamp())
    doc = json.loads(said[0])
    assert doc["season_days"] == 121 and doc["status"] == "final"
    with pytest.raises(CommandError, match="is not a year"):
        refunds_command(bands, 24, None, False, say=said.append)
    with pytest.raises(CommandError, match="does not exist"):
        refunds_command(bands, 2024, str(tmp_path / "no" / "x.csv"), False, say=said.append)
    # another season: nothing owed
    empty = season_refunds(bands, 2023, ms(SEASON_END))
    assert empty["accounts"] == [] and empty["totals"]["company"]["total_cny"] == "0.00"


# -- a faulty thermometer earns no refund: the analyzer's room-day judgement ---------------------

FAULTY_DEVICES = (
    "device_id,kind,account_id,building_id,substation_id,room_type,protocol,host,port,unit,"
    "profile\n"
    "rs,room,AS,,,bedroom,mqtt,,,,\n"
    "rq,room,AQ,,,bedroom,mqtt,,,,\n"
    "rh,room,AH,,,bedroom,mqtt,,,,\n"
    "w1,weather,,,,,mqtt,,,,\n"
)
FAULTY_ACCOUNTS = ("account_id,building_id,unit,area_m2,tariff,phone\n"
                   "AS,B1,1-101,90,area,\nAQ,B1,1-102,90,area,\nAH,B1,1-103,90,area,\n")


def _cold_room(device: str, account: str, day: dt.date, hours: range, swing: float
               ) -> list[Reading]:
    """A bedroom at 14 °C (4 K under the standard), `swing` either side hour by hour."""
    tags = {"device_id": device, "building_id": "B1", "substation_id": "S1",
            "account_id": account, "room_type": "bedroom"}
    t0 = dt.datetime(day.year, day.month, day.day, tzinfo=TZ)
    return [Reading("room", tags, {"temp_c": 14.0 + (swing if h % 2 else -swing)},
                    ms(t0 + dt.timedelta(hours=h))) for h in hours]


def test_a_stuck_or_silent_thermometer_earns_no_refund(tmp_path: Path) -> None:
    """The analyzer calls a thermometer holding 14.0 °C for days stuck, and one that reports
    only half of each day (12 h gaps) silent: their cold days are sensor faults, refunded
    by nobody. The healthy cold bedroom beside them is refunded (2–6 K, 50 %)."""
    records = write_records(tmp_path / "records", accounts=FAULTY_ACCOUNTS,
                            devices=FAULTY_DEVICES)
    store = SqliteStore(tmp_path / "readings.sqlite")
    readings: list[Reading] = []
    for d in range(5):
        day = dt.date(2024, 12, 10) + dt.timedelta(days=d)
        readings.append(Reading("weather", {"device_id": "w1"}, {"outdoor_c": -5.0},
                                ms(dt.datetime(day.year, day.month, day.day, 12, tzinfo=TZ))))
        readings += _cold_room("rs", "AS", day, range(24), 0.0)  # stuck
        readings += _cold_room("rq", "AQ", day, range(12), 0.5)  # silent half of each day
        readings += _cold_room("rh", "AH", day, range(24), 0.5)  # healthy
    store.write(readings)
    store.close()
    cfg = load_config(None, env={})
    cfg.site.data_dir = str(tmp_path)
    cfg.site.records_dir = str(records)
    doc = season_refunds(cfg, 2024, ms(SEASON_END))
    by_id = {a["account_id"]: a for a in doc["accounts"]}
    assert "AS" not in by_id and "AQ" not in by_id
    u = by_id["AH"]["under_temperature"]
    assert u["days"] >= 4 and u["bands"][0]["band"] == "2–6 K"
    assert Decimal(u["amount_cny"]) > 0
