"""Each kind at its own pace (issue 11): which cycle kinds are due at an instant.

Substations (outages, leaks) every `substation_interval_s`, rooms every `room_interval_s`,
meters once per `meter_interval_s`, `meter_delay_s` after its start (the hourly poll has
landed by then). A kind that fell behind runs once, not once per missed interval.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from analyzer.config import AnalyzerConfig

KINDS = ("substation", "room", "meter")


@dataclass(slots=True)
class Schedule:
    """When each cycle kind last ran (wall clock, s) and when it is next due."""

    substation_s: float = 60.0
    room_s: float = 600.0
    meter_s: float = 3600.0
    meter_delay_s: float = 300.0
    last: dict[str, float] = field(default_factory=dict)

    @classmethod
    def from_config(cls, cfg: AnalyzerConfig) -> Schedule:
        return cls(cfg.substation_interval_s, cfg.room_interval_s, cfg.meter_interval_s,
                   cfg.meter_delay_s)

    def next_at(self, kind: str) -> float:
        """When a kind is next due (-inf if it never ran)."""
        last = self.last.get(kind)
        if last is None:
            return -math.inf
        if kind == "meter":
            # the first instant meter_delay_s past a meter_s boundary after the last run
            k = math.floor((last - self.meter_delay_s) / self.meter_s) + 1
            return k * self.meter_s + self.meter_delay_s
        return last + (self.substation_s if kind == "substation" else self.room_s)

    def due(self, now_s: float) -> list[str]:
        """The kinds due now, in the order they run (substations first: the fast path)."""
        return [k for k in KINDS if self.next_at(k) <= now_s]

    def ran(self, kind: str, now_s: float) -> None:
        self.last[kind] = now_s

    def wait_s(self, now_s: float) -> float:
        """How long until the next kind is due."""
        return max(0.0, min(self.next_at(k) for k in KINDS) - now_s)
