"""The drift detector: one-sided CUSUMs on the scorecards' standardised residuals, a warning
when one crosses its decision level, its cause the template the recent residuals match best.

Why CUSUM: a slow fault is a small shift that persists and grows (0.2 K a day against a day's
noise of a few tenths). Page's CUSUM is the optimal detector of a persistent shift of known
size (Lorden 1971, Moustakides 1986): it adds each day's excess over an allowance `k` and
forgets nothing until the residual turns back, so three days of 1 σ say more than one day of
3 σ, which is the slow fault's shape and not a cold snap's (the normal follows the outdoor
temperature, so a snap leaves residuals near zero). An EWMA chart is nearly as good but needs
its smoothing and its limit tuned together; the CUSUM's `k` is half the shift worth finding
and its `h` sets the false-alarm rate directly (average run length). A missing day (a dark
station, too few readings) neither adds nor forgets: a comm gap cannot raise a warning.

The statistic is capped so that once the fault is fixed the warning closes within days: it
closes after `close_days` days with every residual of its cause back within the allowance.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from policy.early import DEFAULT_EARLY, EarlyRules

Floats = npt.NDArray[np.float64]
Ints = npt.NDArray[np.intp]


@dataclass(frozen=True, slots=True)
class Warnings:
    """Early warnings as parallel arrays: row, cause index, the day opened and closed (-1 while
    open), and the evidence: the smoothed residuals (σ) and CUSUMs at opening."""

    row: Ints
    cause: Ints
    opened: Ints
    closed: Ints
    evidence_z: Floats  # warnings × channels
    evidence_cusum: Floats  # warnings × channels (the larger of the two sides)
    match: Floats  # cosine of the evidence with the cause's template

    def __len__(self) -> int:
        return int(self.row.shape[0])


@dataclass(slots=True)
class _Open:
    """What is open per row while the days run."""

    cause: Ints
    index: Ints  # into the warnings list
    normal_run: Ints


def drift_warnings(z: Floats, templates: Floats, rules: EarlyRules = DEFAULT_EARLY) -> Warnings:
    """Run the detector over rows × days × channels of standardised residuals; `templates` is
    causes × channels (see `policy.early.CAUSE_TEMPLATES`)."""
    n, days, c = z.shape
    up_rel, dn_rel = (templates > 0).any(axis=0), (templates < 0).any(axis=0)
    t_unit = templates / np.linalg.norm(templates, axis=1, keepdims=True)
    s_up, s_dn, ew = np.zeros((n, c)), np.zeros((n, c)), np.zeros((n, c))
    st = _Open(np.full(n, -1, dtype=np.intp), np.full(n, -1, dtype=np.intp),
               np.zeros(n, dtype=np.intp))
    found: list[tuple[int, int, int, Floats, Floats, float]] = []
    closed: dict[int, int] = {}
    for d in range(days):
        zd = z[:, d, :]
        known = ~np.isnan(zd)
        zk = np.where(known, zd, 0.0)
        s_up = np.where(known, np.clip(s_up + zk - rules.cusum_k, 0.0, rules.cusum_cap), s_up)
        s_dn = np.where(known, np.clip(s_dn - zk - rules.cusum_k, 0.0, rules.cusum_cap), s_dn)
        ew = np.where(known, 0.5 * ew + 0.5 * zk, ew)
        _close(st, zd, templates, rules, d, closed, (s_up, s_dn))
        fired = (((s_up > rules.cusum_h) & up_rel) | ((s_dn > rules.cusum_h) & dn_rel)).any(axis=1)
        new = np.nonzero(fired & (st.cause < 0))[0]
        if new.size:
            norm = np.linalg.norm(ew[new], axis=1, keepdims=True)
            cos = (ew[new] / np.maximum(norm, 1e-9)) @ t_unit.T
            best = cos.argmax(axis=1)
            for r, k, m in zip(new, best, cos[np.arange(new.size), best], strict=True):
                if m < rules.min_match:
                    continue
                st.cause[r], st.index[r], st.normal_run[r] = k, len(found), 0
                found.append((int(r), int(k), d, ew[r].copy(),
                              np.maximum(s_up[r], s_dn[r]), float(m)))
    return _warnings(found, closed, c)


def _close(st: _Open, zd: Floats, templates: Floats, rules: EarlyRules, day: int,
           closed: dict[int, int], stats: tuple[Floats, Floats]) -> None:
    """Count each open warning's normal days; close it (and forget its CUSUMs) after enough."""
    rows = np.nonzero(st.cause >= 0)[0]
    if not rows.size:
        return
    sign = np.sign(templates[st.cause[rows]])
    leaning = sign * zd[rows]
    known = ~np.isnan(leaning) & (sign != 0)
    abnormal = (known & (leaning > rules.cusum_k)).any(axis=1)
    seen = known.any(axis=1)
    st.normal_run[rows] = np.where(abnormal, 0, st.normal_run[rows] + seen)
    done = rows[st.normal_run[rows] >= rules.close_days]
    for r in done:
        closed[int(st.index[r])] = day
        relevant = templates[st.cause[r]] != 0
        for s in stats:
            s[r, relevant] = 0.0
        st.cause[r], st.index[r], st.normal_run[r] = -1, -1, 0


def _warnings(found: list[tuple[int, int, int, Floats, Floats, float]], closed: dict[int, int],
              channels: int) -> Warnings:
    ints = np.intp
    return Warnings(
        row=np.array([f[0] for f in found], dtype=ints),
        cause=np.array([f[1] for f in found], dtype=ints),
        opened=np.array([f[2] for f in found], dtype=ints),
        closed=np.array([closed.get(i, -1) for i in range(len(found))], dtype=ints),
        evidence_z=np.array([f[3] for f in found]).reshape(len(found), channels),
        evidence_cusum=np.array([f[4] for f in found]).reshape(len(found), channels),
        match=np.array([f[5] for f in found], dtype=np.float64),
    )
