"""Find the household in seconds: by phone (full or its last 4 digits), by account id, or by
address and unit (partial Chinese text); and its card: what the records, the network and the
workflow know of it now."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from desk.orders import RESTORE_UNKNOWN, cause_text, covering_incident
from district.records import Account, Records
from policy.causes import cause_text as catalogue_text
from policy.rules import Season
from workflow.calls import Call
from workflow.orders import Order
from workflow.unit import WorkflowDb

MAX_HITS = 30
TARIFFS = {"area": "按面积", "metered": "按热计量"}


def mask_phone(phone: str) -> str:
    """138****0001: the full number only on an audited request."""
    if len(phone) < 7:
        return "*" * len(phone)
    return f"{phone[:3]}{'*' * (len(phone) - 7)}{phone[-4:]}"


def search(records: Records, query: str) -> list[Account]:
    """Accounts matching the query, best first: an exact account id or full phone, then the
    last 4 digits of a phone, then address and unit text (every word must appear)."""
    q = query.strip()
    if not q:
        return []
    if q in records.accounts:
        return [records.accounts[q]]
    accounts = list(records.accounts.values())
    digits = q.replace(" ", "").replace("-", "")
    if digits.isdigit() and len(digits) >= 4:
        hits = [a for a in accounts if a.phone and (a.phone == digits or (
            len(digits) == 4 and a.phone.endswith(digits)))]
        if hits:
            return hits[:MAX_HITS]
    words = q.split()
    hits = []
    for a in accounts:
        b = records.buildings.get(a.building_id)
        text = f"{a.account_id} {b.address if b else ''} {a.unit} {b.address if b else ''}{a.unit}"
        if all(w in text for w in words):
            hits.append(a)
    return hits[:MAX_HITS]


@dataclass(slots=True)
class Card:
    """The household's card as the clerk sees it."""

    account: Account
    address: str
    substation: str
    phone_masked: str
    incident: dict[str, Any] | None
    calls: list[Call] = field(default_factory=list)
    orders: list[Order] = field(default_factory=list)
    compensation_cny: Decimal = Decimal("0")
    compensation_lines: int = 0
    suspended: bool = False
    # its meter's open faults: the cause in words (policy/causes.py) and since when
    meter_faults: list[tuple[str, int]] = field(default_factory=list)

    @property
    def tariff_text(self) -> str:
        return TARIFFS.get(self.account.tariff, self.account.tariff)


def card(db: WorkflowDb, records: Records, account_id: str, season: Season,
         today: dt.date) -> Card | None:
    acc = records.accounts.get(account_id)
    if acc is None:
        return None
    b = records.buildings[acc.building_id]
    sub = records.substations.get(b.substation_id)
    inc = covering_incident(db, acc, records)
    incident = None if inc is None else {
        "key": inc.key, "kind": inc.kind, "cause": cause_text(inc), "since_ms": inc.started_ms,
        "restore": RESTORE_UNKNOWN, "restore_ms": None}
    est = None if inc is None else db.estimates.get(inc.key)
    if incident is not None and est is not None:
        # dispatch's estimate (`heatwatch orders estimate`); the template words its time
        incident["restore_ms"] = est.restore_ms
    calls = db.calls.find(account_id=acc.account_id)
    keys = {c.incident_key for c in calls} | ({inc.key} if inc else set())
    orders = [o for o in db.orders.find() if o.account_id == acc.account_id
              or o.incident_key in keys]
    year = season.year_of(today)
    start_ms = int(dt.datetime.combine(season.start(year), dt.time()).timestamp() * 1000)
    owed = [c for c in db.compensation.find() if c["account_id"] == acc.account_id
            and int(c["started_ms"]) >= start_ms]
    meters = {d.device_id for d in records.devices.values()
              if d.account_id == acc.account_id and d.kind == "meter"}
    faults = [(catalogue_text(i.cause) if i.cause else "热表故障", i.started_ms)
              for i in db.incidents.find(kind="meter_fault") if i.subject in meters]
    return Card(acc, f"{b.address} {acc.unit}", f"{sub.name if sub else ''}（{b.substation_id}）",
                mask_phone(acc.phone), incident, calls, orders,
                sum((Decimal(str(c["amount_cny"])) for c in owed), Decimal("0")), len(owed),
                acc.account_id in db.calls.suspended(year), faults)
