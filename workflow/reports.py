"""What a printed report said, kept once per day, as-of instant and section: a reprint of a
past day's report equals what was mailed, even where the store has since been revised (the
analyzer's compliance series is rewritten when late readings arrive)."""

from __future__ import annotations

from workflow.db import Conn

# its tables: workflow/migrations (the reports tables)


class ReportSnapshots:
    """The first printing of a section is the one every reprint shows."""

    def __init__(self, conn: Conn) -> None:
        self._c = conn

    def get(self, day: str, as_of_ms: int, section: str) -> str | None:
        r = self._c.one("SELECT body FROM report_snapshots WHERE day=? AND as_of_ms=? AND "
                        "section=?", (day, as_of_ms, section))
        return None if r is None else str(r[0])

    def keep(self, day: str, as_of_ms: int, section: str, body: str, made_ms: int) -> str:
        """Keep this printing unless one is kept already; the one kept."""
        self._c.run("INSERT INTO report_snapshots (day, as_of_ms, section, body, "
                    "made_ms) VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                    (day, as_of_ms, section, body, made_ms))
        kept = self.get(day, as_of_ms, section)
        return body if kept is None else kept
