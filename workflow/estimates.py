"""When dispatch expects an outage or leak to be restored: the analyzer cannot know it, so a
dispatcher gives it (`heatwatch orders estimate`), and the desk's card and the residents'
notice say it. One estimate per incident, the latest standing; each change is in the order's
audit log."""

from __future__ import annotations

from dataclasses import dataclass

from workflow.db import Conn

# its tables: workflow/migrations (the estimates tables)


@dataclass(frozen=True, slots=True)
class Estimate:
    incident_key: str
    restore_ms: int
    by: str
    set_ms: int


class Estimates:
    """The restore estimates repository."""

    def __init__(self, conn: Conn) -> None:
        self._c = conn

    def put(self, e: Estimate) -> None:
        self._c.run("INSERT INTO restore_estimates (incident_key, restore_ms, \"by\", set_ms) "
                    "VALUES (?, ?, ?, ?) ON CONFLICT(incident_key) DO UPDATE SET "
                    "restore_ms=excluded.restore_ms, \"by\"=excluded.\"by\", "
                    "set_ms=excluded.set_ms",
                    (e.incident_key, e.restore_ms, e.by, e.set_ms))

    def get(self, incident_key: str) -> Estimate | None:
        r = self._c.one("SELECT incident_key, restore_ms, \"by\", set_ms FROM restore_estimates "
                        "WHERE incident_key=?", (incident_key,))
        return None if r is None else Estimate(str(r[0]), int(r[1]), str(r[2]), int(r[3]))
