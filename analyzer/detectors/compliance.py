"""Compliance-breach incidents: a substation day whose room compliance rate (室温合格率) is below
target; and the compliance series for every complete day."""

from __future__ import annotations

import numpy as np

from analyzer import derived
from analyzer.detectors.base import Context, Found, incident, rounded
from analyzer.detectors.room_days import RoomJudgement
from analyzer.grid import DAY_MS
from analyzer.kernels.room_temps import compliance
from workflow.details import ComplianceDetails


def detect_compliance_breaches(ctx: Context, j: RoomJudgement | None) -> Found:
    """One incident per substation and complete day below the target rate."""
    found = Found()
    if j is None:
        return found
    ix, rr, axis = ctx.index, ctx.rules.rooms, j.axis
    found.examined("compliance_breach", set(ix.substations))
    comp = compliance(j.state, ix.room_sub, len(ix.substations))
    n_days = j.state.shape[1]
    day_start = [axis.t0_ms + d * DAY_MS for d in range(n_days)]
    complete = [d for d in range(n_days) if (d + 1) * axis.slots_per_day <= axis.n_slots]
    rate = comp.rate
    for d in complete:
        for s, sid in enumerate(ix.substations):
            # docs/rules.md: a substation day below 97 % is an incident; nothing measured never is
            if np.isfinite(rate[s, d]) and rate[s, d] < rr.target_rate:
                found.incidents.append(incident(
                    "compliance_breach", sid, day_start[d], day_start[d] + DAY_MS, "",
                    substation_id=sid,
                    details=ComplianceDetails(
                        day=ctx.date(day_start[d]), rate=rounded(rate[s, d], 4),
                        passing=int(comp.passing[s, d]), measured=int(comp.measured[s, d]))))
    if ctx.write_back:
        found.derived.append(derived.compliance_points(ix.substations, day_start, comp, complete))
    return found
