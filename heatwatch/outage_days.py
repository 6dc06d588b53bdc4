"""A season's compensated outages, per account: the compensation records recomputed by the
city's rules, and the days they touch. `heatwatch refunds` lists them; a measurement's refund
period does not pay those days again (issue 22)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from analyzer.grid import DAY_MS, HOUR_MS
from district.records import Records
from policy.outages import account_compensation_cny, compensated_days
from policy.rules import CityRules
from policy.season import SeasonDays


def outage_refunds(rows: Sequence[dict[str, Any]], records: Records, rules: CityRules,
                   season: SeasonDays, tz: dt.tzinfo) -> dict[str, list[dict[str, Any]]]:
    """Per account, its compensated outages in the season with days and amount."""
    comp = rules.compensation
    out: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        if not season.start_ms <= int(r["started_ms"]) < season.end_ms:
            continue
        acc = records.accounts.get(str(r["account_id"]))
        if acc is None:
            continue  # an account since removed from the records: not ours to pay
        duration_h = float(r["duration_h"])
        amount = account_compensation_cny(acc.tariff, acc.area_m2, duration_h, season.n_days,
                                          rules)
        started = dt.datetime.fromtimestamp(int(r["started_ms"]) / 1000, tz)
        out.setdefault(acc.account_id, []).append({
            "incident_key": r["incident_key"],
            "started": started.isoformat(timespec="minutes"),
            "duration_h": round(duration_h, 2),
            "days": compensated_days(duration_h, comp),
            "amount_cny": str(amount),
            "recorded_cny": str(r["amount_cny"]),
            "closed": bool(r["final"]),
        })
    return out


def outage_day_mask(outages: Sequence[dict[str, Any]], season: SeasonDays) -> npt.NDArray[np.bool_]:
    """The season days an account's compensated outages touch (not refunded twice)."""
    mask = np.zeros(season.n_days, dtype=bool)
    for o in outages:
        s = int(dt.datetime.fromisoformat(o["started"]).timestamp() * 1000)
        e = s + int(o["duration_h"] * HOUR_MS)
        d0 = max((s - season.start_ms) // DAY_MS, 0)
        d1 = min((max(e - 1, s) - season.start_ms) // DAY_MS, season.n_days - 1)
        if d1 >= d0:
            mask[d0:d1 + 1] = True
    return mask
