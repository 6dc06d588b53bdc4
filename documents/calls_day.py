"""The morning report's calls: the day's calls by kind, complaints and reports due that day,
everything overdue as of the report, and the residents' satisfaction at the day's visits."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from policy.calls import CALL_KINDS, KIND_NAMES, SATISFACTION
from workflow.calls import Call
from workflow.unit import Repositories

ANSWERED_KINDS = ("complaint", "report")


@dataclass(slots=True)
class CallsDay:
    by_kind: dict[str, int] = field(default_factory=dict)  # kind -> calls received that day
    refused: int = 0
    due_today: list[Call] = field(default_factory=list)  # complaints and reports
    overdue: list[Call] = field(default_factory=list)  # any call past its limit, unanswered
    satisfaction: dict[str, int] = field(default_factory=dict)  # at the day's return visits

    @property
    def total(self) -> int:
        return sum(self.by_kind.values())

    def rows(self) -> list[dict[str, Any]]:
        return [{"kind": k, "name": KIND_NAMES[k], "n": n} for k, n in self.by_kind.items()]

    def as_dict(self) -> dict[str, Any]:
        def brief(c: Call) -> dict[str, Any]:
            return {"call_id": c.call_id, "kind": c.kind, "account_id": c.account_id,
                    "owner": c.owner, "due_ms": c.due_ms, "state": c.state}

        return {"by_kind": dict(self.by_kind), "refused": self.refused,
                "due_today": [brief(c) for c in self.due_today],
                "overdue": [brief(c) for c in self.overdue],
                "satisfaction": dict(self.satisfaction)}


def calls_day(db: Repositories, start_ms: int, end_ms: int, as_of_ms: int) -> CallsDay:
    out = CallsDay(satisfaction={s: 0 for s in SATISFACTION})
    counts = dict.fromkeys(CALL_KINDS, 0)
    for c in db.calls.find(include_closed=True):
        if start_ms <= c.received_ms < end_ms:
            counts[c.kind] += 1
            out.refused += int(c.state == "refused")
        unanswered = c.resolved_ms is None or c.resolved_ms > as_of_ms
        if c.state == "refused" or c.due_ms is None:
            pass
        elif c.kind in ANSWERED_KINDS and start_ms <= c.due_ms < end_ms:
            out.due_today.append(c)
        if c.state != "refused" and c.due_ms is not None and c.due_ms < as_of_ms and unanswered:
            out.overdue.append(c)
        if c.satisfaction and c.closed_ms is not None and start_ms <= c.closed_ms < end_ms:
            out.satisfaction[c.satisfaction] += 1
    out.by_kind = {k: n for k, n in counts.items() if n}
    return out
