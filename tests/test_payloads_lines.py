"""parse_lines (the collector's path to InfluxDB) is parse_indexed plus the Store's encoder."""

from __future__ import annotations

from collections.abc import Mapping

import pytest
from hypothesis import HealthCheck, given, settings

from collector.payload_lines import parse_lines
from collector.payloads import Registered, parse_indexed
from district.records import load_records
from storage.lineprotocol import LineEncoder
from tests.records_fixture import write_records
from tests.test_intake_fuzz import message


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Mapping[str, Registered]:
    from heatwatch import bootstrap

    return bootstrap.registry(load_records(write_records(tmp_path_factory.mktemp("records"))))


@settings(max_examples=600, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(msg=message())
def test_lines_equal_the_reference_readings_encoded(registry: Mapping[str, Registered],
                                                    msg: tuple[str, bytes]) -> None:
    topic, payload = msg
    readings, indexes, rejections = parse_indexed(topic, payload, registry)
    lines, line_indexes, line_rejections = parse_lines(topic, payload, registry, LineEncoder())
    encoder = LineEncoder()
    assert lines == [encoder.line(r) for r in readings]
    assert line_indexes == indexes
    assert line_rejections == rejections


def test_plain_array_takes_the_fast_path_and_keeps_the_bad_element(
        registry: Mapping[str, Registered]) -> None:
    payload = (b'[{"ts": 1764115200, "temp_c": 19.5, "rh_pct": 40},'
               b' {"ts": 1764115260.5, "temp_c": 20},'
               b' {"ts": 1764115320, "temp_c": true},'
               b' {"ts": "2025-11-26T08:03:00+08:00", "temp_c": 21.5, "battery_v": null}]')
    lines, indexes, rejections = parse_lines("heat/room/r1", payload, registry, LineEncoder())
    assert [ln.split(" ", 1)[1] for ln in lines] == [
        "temp_c=19.5,rh_pct=40.0 1764115200000",
        "temp_c=20.0 1764115260500",
        "temp_c=21.5 1764115380000",
    ]
    assert indexes == [0, 1, 3]
    assert [r.cause for r in rejections] == ["wrong_type"]
