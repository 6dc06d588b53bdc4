"""One change, one place (issue 19): setting the standard from 18 °C to 16 °C in config
(`[analyzer.rooms] min_c = 16`, as a company that promises 16ºC would) changes, with no other
edit, the analyzer's cold rooms, the refund bands, Grafana's threshold lines and the crew
texts that state the standard."""

from __future__ import annotations

import json

import numpy as np
import pytest

from alerts.handlers import describe, plans_for
from alerts.templates import load_templates
from analyzer.config import from_mapping
from analyzer.grid import TimeAxis
from analyzer.kernels.room_temps import assess_rooms
from district.records import Records
from grafana import dashboards as gd
from policy.rooms import RoomState, refund_share
from policy.rules import CityRules
from workflow.details import OutageDetails, RoomColdDetails
from workflow.incidents import Incident

HOUR_MS = 3_600_000


@pytest.fixture(scope="module")
def sixteen() -> CityRules:
    return from_mapping({"rooms": {"min_c": 16}}).rules()


def room_day_at(temp_c: float, city: CityRules) -> RoomState:
    """The analyzer's label of one living room's day whose mean is `temp_c`."""
    axis = TimeAxis(0, HOUR_MS, 24)
    temps = temp_c + 0.3 * np.sin(np.arange(24.0))[None, :]
    days = assess_rooms(temps, axis, np.array([True]), np.array([0]), np.array([[0.0]]),
                        np.array([-10.0]), city.rooms, stuck=np.zeros((1, 24), dtype=bool))
    return RoomState(int(days.state[0, 0]))


def test_the_config_sets_the_standard(sixteen: CityRules) -> None:
    assert sixteen.rooms.min_c == 16
    assert sixteen.rooms.target_rate == CityRules().rooms.target_rate


def test_the_analyzer_calls_a_17_degree_room_cold_only_under_18(sixteen: CityRules) -> None:
    assert room_day_at(17.0, CityRules()) == RoomState.COLD
    assert room_day_at(17.0, sixteen) == RoomState.PASS
    assert room_day_at(15.0, sixteen) == RoomState.COLD


def test_the_refund_bands_count_from_the_standard(sixteen: CityRules) -> None:
    means = np.array([17.0, 15.0, 11.0, 9.0])
    assert refund_share(means, CityRules().rooms, CityRules().refund).tolist() == \
        [0.10, 0.50, 1.00, 1.00]
    assert refund_share(means, sixteen.rooms, sixteen.refund).tolist() == [0.0, 0.10, 0.50, 1.00]


def _room_thresholds(dash: dict[str, object]) -> list[float]:
    """Every threshold step of the substation's room-temperature panel."""
    panel = next(p for p in dash["panels"] if p["title"].startswith("楼栋室温"))  # type: ignore[attr-defined]
    return [s["value"] for s in panel["fieldConfig"]["defaults"]["thresholds"]["steps"]
            if s["value"] is not None]


def test_grafana_draws_the_standard(sixteen: CityRules) -> None:
    default, city = gd.build_all(), gd.build_all(sixteen)
    assert _room_thresholds(default["substation.json"]) == [18]
    assert _room_thresholds(city["substation.json"]) == [16]
    text = json.dumps(city, ensure_ascii=False)
    assert '< 16 AND' in text and '< 18 AND' not in text
    assert "低于16°C房间 Rooms below 16 °C" in text and "18 °C" not in text
    # only the standard moved: the other panels are the default city's
    assert default["ingest.json"] == city["ingest.json"]


def test_the_crews_read_the_standard(sixteen: CityRules) -> None:
    zh, zh16 = load_templates(), load_templates(city=sixteen)
    cold = Incident("k", "room_cold", "R-B01-0101-1", 0,
                    details=RoomColdDetails(trailing_h=6.0, lowest_trailing_mean_c=15.5))
    out = Incident("o", "outage", "S1", 0,
                   details=OutageDetails(reason="pump_stopped", cold_room_count=3))
    assert describe(cold, zh.causes, zh.values).startswith("室温低于18℃")
    assert describe(cold, zh16.causes, zh16.values).startswith("室温低于16℃")
    assert "室温低于16℃ 3 间" in describe(out, zh16.causes, zh16.values)
    # the order the alerts service opens says it, from the templates bound to the city
    (plan,) = plans_for(cold, "opened", Records(), zh16)
    assert "室温低于16℃" in plan.what  # type: ignore[union-attr]
    # the resident notice still promises what the city's outage rule says
    _, body = zh16.render("resident_notice", {})
    assert "停暖超过24小时的" in body
