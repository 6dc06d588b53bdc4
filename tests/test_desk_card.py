"""issue 21 item 2: the household's card says what the network knows now: its room sensors'
and its building's latest daily means, and its meter's open fault, in words."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from zoneinfo import ZoneInfo

from desk.readings import latest_of
from desk.search import card
from district.readings import Reading
from district.records import load_records
from policy.rules import Season
from storage.sqlite import SqliteStore
from tests.records_fixture import write_records
from tests.test_alerts_support import raise_incident
from workflow.details import MeterFaultDetails
from workflow.unit import WorkflowDb

TZ = ZoneInfo("Asia/Shanghai")
HOUR_MS = 3_600_000


def _ms(iso: str) -> int:
    return int(dt.datetime.fromisoformat(iso).timestamp() * 1000)


def test_the_card_shows_daily_means_and_the_meter_fault(tmp_path: Path) -> None:
    records = load_records(write_records(tmp_path / "rec"))
    store = SqliteStore(tmp_path / "readings.sqlite")
    day1 = _ms("2024-12-02T00:00:00+08:00")
    points = []
    for h in range(36):  # 12-02 whole, then 12 h of 12-03
        for dev, temp in (("r1", 16.0), ("r2", 20.0)):
            d = records.devices[dev]
            points.append(Reading("room", d.tags(), {"temp_c": temp + (h >= 24)},
                                  day1 + h * HOUR_MS))
    store.write(points)
    now = day1 + 36 * HOUR_MS
    latest = latest_of(store, records, "A1", (now, TZ))
    # the newest day with data: 12-03 so far, each room's own mean and the building's
    assert latest.room_days == [("r1", 17.0, "2024-12-03"), ("r2", 21.0, "2024-12-03")]
    assert latest.building_day == (19.0, "2024-12-03")
    assert latest_of(store, records, "A1").room_days == []  # without a time: latest only
    db = WorkflowDb(tmp_path / "wf.sqlite")
    raise_incident(db, "meter_fault", "m1", day1, now, cause="sensor_open",
                   substation_id="S1", building_id="B1", account_id="A2",
                   details=MeterFaultDetails())
    c = card(db, records, "A2", Season(), dt.date(2024, 12, 3))
    assert c is not None and c.meter_faults == [("温度传感器开路（读数185.00℃）", day1)]
    other = card(db, records, "A1", Season(), dt.date(2024, 12, 3))
    assert other is not None and other.meter_faults == []
    db.close()
    store.close()
