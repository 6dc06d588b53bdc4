"""Each kind at its own pace (issue 11): which cycle kinds are due when."""

from __future__ import annotations

from analyzer.config import from_mapping
from analyzer.schedule import Schedule

T = 1_733_068_800.0  # an hour boundary


def test_each_kind_is_due_at_its_own_pace() -> None:
    s = Schedule.from_config(from_mapping({"substation_interval_s": 30, "room_interval_s": 300,
                                           "meter_interval_s": 3600, "meter_delay_s": 240}))
    assert s.due(T) == ["substation", "room", "meter"]  # never ran: all due
    for k in ("substation", "room", "meter"):
        s.ran(k, T + 250)
    assert s.due(T + 260) == []
    assert s.due(T + 280) == ["substation"]
    assert s.due(T + 550) == ["substation", "room"]
    # meters: once per hour, meter_delay_s after it, however late the last run was
    assert "meter" not in s.due(T + 3600 + 239)
    assert "meter" in s.due(T + 3600 + 240)
    s.ran("meter", T + 3600 + 900)  # ran late: next one is still 240 s past the next hour
    assert s.next_at("meter") == T + 7200 + 240
    assert s.wait_s(T + 250) == 30
