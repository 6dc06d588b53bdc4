"""`heatwatch billing`: one account's season bill both ways (area vs degree-day estimate) from
the store's daily meter totals and the meter's fault incidents, each day's basis and why."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable

from heatwatch.common import CommandError
from heatwatch.config import Config
from heatwatch.season_bill import BILL_KEYS, season_bill


def billing_command(cfg: Config, account_id: str, season: int, json_: bool,
                    say: Callable[[str], None] = print) -> int:
    """The season bill both ways, the difference, and each day's basis and reason."""
    doc = season_bill(cfg, account_id, season)
    bills = (doc["area_policy"], doc["estimated_policy"])
    if not doc["days_with_readings"] and not any(
            b["area_days"] or b["estimated_days"] or b["inspection_days"] for b in bills):
        # 121 metered days at 0 kWh would be a full bill for nothing measured
        last = dt.date.fromisoformat(doc["season_start"]) + dt.timedelta(
            days=doc["season_days"] - 1)
        raise CommandError(f"no readings for account {account_id!r} (meter {doc['meter_id']}) "
                           f"in season {season} ({doc['season_start']} to {last.isoformat()}), "
                           "and no meter fault that would bill it by area: nothing to bill")
    if json_:
        say(json.dumps(doc, ensure_ascii=False, indent=2))
        return 0
    a, e = doc["area_policy"], doc["estimated_policy"]
    say(f"account {doc['account_id']} (meter {doc['meter_id']}, {doc['area_m2']:g} m², "
        f"tariff {doc['tariff']}), season {doc['season_start']} + {doc['season_days']} days")
    say(f"  readings on {doc['days_with_readings']} days")
    say(f"  {'':<24}{'area policy':>14}{'estimated':>14}")
    for k in BILL_KEYS:
        say(f"  {k:<24}{a[k]!s:>14}{e[k]!s:>14}")
    say(f"  difference (estimated − area): {doc['difference_cny']} 元")
    say("  days with readings or a fault:")
    for d in doc["days"]:
        if d["has_reading"] or d["basis"] != "metered":
            kwh = "" if d["kwh"] is None else f"{d['kwh']:.2f} kWh"
            say(f"    {d['date']}  {d['basis']:<10} {kwh:>12}  {d['reason']}")
    return 0
