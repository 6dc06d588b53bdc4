"""What each measurement record decided, as stored (issue 22): its verdict, the incident it
opened or joined (and so the repair order), and the words the desk quotes to the resident.

The record itself is append-only and hashed, so what it led to is written beside it, once per
record (append-only too): the chain stays the evidence, this table the follow-up.
"""

from __future__ import annotations

from dataclasses import dataclass

from workflow.db import Conn

SCHEMA = """
CREATE TABLE IF NOT EXISTS measurement_link (
    record_id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL,
    measured_ms INTEGER NOT NULL,
    verdict TEXT NOT NULL,
    incident_key TEXT NOT NULL DEFAULT '',
    opened INTEGER NOT NULL DEFAULT 0,
    quote TEXT NOT NULL DEFAULT '',
    at_ms INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS measurement_link_account ON measurement_link (account_id, measured_ms);
CREATE TRIGGER IF NOT EXISTS measurement_link_no_update BEFORE UPDATE ON measurement_link
BEGIN SELECT RAISE(ABORT, 'measurement_link is append-only'); END;
CREATE TRIGGER IF NOT EXISTS measurement_link_no_delete BEFORE DELETE ON measurement_link
BEGIN SELECT RAISE(ABORT, 'measurement_link is append-only'); END;
"""

_COLS = ("record_id", "account_id", "measured_ms", "verdict", "incident_key", "opened", "quote",
         "at_ms")


@dataclass(frozen=True, slots=True)
class Link:
    """One record's decision: `verdict` pass / cold / excluded / not_counted; `incident_key`
    the incident it opened (`opened`) or joined ('' when none); `quote` the record in words."""

    record_id: str
    account_id: str
    measured_ms: int
    verdict: str
    incident_key: str
    opened: bool
    quote: str
    at_ms: int


def _link(r: tuple[object, ...]) -> Link:
    rid, acc, measured, verdict, key, opened, quote, at = r
    return Link(str(rid), str(acc), int(str(measured)), str(verdict), str(key),
                bool(opened), str(quote), int(str(at)))


class MeasurementLinks:
    """The decisions of the measurement records."""

    def __init__(self, conn: Conn) -> None:
        self._c = conn

    def add(self, k: Link) -> None:
        self._c.run(f"INSERT INTO measurement_link ({', '.join(_COLS)}) "
                    f"VALUES ({', '.join('?' * len(_COLS))}) ON CONFLICT (record_id) DO NOTHING",
                    (k.record_id, k.account_id, k.measured_ms, k.verdict, k.incident_key,
                     int(k.opened), k.quote, k.at_ms))

    def get(self, record_id: str) -> Link | None:
        r = self._c.one(f"SELECT {', '.join(_COLS)} FROM measurement_link WHERE record_id=?",
                        (record_id,))
        return None if r is None else _link(r)

    def of_account(self, account_id: str, since_ms: int = 0) -> list[Link]:
        """The household's decisions measured at or after `since_ms`, oldest first."""
        return [_link(r) for r in self._c.rows(
            f"SELECT {', '.join(_COLS)} FROM measurement_link WHERE account_id=? AND "
            "measured_ms >= ? ORDER BY measured_ms, record_id", (account_id, since_ms))]
