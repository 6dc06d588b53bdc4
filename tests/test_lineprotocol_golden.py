"""Tag values with every line-protocol special character: the exact line, and a real
influxd gives back the same value (raw query, read_window, read_aggregate's series tags)."""

from __future__ import annotations

import pytest

from district.readings import Reading
from district.records import wire_problem
from storage.influx import InfluxStore
from storage.lineprotocol import LineEncoder, encode_line
from tests.harness import influx_query
from tests.services import Influxd

T_MS = 1_764_115_200_000

# value → its tag in the line (InfluxDB 1.x line protocol: `,` `=` and space are escaped
# with a backslash; any other backslash is literal, so it is written as it is)
GOLDEN = {
    "comma": ("a,b", r"a\,b"),
    "equals": ("a=b", r"a\=b"),
    "space": ("a b", r"a\ b"),
    "backslash": ("a\\b", "a\\b"),
    "leading backslash": ("\\a", "\\a"),
    "two backslashes": ("a\\\\b", "a\\\\b"),
    "backslash before comma": ("a\\,b", "a\\\\,b"),
    "backslash before space": ("a\\ b", "a\\\\ b"),
    "backslash before equals": ("a\\=b", "a\\\\=b"),
    "double quote": ('a"b', 'a"b'),
    "single quote": ("a'b", "a'b"),
    "all at once": ('x ,=\\"\'y', 'x\\ \\,\\=\\"\'y'),
    "CJK": ("东区一号站", "东区一号站"),
    "dollar": ("$a", "$a"),
    "percent and ampersand": ("a%26b&c", "a%26b&c"),
    "leading space": (" a", r"\ a"),
    "trailing space": ("a ", "a\\ "),
    "trailing comma": ("a,", "a\\,"),
}
# what the records refuse, since no escape exists for them in line protocol (or MQTT)
REFUSED = {"newline": "a\nb", "carriage return": "a\rb", "tab": "a\tb",
           "trailing backslash": "a\\", "NUL": "a\x00b"}


@pytest.mark.parametrize("name", GOLDEN)
def test_golden_line(name: str) -> None:
    value, escaped = GOLDEN[name]
    r = Reading("room", {"device_id": value}, {"temp_c": 20.5}, T_MS)
    want = f"room,device_id={escaped} temp_c=20.5 {T_MS}"
    assert encode_line(r) == want
    assert LineEncoder().line(r) == want


@pytest.mark.parametrize("name", REFUSED)
def test_values_line_protocol_cannot_carry_are_refused_by_the_records(name: str) -> None:
    assert wire_problem(REFUSED[name]) is not None


@pytest.mark.services
def test_every_special_character_reads_back_from_real_influxd(influxd_shared: Influxd) -> None:
    db = "golden_tags"
    store = InfluxStore(influxd_shared.url, db)
    values = [v for v, _ in GOLDEN.values()]
    store.write([Reading("room", {"device_id": v, "building_id": "B" + v},
                         {"temp_c": 20.0 + i}, T_MS + i) for i, v in enumerate(values)])
    rows = influx_query(influxd_shared.url, db, "SELECT temp_c, device_id, building_id FROM room")
    back = {r["device_id"]: (r["building_id"], float(r["temp_c"])) for r in rows}
    assert back == {v: ("B" + v, 20.0 + i) for i, v in enumerate(values)}
    frame = store.read_window("room", T_MS, T_MS + 1000, ["temp_c"],
                              ("device_id", "building_id"))
    assert dict(zip(frame.tags["device_id"].tolist(), frame.tags["building_id"].tolist(),
                    strict=True)) == {v: "B" + v for v in values}
    # GROUP BY tags come back in the series' own escaped tag string: parsed the same
    agg = store.read_aggregate("room", T_MS, T_MS + 1000, 60, ["temp_c"], "mean",
                               ("device_id", "building_id"))
    assert dict(zip(agg.tags["device_id"].tolist(), agg.fields["temp_c"].tolist(),
                    strict=True)) == {v: 20.0 + i for i, v in enumerate(values)}
    assert set(agg.tags["building_id"].tolist()) == {"B" + v for v in values}
    store.close()
