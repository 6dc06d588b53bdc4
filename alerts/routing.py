"""Which crew gets an order (by substation), who of it is on duty, and where its messages go."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from zoneinfo import ZoneInfo

from alerts.config import AlertsConfigError, Crew

DEFAULT_CREW = Crew("dispatch", "调度中心")


class Routing:
    """Crews per substation with a duty roster; a catch-all crew takes the rest."""

    def __init__(self, crews: Sequence[Crew], tz: str = "Asia/Shanghai") -> None:
        self.crews = {c.crew_id: c for c in crews}
        self.tz = ZoneInfo(tz)
        self._by_substation: dict[str, Crew] = {}
        fallback = [c for c in crews if not c.substations]
        for c in crews:
            for s in c.substations:
                if s in self._by_substation:
                    raise AlertsConfigError(f"substation {s!r} is served by two crews: "
                                            f"{self._by_substation[s].crew_id!r} and "
                                            f"{c.crew_id!r}")
                self._by_substation[s] = c
        self.fallback = fallback[0] if fallback else DEFAULT_CREW

    def crew_for(self, substation_id: str) -> Crew:
        return self._by_substation.get(substation_id, self.fallback)

    def crew(self, crew_id: str) -> Crew:
        return self.crews.get(crew_id, self.fallback if crew_id == self.fallback.crew_id
                              else Crew(crew_id))

    def on_duty(self, crew: Crew, at_ms: int) -> list[str]:
        """Members whose roster shift covers the instant (all members if there is no roster)."""
        if not crew.roster:
            return list(crew.members)
        t = dt.datetime.fromtimestamp(at_ms / 1000, self.tz)
        hour = t.hour + t.minute / 60
        return [s.member for s in crew.roster
                if t.weekday() in s.weekdays and s.start_h <= hour < s.end_h]
