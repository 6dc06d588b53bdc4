"""Outages in the residents' terms: when a notice is due, how many days are compensated, and
what one account is owed for one outage (the area rule, the metered rule, the multiplier).

The notice, the compensation record, `heatwatch refunds` and the morning report all call
`account_compensation_cny`; nothing else computes an outage refund.
"""

from __future__ import annotations

from decimal import Decimal

import numpy as np
import numpy.typing as npt

from policy.money import daily_fee_cny, fen, to_decimal
from policy.rules import CityRules, Compensation, OutageRules

HOUR_MS = 3_600_000
HOURS_PER_DAY = 24.0  # a calendar fact: a compensated day is a day of 24 hours
_EPS = 1e-9


def notice_due_ms(started_ms: int, rules: OutageRules) -> int:
    """seed: the instant an outage still running is explained to its residents (24 h)."""
    return started_ms + round(rules.over_h * HOUR_MS)


def is_notice_due(duration_h: float, rules: OutageRules) -> bool:
    """Whether an outage of this length has reached the notice (and the promise it makes)."""
    return duration_h >= rules.over_h - _EPS


def outage_days(duration_h: npt.ArrayLike, comp: Compensation) -> npt.NDArray[np.intp]:
    """Days to compensate for each outage: part days round up, none below `counts_from_h`."""
    d = np.asarray(duration_h, dtype=np.float64)
    # docs/rules.md: part days round up (30 h -> 2 days); Luoyang counts from 12 h
    days = np.ceil(d / HOURS_PER_DAY - _EPS) if comp.round_up_days \
        else np.floor(d / HOURS_PER_DAY + _EPS)
    counts = (d > 0) & (d >= comp.counts_from_h - _EPS)
    out: npt.NDArray[np.intp] = np.where(counts, days, 0).astype(np.intp)
    return out


def compensated_days(duration_h: float, comp: Compensation) -> int:
    """`outage_days` of one outage."""
    return int(outage_days(np.array([duration_h]), comp)[0])


def season_fee_cny(area_m2: float | Decimal, city: CityRules) -> Decimal:
    """docs/rules.md: the season fee at the area price (90 m² × 24 元/m² = 2,160 元)."""
    return to_decimal(area_m2) * city.tariff.area_cny_m2_season


def uses_metered_rule(tariff: str, comp: Compensation) -> bool:
    """Luoyang-style: a metered account gets its basic fee back, if the city says so."""
    return tariff == "metered" and comp.metered_basic_cny_m2_day is not None


def account_compensation_cny(tariff: str, area_m2: float | Decimal, duration_h: float,
                             season_days: int, city: CityRules) -> Decimal:
    """What one account is owed for one outage, to the fen (docs/rules.md worked examples 1 and 2).

    Area accounts, and metered ones where the city has no metered rule: daily fee × days ×
    multiplier, the daily fee the season fee ÷ season days. Metered accounts in a city with
    a metered basic fee: that fee per m² and day × days × multiplier."""
    comp = city.compensation
    days = compensated_days(duration_h, comp)
    if uses_metered_rule(tariff, comp):
        assert comp.metered_basic_cny_m2_day is not None
        # docs/rules.md: Luoyang metered rule, 0.054 元/(m²·day) basic fee back
        return fen(comp.metered_basic_cny_m2_day * to_decimal(area_m2) * days * comp.multiplier)
    # docs/rules.md: refund = daily fee × outage days, daily fee = season fee ÷ season days
    fee = season_fee_cny(area_m2, city)
    return fen(daily_fee_cny(fee, season_days) * days * comp.multiplier)
