"""What an outage or a meter fault leaves on residents' records: notices, compensation, basis."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from workflow.db import Conn

# its tables: workflow/migrations (the notices tables)

_NOTICE_COLS = ("notice_id", "incident_key", "account_id", "building_id", "substation_id",
                "at_ms", "delivery", "reason", "expected_restore_ms", "text")
_COMP_COLS = ("incident_key", "account_id", "started_ms", "duration_h", "days",
              "season_fee_cny", "season_days", "amount_cny", "final", "updated_ms")
_BASIS_COLS = ("incident_key", "account_id", "basis", "from_ms", "to_ms", "cause")


@dataclass(frozen=True, slots=True)
class Notice:
    """A resident notice (the account id, never a phone number). `expected_restore_ms` stays
    in the table for old rows; nothing estimates a restore time, so new rows leave it empty."""

    notice_id: str
    incident_key: str
    account_id: str
    building_id: str
    substation_id: str
    at_ms: int
    delivery: str  # "sms" | "record"
    reason: str
    text: str


@dataclass(frozen=True, slots=True)
class Compensation:
    """One account's refund for one outage, as of `updated_ms` (final once it closed)."""

    incident_key: str
    account_id: str
    started_ms: int
    duration_h: float
    days: int
    season_fee_cny: str
    season_days: int
    amount_cny: str
    final: bool
    updated_ms: int


class Notices:
    """The notice repository; one notice per incident and account."""

    def __init__(self, conn: Conn) -> None:
        self._c = conn

    def add(self, n: Notice) -> bool:
        """Store a notice unless the account already has one for the incident; True if new."""
        cur = self._c.run(
            f"INSERT INTO notice ({', '.join(_NOTICE_COLS)}) VALUES "
            "(?,?,?,?,?,?,?,?,NULL,?) ON CONFLICT DO NOTHING",
            (n.notice_id, n.incident_key, n.account_id, n.building_id, n.substation_id,
             n.at_ms, n.delivery, n.reason, n.text))
        return cur.rowcount == 1

    def find(self) -> list[dict[str, Any]]:
        rows = self._c.rows(f"SELECT {', '.join(_NOTICE_COLS)} FROM notice "
                            "ORDER BY at_ms, notice_id")
        return [dict(zip(_NOTICE_COLS, r, strict=True)) for r in rows]


class Compensations:
    """The compensation repository: one row per outage and account, refreshed as it runs."""

    def __init__(self, conn: Conn) -> None:
        self._c = conn

    def exists(self, incident_key: str) -> bool:
        return self._c.one("SELECT 1 FROM compensation WHERE incident_key=?",
                           (incident_key,)) is not None

    def put(self, c: Compensation) -> None:
        self._c.run(
            f"INSERT INTO compensation ({', '.join(_COMP_COLS)}) "
            "VALUES (?,?,?,?,?,?,?,?,?,?) ON CONFLICT(incident_key, account_id) DO UPDATE "
            "SET duration_h=excluded.duration_h, days=excluded.days, "
            "amount_cny=excluded.amount_cny, final=excluded.final, "
            "updated_ms=excluded.updated_ms",
            (c.incident_key, c.account_id, c.started_ms, c.duration_h, c.days,
             c.season_fee_cny, c.season_days, c.amount_cny, int(c.final), c.updated_ms))

    def find(self) -> list[dict[str, Any]]:
        rows = self._c.rows(f"SELECT {', '.join(_COMP_COLS)} FROM compensation "
                            "ORDER BY incident_key, account_id")
        return [dict(zip(_COMP_COLS, r, strict=True)) for r in rows]


class BillingBases:
    """The billing-basis repository: a faulty meter's period billed by area or inspected."""

    def __init__(self, conn: Conn) -> None:
        self._c = conn

    def switch(self, incident_key: str, account_id: str, basis: str, from_ms: int,
               cause: str) -> None:
        self._c.run(f"INSERT INTO billing_basis ({', '.join(_BASIS_COLS[:4])}, cause) "
                    "VALUES (?,?,?,?,?) ON CONFLICT DO NOTHING",
                    (incident_key, account_id, basis, from_ms, cause))

    def end(self, incident_key: str, to_ms: int) -> None:
        self._c.run("UPDATE billing_basis SET to_ms=? WHERE incident_key=? AND to_ms IS NULL",
                    (to_ms, incident_key))

    def find(self) -> list[dict[str, Any]]:
        rows = self._c.rows(f"SELECT {', '.join(_BASIS_COLS)} FROM billing_basis "
                            "ORDER BY from_ms, incident_key, account_id")
        return [dict(zip(_BASIS_COLS, r, strict=True)) for r in rows]
