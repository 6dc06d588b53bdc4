"""The calls' limits as figures: per kind, how many calls, how many answered in time, how many
late or overdue, and the residents' satisfaction (the seed's feedback); and the measurers'
reports, how many filed later than the city's limit (issue 22)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from policy.calls import CALL_KINDS, SATISFACTION
from workflow.calls import Call
from workflow.measurements import Record


@dataclass(slots=True)
class KindFigures:
    kind: str
    calls: int = 0
    timed: int = 0  # calls with a limit
    late: int = 0  # answered after the limit, or unanswered past it
    open_overdue: int = 0
    satisfaction: dict[str, int] = field(default_factory=dict)

    @property
    def rate_pct(self) -> float | None:
        return None if not self.timed else round(100 * (self.timed - self.late) / self.timed, 1)


def call_figures(calls: Sequence[Call], as_of_ms: int, since_ms: int = 0) -> list[KindFigures]:
    """Figures per kind for the calls received in [since, as_of]; refused ones count as taken,
    with no limit."""
    out = {k: KindFigures(k) for k in CALL_KINDS}
    sat: dict[str, Counter[str]] = {k: Counter() for k in CALL_KINDS}
    for c in calls:
        if not since_ms <= c.received_ms <= as_of_ms:
            continue
        f = out[c.kind]
        f.calls += 1
        if c.satisfaction:
            sat[c.kind][c.satisfaction] += 1
        if c.due_ms is None or c.state == "refused":
            continue
        f.timed += 1
        answered = c.resolved_ms
        if answered is None and as_of_ms > c.due_ms:
            f.late += 1
            f.open_overdue += 1
        elif answered is not None and answered > c.due_ms:
            f.late += 1
    for k, f in out.items():
        f.satisfaction = {s: sat[k][s] for s in SATISFACTION}
    return [f for f in out.values() if f.calls]


@dataclass(slots=True)
class MeasurerFigures:
    """A measurer's reports (issue 22): how many records, how many reported later than the
    city's limit (the record's `late` flag), how many measured outside the windows."""

    measurer: str
    records: int = 0
    late: int = 0
    outside_window: int = 0

    @property
    def on_time_pct(self) -> float | None:
        return None if not self.records else round(100 * (self.records - self.late)
                                                   / self.records, 1)


def measurer_figures(records: Sequence[Record], as_of_ms: int, since_ms: int = 0
                     ) -> list[MeasurerFigures]:
    """Per measurer, the visits reported in [since, as_of]. A correction is not a report of
    its own (it is made later by design): only the records a measurer first filed count."""
    out: dict[str, MeasurerFigures] = {}
    for r in records:
        if r.corrects or not since_ms <= r.reported_ms <= as_of_ms:
            continue
        f = out.setdefault(r.measurer, MeasurerFigures(r.measurer))
        f.records += 1
        f.late += int(r.late)
        f.outside_window += int(r.outside_window)
    return [out[k] for k in sorted(out)]
