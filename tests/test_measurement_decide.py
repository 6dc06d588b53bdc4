"""What a measurement record decides (issue 22), end to end through the real CLI on a real
workflow file and the configured SQLite readings store: `heatwatch refunds` pays worked example
10 on the records' basis, room sensors showing the flat heated end a measured failure first, a
cold visit opens a repair order for its building through alerts (or joins the open incident),
a healthy visit is quoted in the call's reply, the outdoor temperature comes from the weather
station, and late reports are counted per measurer."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from pathlib import Path
from typing import Any

import pytest

from district.readings import Reading
from heatwatch.bootstrap import measurement_outdoor_mean, readings_or_none, records
from heatwatch.config import load_config
from storage.sqlite import SqliteStore
from tests.test_measurements_cli import DAY, MORNING, Cli
from workflow.details import OutageDetails, RoomColdDetails
from workflow.incidents import Incident
from workflow.notices import Compensation
from workflow.unit import WorkflowDb

TZ = dt.timezone(dt.timedelta(hours=8))
FIRST = dt.date(2026, 12, 3)


def ms(t: dt.datetime) -> int:
    return int(t.timestamp() * 1000)


def weather_day(day: dt.date, hourly: list[float]) -> list[Reading]:
    t0 = dt.datetime(day.year, day.month, day.day, tzinfo=TZ)
    return [Reading("weather", {"device_id": "w1"}, {"outdoor_c": c},
                    ms(t0 + dt.timedelta(hours=h))) for h, c in enumerate(hourly)]


def room_day(device: str, day: dt.date, mean_c: float) -> list[Reading]:
    """A1's room sensor, hourly around the day's mean (never stuck)."""
    tags = {"device_id": device, "building_id": "B1", "substation_id": "S1",
            "account_id": "A1", "room_type": "bedroom" if device == "r1" else "living"}
    t0 = dt.datetime(day.year, day.month, day.day, tzinfo=TZ)
    return [Reading("room", tags, {"temp_c": round(mean_c + (0.1 if h % 2 else -0.1), 2)},
                    ms(t0 + dt.timedelta(hours=h))) for h in range(24)]


class District(Cli):
    """The CLI with a readings store: six days of weather at -4 °C (hour 08 at -2 °C), and A1's
    two room sensors at 15.5 °C for two days, then 20 °C."""

    def __init__(self, tmp: Path, capsys: pytest.CaptureFixture[str]) -> None:
        super().__init__(tmp, capsys)
        cfg = load_config(str(self.cfg))
        store = SqliteStore(cfg.data_path(cfg.store.sqlite.path, "readings.sqlite"))
        readings: list[Reading] = []
        for d in range(6):
            day = FIRST + dt.timedelta(days=d)
            readings += weather_day(day, [-2.0 if h == 8 else -4.0 for h in range(24)])
            for dev in ("r1", "r2"):
                readings += room_day(dev, day, 15.5 if d < 2 else 20.0)
        store.write(readings)
        store.close()

    @classmethod
    def auto_args(cls, account: str, *readings: str, at: str = MORNING) -> list[str]:
        """`measurements add` without --outdoor-mean: the store's weather fills it in."""
        args = cls.add_args(account, *readings, at=at)
        i = args.index("--outdoor-mean")
        del args[i:i + 2]
        return args

    def add_auto(self, account: str, *readings: str, at: str = MORNING) -> dict[str, Any]:
        (rec,) = self.json(*self.auto_args(account, *readings, at=at))
        out: dict[str, Any] = rec
        return out

    def alerts_pass(self, at: str) -> None:
        code, _, err = self("alerts", "--once", "--at", at)
        assert code == 0, err

    def db(self) -> WorkflowDb:
        return WorkflowDb(self.workflow)


@pytest.fixture
def town(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> District:
    return District(tmp_path, capsys)


def test_refunds_pays_worked_example_10_on_the_records_basis(town: District) -> None:
    cold = town.measure("H40", "bedroom=15.5", "living=15.5")
    warm = town.measure("H40", "bedroom=18.6", "living=18.9", at="2026-12-08T09:00:00+08:00")
    doc = town.json("refunds", "--season", "2026")
    (row,) = [a for a in doc["accounts"] if a["account_id"] == "H40"]
    (m,) = row["measured"]
    assert (m["from"], m["to"], m["days"], m["refund_cny"], m["basis"]) == (
        DAY, "2026-12-08", 5, "19.83", [cold["record_id"], warm["record_id"]])
    assert row["measured_cny"] == row["under_temperature_cny"] == row["total_cny"] == "19.83"
    # the same amount as `measurements refund`: one function computes it
    (same,) = town.json("measurements", "refund", "H40", "--season", "2026")
    assert same["refund_cny"] == "19.83"
    code, out, _ = town("refunds", "--season", "2026")
    (line,) = [x for x in out.splitlines() if x.startswith("H40")]
    assert code == 0 and "19.83" in line
    assert cold["record_id"] in line and warm["record_id"] in line
    # the CSV for finance: the row's cold days and bands name the records
    out_csv = town.cfg.parent / "refunds.csv"
    assert town("refunds", "--season", "2026", "--csv", str(out_csv))[0] == 0
    (h40,) = [r for r in csv.reader(io.StringIO(out_csv.read_text(encoding="utf-8-sig")))
              if r[0] == "H40"]
    assert (h40[11], h40[13], h40[14]) == ("5", "19.83", "19.83")
    assert f"依据 {cold['record_id']}, {warm['record_id']}" in h40[12]


def test_outage_days_inside_a_measured_period_are_not_paid_twice(town: District) -> None:
    db = town.db()
    with db.unit() as u:  # a 30 h outage from 12-05 00:00: two days, compensated
        u.compensation.put(Compensation("outage:S1::x", "H40", ms(dt.datetime(
            2026, 12, 5, tzinfo=TZ)), 30.0, 2, "960.00", 121, "15.87", True, 0))
    db.close()
    town.measure("H40", "bedroom=15.5", "living=15.5")
    town.measure("H40", "bedroom=18.6", at="2026-12-08T09:00:00+08:00")
    (row,) = [a for a in town.json("refunds", "--season", "2026")["accounts"]
              if a["account_id"] == "H40"]
    (m,) = row["measured"]
    # 5 days measured cold, 2 of them the outage's: 24 / 121 × 40 × 3 × 0.5
    assert (m["days"], m["outage_days"], m["refund_cny"]) == (5, 2, "11.90")
    assert row["outage_cny"] == "15.87" and row["total_cny"] == "27.77"
    assert town.json("measurements", "refund", "H40", "--season", "2026") == [m]


def test_the_room_sensors_showing_heat_end_a_measured_failure_first(town: District) -> None:
    cold = town.add_auto("A1", "bedroom=15.5", "living=15.4")
    town.measure("A1", "bedroom=18.5", at="2026-12-08T09:00:00+08:00")
    (m,) = town.json("refunds", "--season", "2026")["accounts"][0]["measured"]
    # the sensors read 20 °C from 12-05: two days at 15.4 °C (2–6 K, 50 %) of 90 m²
    assert (m["to"], m["days"], m["ended_by"], m["basis"]) == (
        "2026-12-05", 2, "sensor", [cold["record_id"]])
    assert m["refund_cny"] == "17.85"  # 24 / 121 × 90 × 2 × 0.5
    row = town.json("refunds", "--season", "2026")["accounts"][0]
    # the sensors' own cold days (12-03, 12-04) are the measurement's: not paid twice
    assert row["under_temperature"]["days"] == 0 and row["total_cny"] == "17.85"
    assert town.json("measurements", "refund", "A1", "--season", "2026") == [m]


def meter_day(day: dt.date, flow_m3h: float) -> list[Reading]:
    """A2's heat meter m1, hourly: this flow at 55/45 °C (no flow: no heat delivered)."""
    t0 = dt.datetime(day.year, day.month, day.day, tzinfo=TZ)
    tags = {"device_id": "m1", "building_id": "B1", "substation_id": "S1", "account_id": "A2"}
    return [Reading("meter", tags, {"flow_m3h": flow_m3h, "supply_c": 55.0, "return_c": 45.0},
                    ms(t0 + dt.timedelta(hours=h))) for h in range(24)]


def test_the_meter_delivering_heat_again_ends_a_measured_failure(town: District) -> None:
    cfg = load_config(str(town.cfg))
    store = SqliteStore(cfg.data_path(cfg.store.sqlite.path, "readings.sqlite"))
    for d in range(6):  # no flow on 12-03 and 12-04, heat again from 12-05
        store.write(meter_day(FIRST + dt.timedelta(days=d), 0.0 if d < 2 else 0.4))
    store.close()
    cold = town.measure("A2", "bedroom=15.0", "living=15.2")
    town.measure("A2", "bedroom=18.5", at="2026-12-08T09:00:00+08:00")
    (m,) = town.json("measurements", "refund", "A2", "--season", "2026")
    assert (m["to"], m["days"], m["ended_by"], m["basis"]) == (
        "2026-12-05", 2, "meter", [cold["record_id"]])
    assert m["refund_cny"] == "14.98"  # 24 / 121 × 75.5 × 2 × 0.5
    (row,) = [a for a in town.json("refunds", "--season", "2026")["accounts"]
              if a["account_id"] == "A2"]
    assert row["measured"] == [m]


def test_a_meter_delivering_heat_all_along_ends_nothing(town: District) -> None:
    cfg = load_config(str(town.cfg))
    store = SqliteStore(cfg.data_path(cfg.store.sqlite.path, "readings.sqlite"))
    for d in range(6):
        store.write(meter_day(FIRST + dt.timedelta(days=d), 0.4))
    store.close()
    town.measure("A2", "bedroom=15.0", "living=15.2")
    town.measure("A2", "bedroom=18.5", at="2026-12-08T09:00:00+08:00")
    (m,) = town.json("measurements", "refund", "A2", "--season", "2026")
    assert (m["to"], m["days"], m["ended_by"]) == ("2026-12-08", 5, "remeasured")


def test_outdoor_comes_from_the_weather_station(town: District) -> None:
    rec = town.add_auto("H40", "bedroom=18.2")
    # the day's 24 hours: 23 at -4 °C and 08:00 at -2 °C
    assert rec["outdoor_mean_c"] == round((23 * -4.0 - 2.0) / 24, 1)
    assert rec["conditions"]["outdoor_c"] == -2.0
    # the phone page's hook reads the same store
    cfg = load_config(str(town.cfg))
    opened = readings_or_none(cfg)
    assert opened is not None
    try:
        hook = measurement_outdoor_mean(cfg, opened.store, records(cfg))
        assert hook("H40", dt.datetime(2026, 12, 3, 8, 30, tzinfo=TZ)) == rec["outdoor_mean_c"]
        assert hook("H40", dt.datetime(2026, 12, 20, 8, 30, tzinfo=TZ)) is None
    finally:
        opened.store.close()
    # a day the store has no outdoor reading: the clerk is asked for the day's mean
    code, _, err = town(*town.auto_args("H40", "bedroom=18", at="2026-12-20T08:30:00+08:00"))
    assert code == 2 and "--outdoor-mean" in err and len(err.strip().splitlines()) == 1


def test_a_substations_own_outdoor_sensor_comes_first(town: District) -> None:
    cfg = load_config(str(town.cfg))
    store = SqliteStore(cfg.data_path(cfg.store.sqlite.path, "readings.sqlite"))
    t0 = dt.datetime(2026, 12, 3, tzinfo=TZ)
    store.write([Reading("substation", {"device_id": "s1", "substation_id": "S1"},
                         {"outdoor_c": -6.0}, ms(t0 + dt.timedelta(hours=h)))
                 for h in range(24)])
    store.close()
    rec = town.add_auto("H40", "bedroom=18.2")
    assert rec["outdoor_mean_c"] == -6.0 and rec["conditions"]["outdoor_c"] == -6.0


def test_a_cold_visit_sends_one_repair_order_to_its_building(town: District) -> None:
    first = town.measure("H75", "bedroom=16.0", "living=16.8")
    key = first["decision"]["incident_key"]
    assert first["decision"]["opened"] and key
    town.alerts_pass("2026-12-03T08:31:00+08:00")
    db = town.db()
    (order,) = db.orders.for_incident(key)
    assert order.kind == "repair" and order.building_id == "B1"
    assert order.address == "幸福路1号楼 2-102"
    assert first["record_id"] in order.summary and "16.0" in order.summary
    db.close()
    (listed,) = town.json("measurements", "--account", "H75")
    assert listed["decision"]["incident_key"] == key
    code, out, _ = town("measurements", "show", first["record_id"])
    assert code == 0 and f"-> opened {key}" in out
    # a second cold visit of the household joins the open incident: no second order
    again = town.measure("H75", "bedroom=16.5", at="2026-12-04T08:30:00+08:00")
    assert again["decision"] == again["decision"] | {"incident_key": key, "opened": False}
    town.alerts_pass("2026-12-04T08:31:00+08:00")
    # a passing re-measurement closes it; the order is told
    town.measure("H75", "bedroom=18.4", "living=19.0", at="2026-12-06T08:30:00+08:00")
    db = town.db()
    inc = db.incidents.get(key)
    assert inc is not None and inc.closed_ms == ms(dt.datetime(2026, 12, 6, 8, 30, tzinfo=TZ))
    assert len(db.orders.for_incident(key)) == 1
    db.close()


def test_a_cold_visit_joins_the_outage_already_open(town: District) -> None:
    db = town.db()
    outage = Incident("outage:S1::1", "outage", "S1", ms(dt.datetime(2026, 12, 3, tzinfo=TZ)),
                      "S1", details=OutageDetails(ongoing=True))
    with db.unit() as u:
        u.incidents.reconcile([outage], outage.started_ms, ["outage"], scope={"outage": ["S1"]})
    db.close()
    rec = town.measure("H40", "bedroom=15.5")
    assert rec["decision"]["incident_key"] == outage.key and not rec["decision"]["opened"]
    db = town.db()
    assert [i.key for i in db.incidents.find(kind="room_cold")] == []
    db.close()


def test_a_cold_visit_joins_the_cold_room_the_sensors_found(town: District) -> None:
    db = town.db()
    t0 = ms(dt.datetime(2026, 12, 3, 2, tzinfo=TZ))
    room = Incident(f"room_cold:r1::{t0}", "room_cold", "r1", t0, "S1", "B1", "A1",
                    details=RoomColdDetails(trailing_h=24.0, ongoing=True))
    with db.unit() as u:
        u.incidents.reconcile([room], t0, ["room_cold"], scope={"room_cold": ["r1"]})
    db.close()
    rec = town.measure("A1", "bedroom=15.5")
    assert rec["decision"]["incident_key"] == room.key and not rec["decision"]["opened"]
    db = town.db()
    assert [i.key for i in db.incidents.find(kind="room_cold")] == [room.key]
    db.close()


def test_a_healthy_visit_is_quoted_in_the_calls_reply(town: District) -> None:
    call = town.json("calls", "add", "H75", "--kind", "temperature", "--by", "li", "--at",
                     f"{DAY}T08:00:00+08:00")
    rec = town.measure("H75", "bedroom=19.0", "living=19.4")
    assert rec["decision"]["incident_key"] is None
    done = town.json("calls", "act", call["call_id"], "resolve", "--by", "li", "--at",
                     f"{DAY}T10:00:00+08:00", "--result", "已入户测温", "--reply",
                     "经入户测温，室温达标")
    reply = done["reply"]
    assert reply.startswith("经入户测温，室温达标") and rec["record_id"] in reply
    assert f"{DAY} 08:30" in reply and "卧室 19.0℃" in reply and "客厅 19.4℃" in reply
    assert "达标" in reply
    # a complaint taken before the visit is answered with the record too
    complaint = town.json("calls", "add", "H75", "--kind", "complaint", "--by", "li", "--at",
                          f"{DAY}T08:10:00+08:00", "--text", "家里太冷")
    closed = town.json("calls", "act", complaint["call_id"], "resolve", "--by", "li", "--at",
                       f"{DAY}T11:00:00+08:00", "--result", "已测温", "--reply", "室温达标")
    assert rec["record_id"] in closed["reply"] and closed["state"] == "closed"
    # a call after the visit has no record of its own to quote
    later = town.json("calls", "add", "H75", "--kind", "complaint", "--by", "li", "--at",
                      f"{DAY}T12:00:00+08:00")
    plain = town.json("calls", "act", later["call_id"], "resolve", "--by", "li", "--at",
                      f"{DAY}T12:30:00+08:00", "--result", "已答复", "--reply", "已答复")
    assert plain["reply"] == "已答复"
    assert town.json("measurements", "refund", "H75", "--season", "2026") == []
    doc = town.json("refunds", "--season", "2026")
    assert "H75" not in {a["account_id"] for a in doc["accounts"]}


def test_late_reports_are_counted_per_measurer(town: District) -> None:
    town.measure("H40", "bedroom=18.2")
    late = town.measure("H75", "bedroom=18.2",
                        extra=("--reported-at", "2026-12-05T09:00:00+08:00"))
    assert late["late"] is True
    # a supervisor's correction is not a report of its own
    town.json("measurements", "correct", late["record_id"], "--reason", "误记",
              "--approved-by", "zhao", "--reading", "bedroom=18.3")
    (wang,) = town.json("measurements", "kpi", "--at", "2026-12-31T00:00:00+08:00")
    assert wang == {"measurer": "wang", "records": 2, "late": 1, "outside_window": 0,
                    "on_time_pct": 50.0}
    code, out, _ = town("measurements", "kpi", "--at", "2026-12-31T00:00:00+08:00")
    assert code == 0 and "wang" in out and "超时上报   1" in out
    assert json.loads(town("measurements", "kpi", "--json", "--at",
                           "2026-12-01T00:00:00+08:00")[1]) == []
