"""What a simulated district run published and injected, for the operator and for tests."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass, field


@dataclass(slots=True)
class SimSummary:
    """What a run published and injected, for the operator and for tests."""

    scenario: str
    start_s: float
    end_s: float
    reached_s: float
    messages: Counter[str] = field(default_factory=Counter)  # per kind
    readings: Counter[str] = field(default_factory=Counter)  # per kind, array members counted
    backlog_flushes: int = 0
    lost: Counter[str] = field(default_factory=Counter)  # per kind, messages lost in the field
    withheld: Counter[str] = field(default_factory=Counter)  # per behaviour name
    meter_updates: int = 0
    gateway_outages: int = 0
    unit_faults: int = 0
    behaviours: list[dict[str, str]] = field(default_factory=list)
    gateways: dict[str, str] = field(default_factory=dict)  # records host:port -> bound

    def lines(self) -> list[str]:
        """A short human summary."""
        def at(t: float) -> str:
            return dt.datetime.fromtimestamp(t, dt.timezone(dt.timedelta(hours=8))).isoformat(
                timespec="minutes")
        out = [f"scenario {self.scenario}: {at(self.start_s)} → {at(self.reached_s)} "
               f"(planned to {at(self.end_s)})"]
        for kind in sorted(self.readings):
            out.append(f"  {kind}: {self.readings[kind]} readings in {self.messages[kind]} "
                       "MQTT messages")
        out.append(f"  meters: {self.meter_updates} register updates on "
                   f"{len(self.gateways)} gateways")
        out.append(f"  late backlogs flushed: {self.backlog_flushes}; readings withheld: "
                   f"{sum(self.withheld.values())}")
        for b in self.behaviours:
            out.append(f"  injected {b['name']} on {b['target']} {b['start']} for {b['hours']} h")
        return out
