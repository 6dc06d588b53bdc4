"""Resident and crew texts are Chinese: every cause the analyzer and the collector can give
has a Chinese phrase in the templates, and no rendered message carries a Latin word other
than an id (ids hold a digit: WO-000001, M-B02-0103, S1), a link or a number."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

import alerts
from alerts.handlers import WHAT, describe, outage_reason
from alerts.templates import MESSAGE_KINDS, Templates, load_templates
from collector.modbus_poller import CAUSE_CODES
from policy.causes import LEGACY_REASONS, OUTAGE_REASONS
from policy.early import CAUSES as EARLY_CAUSES
from policy.rules import Cause
from workflow.details import (
    BuildingOutageDetails,
    ComplianceDetails,
    EarlyWarningDetails,
    LeakDetails,
    MeterCommDetails,
    MeterFaultDetails,
    OutageDetails,
    RoomColdDetails,
    SensorFaultDetails,
    StationCommDetails,
)
from workflow.incidents import Incident

# what the runner gives: meter faults, comm causes of a poll (and its own), room sensors
CAUSES = ([c.name.lower() for c in Cause] + list(CAUSE_CODES) + ["exception_4", "missing",
          "comm", "silent", "stuck", "out_of_range", "rooms_silent", "never_reported",
          "substation_silent", "weather_silent"] + list(OUTAGE_REASONS))
URL = re.compile(r"https?://\S+")
WORD = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:/-]*")


def latin_words(text: str) -> list[str]:
    """Latin words that are not ids, links or numbers."""
    text = URL.sub(" ", text)
    return [w for w in WORD.findall(text)
            if re.search(r"[A-Za-z]", w) and not re.search(r"\d", w)]


TEMPLATE_FILES = sorted((Path(alerts.__file__).parent / "templates").glob("*.toml"))


@pytest.fixture(scope="module", params=TEMPLATE_FILES, ids=[p.name for p in TEMPLATE_FILES])
def zh(request: pytest.FixtureRequest) -> Templates:
    """Every templates file shipped in alerts/templates/, as alerts/templates.py loads it."""
    path: Path = request.param
    return load_templates(path)


def test_the_check_itself_catches_english() -> None:
    assert latin_words("原因：circulation pump stopped。") == ["circulation", "pump", "stopped"]
    assert latin_words("工单 WO-000001 [M-B02-0103] http://h:1/o/WO-1?t=x 12-02 04:00") == []
    assert latin_words("网关 127.0.0.1:5020 S1") == []


@pytest.mark.parametrize("cause", CAUSES)
def test_every_cause_has_a_chinese_phrase(zh: Templates, cause: str) -> None:
    text = zh.cause_text(cause)
    assert text != cause
    assert re.search(r"[\u4e00-\u9fff]", text), text
    assert latin_words(text) == [], text


def incidents() -> list[Incident]:
    """An incident of every kind the alerts table handles, with every cause it can carry."""
    out = []
    for name in [c.name.lower() for c in Cause]:
        human = Cause[name.upper()] in (Cause.TAMPER, Cause.COVER_OPENED)
        out.append(Incident(f"k-{name}", "meter_fault", "M-B02-0103", 0, cause=name,
                            details=MeterFaultDetails(cause=name, causes=[name], human=human)))
    for name in [*CAUSE_CODES, "exception_4", "missing"]:
        out.append(Incident(f"k-{name}", "meter_comm", "M-B05-0502", 0, cause="comm",
                            details=MeterCommDetails(cause=name)))
        out.append(Incident(f"g-{name}", "meter_comm", "gateway 127.0.0.1:5020", 0,
                            cause="comm", details=MeterCommDetails(cause=name, meters=12)))
    for name in ("silent", "stuck", "out_of_range"):
        out.append(Incident(f"k-{name}", "sensor_fault", "R-B01-0101-1", 0, cause=name,
                            details=SensorFaultDetails(hours=8.0)))
    # a building's rooms silent together or never heard from; a station or weather station
    # gone dark; a gateway's meters never heard from
    for name in ("rooms_silent", "never_reported"):
        out.append(Incident(f"b-{name}", "sensor_fault", "building B05", 0, cause=name,
                            details=SensorFaultDetails(devices=["T-B05-0105-liv"] * 7)))
    out.append(Incident("g-never", "meter_comm", "gateway 127.0.0.1:5021", 0,
                        cause="never_reported",
                        details=MeterCommDetails(cause="never_reported", devices=["M-B01-0103"])))
    for source, subject in (("substation", "S1"), ("weather", "WX-1")):
        out.append(Incident(f"s-{source}", "station_comm", subject, 0,
                            cause=f"{source}_silent",
                            details=StationCommDetails(source=source, device_id=subject)))
    # the detector's codes, and the English an incident stored before reasons were codes
    for reason in [*OUTAGE_REASONS, *LEGACY_REASONS]:
        out.append(Incident(f"k-{reason}", "outage", "S1", 0,
                            details=OutageDetails(reason=reason, duration_h=30.0)))
    out.append(Incident("k-bo", "building_outage", "B01", 0,
                        details=BuildingOutageDetails(duration_h=26.0)))
    out.append(Incident("k-leak", "leak", "S1", 0, details=LeakDetails(signs=["makeup"])))
    out.append(Incident("k-cold", "room_cold", "R-B01-0101-1", 0,
                        details=RoomColdDetails(trailing_h=6.0, lowest_trailing_mean_c=15.5)))
    out.append(Incident("k-comp", "compliance_breach", "S1", 0,
                        details=ComplianceDetails(day="2024-12-02", rate=0.969)))
    for cause in EARLY_CAUSES:
        out.append(Incident(f"e-{cause}", "early_warning", "S1", 0, cause=cause,
                            details=EarlyWarningDetails(cause=cause, target="station")))
    assert {i.kind for i in out} == set(WHAT)
    return out


def reason_of(inc: Incident, zh: Templates) -> str:
    """The notice's reason as the residents' service writes it."""
    d = inc.details
    reason = d.reason if isinstance(d, OutageDetails) else ""
    return outage_reason(reason, zh.causes) if reason else zh.defaults["reason"]


def fields(zh: Templates, inc: Incident, order_kind: str) -> dict[str, Any]:
    return {
        "order_id": "WO-000001", "kind_text": zh.kind_text(order_kind),
        "address": "东湖路2号楼 103", "what": describe(inc, zh.causes), "crew": "C1",
        "owner": "张三", "link": "http://127.0.0.1:8080/o/WO-000001?t=3f9a",
        "started": "12-02 04:00", "due": "12-02 06:00", "share_pct": 80,
        "step_text": zh.step_text("on_site"), "on_duty": "张三、李四",
        "deadline_text": f"{zh.step_text('contacted', order_kind)} 12-02 04:30前",
        "reason": reason_of(inc, zh),
        "expected_restore": zh.defaults["expected_restore"],
        "why": "处理后数据显示故障仍在，工单退回",  # an order sent back to its crew (issue 20)
    }


@pytest.mark.parametrize("inc", incidents(), ids=lambda i: f"{i.kind}-{i.key}")
def test_no_latin_word_in_any_message(zh: Templates, inc: Incident) -> None:
    for order_kind in zh.kinds:
        for kind in MESSAGE_KINDS:
            title, body = zh.render(kind, fields(zh, inc, order_kind))
            assert latin_words(title + "\n" + body) == [], (kind, body)
            assert "{" not in body, body  # every placeholder was filled


def test_the_notice_of_a_pump_trip_says_why_in_chinese(zh: Templates) -> None:
    for reason in ("pump_stopped", "circulation pump stopped"):  # a code; an old stored reason
        inc = Incident("k", "outage", "S1", 0, details=OutageDetails(reason=reason))
        _, body = zh.render("resident_notice", fields(zh, inc, "emergency"))
        assert "原因：循环泵停运。" in body
        assert "停暖超过24小时的" in body
    # a reason the dispatcher wrote stays as written
    assert outage_reason("一次网爆管", zh.causes) == "一次网爆管"
