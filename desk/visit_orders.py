"""Opening a measurement order (测温工单) in a unit of work: the one step the intake (a 测温 call)
and the desk's pages (a supervisor, a cold-room flag) share."""

from __future__ import annotations

from workflow.unit import Repositories
from workflow.visits import SOURCE_TEXT, MeasureOrder


def open_visit(u: Repositories, account_id: str, source: str, ref: str, at_ms: int, by: str,
               due_ms: int | None, measurer: str = "") -> MeasureOrder:
    """A new measurement order in this unit of work, audited with who opened it."""
    o = u.visits.open(MeasureOrder(u.counters.next_id("visit", "TW"), account_id, source, ref,
                                   at_ms, by, due_ms, measurer=measurer))
    u.staff.audit(at_ms, by, "open_visit", o.order_id, True,
                  f"{SOURCE_TEXT[source]} {ref} {account_id}".strip())
    return o
