"""The morning report's page on early fault finding (issue 24): the early warnings open that
day (a slow fault found before a room went cold) and the stations ranked by the heat and
return temperature they wasted, from the `early_score` series the daily job writes."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from documents.as_of import incidents_as_of
from policy.causes import cause_texts
from storage.base import Store
from workflow.details import EarlyWarningDetails
from workflow.unit import Repositories

SCORE_FIELDS = ("wasted_kwh", "wasted_cny", "return_c", "return_excess_k", "warning")
TOP = 10  # not a rule: how many stations the page lists


@dataclass(slots=True)
class EarlyDay:
    """The warnings open that day and the ranking (most heat wasted first)."""

    warnings: list[dict[str, Any]] = field(default_factory=list)
    ranking: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"warnings": list(self.warnings), "ranking": list(self.ranking)}


def early_day(db: Repositories, store: Store | None, start_ms: int, end_ms: int,
              as_of_ms: int) -> EarlyDay:
    """What the page shows, as known at `as_of_ms`."""
    out = EarlyDay()
    texts = cause_texts()
    for i in incidents_as_of(db, as_of_ms):
        if i.kind != "early_warning" or i.started_ms >= end_ms or (
                i.closed_ms is not None and i.closed_ms < start_ms):
            continue
        d = i.details
        since = d.since if isinstance(d, EarlyWarningDetails) else ""
        out.warnings.append({"subject": i.subject, "substation_id": i.substation_id,
                             "cause": i.cause, "cause_text": texts.get(i.cause, i.cause),
                             "since": since, "open": i.closed_ms is None})
    out.warnings.sort(key=lambda w: (w["since"], w["subject"]))
    if store is not None:
        fr = store.read_window("early_score", start_ms, end_ms, list(SCORE_FIELDS),
                               tags=("substation_id",))
        rows = [{"substation_id": str(fr.tags["substation_id"][k]),
                 **{f: _num(fr.fields[f][k]) if f in fr.fields else None
                    for f in SCORE_FIELDS}} for k in range(len(fr))]
        out.ranking = sorted(rows, key=lambda r: -float(r["wasted_kwh"] or 0.0))[:TOP]
    return out


def _num(x: float) -> float | None:
    return None if not np.isfinite(x) else round(float(x), 2)
