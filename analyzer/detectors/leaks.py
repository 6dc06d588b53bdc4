"""Leak incidents at substations: make-up water above its share or a sagging holding point,
the two signs of one leak merged into one incident; and the leak_state series."""

from __future__ import annotations

import numpy as np

from analyzer import derived
from analyzer.detectors.base import (
    Context,
    Found,
    incident,
    merge_spans,
    nan_max,
    rounded,
)
from analyzer.kernels.leak_signs import LeakSign, held_leaks, holding_reference, makeup_share
from analyzer.window import Window
from workflow.details import LeakDetails


def detect_leak_incidents(ctx: Context, w: Window) -> Found:
    """One incident per merged leak interval of each substation."""
    found = Found()
    subs = w.substations
    if subs is None:
        return found
    ix, axis, rules = ctx.index, w.steps, ctx.rules.leaks
    # a station with no fresh reading in the window is unknown: its leak stays as it was
    seen = w.sub_known.any(axis=1) if w.sub_known is not None else np.ones(len(ix.substations),
                                                                              dtype=bool)
    found.examined("leak", {ix.substations[r] for r in np.flatnonzero(seen)})
    hold = subs["return_mpa"]
    leaks = held_leaks(subs["flow_m3h"], subs["makeup_m3h"], hold, axis, rules,
                       ctx.rules.signals)
    gap = int(ctx.rules.signals.merge_gap_min * 60_000 // axis.step_ms)
    share = makeup_share(subs["flow_m3h"], subs["makeup_m3h"], axis, rules)
    by_sub: dict[int, list[tuple[int, int, int]]] = {}
    for r, s, e, sign in zip(leaks.substation, leaks.start, leaks.end, leaks.sign,
                             strict=True):
        by_sub.setdefault(int(r), []).append((int(s), int(e), int(sign)))
    leaking = np.zeros(hold.shape, dtype=bool)
    for r, spans in sorted(by_sub.items()):
        for s, e in merge_spans([(a, b) for a, b, _ in spans], gap):
            leaking[r, s:e] = True
            signs = sorted({LeakSign(k).name.lower() for a, b, k in spans if a < e and b > s})
            seg = share[r, s:e]
            sid = ix.substations[r]
            ongoing = e == axis.n_slots
            found.incidents.append(incident(
                "leak", sid, int(axis.ts_ms(s)), None if ongoing else int(axis.ts_ms(e)), "",
                substation_id=sid, open_at_start=s == 0,
                details=LeakDetails(signs=signs, ongoing=ongoing,
                                    makeup_share_max=rounded(nan_max(seg), 4),
                                    holding_mpa_min=rounded(-nan_max(-hold[r, s:e]), 3))))
    if ctx.write_back:
        sag = holding_reference(hold)[:, None] - hold
        found.derived.append(derived.leak_state_points(ix.substations, axis, leaking, share, sag))
    return found
