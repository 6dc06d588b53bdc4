"""The verification (校表) of a disputed heat meter: the EN 1434 class-2 limit, whether the
meter passes, who pays, and the energy to bill (docs/rules.md worked example 7)."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

import numpy as np
import numpy.typing as npt

from policy.meters import class_limit_parts, permitted_error_pct
from policy.money import to_decimal

FloatGrid = npt.NDArray[np.floating]


def class2_limit_pct(
    q_m3h: npt.ArrayLike,
    qp_m3h: npt.ArrayLike,
    dtheta_k: npt.ArrayLike,
    dtheta_min_k: float = 3.0,
    flow_cap_pct: float = 5.0,
) -> FloatGrid:
    """EN 1434 class-2 maximum permissible error of the whole meter, in percent (the meter
    checks' one limit, policy/meters.py)."""
    # docs/rules.md: flow ±(2 + 0.02·qp/q) % (≤ 5 %) + temperature pair ±(0.5 + 3·Δθmin/Δθ) %
    # + calculator ±(0.5 + Δθmin/Δθ) %
    return permitted_error_pct(q_m3h, dtheta_k, qp_m3h, dtheta_min_k, 2, flow_cap_pct)


def verification_limit_pct(
    dtheta_k: float | Decimal,
    dtheta_min_k: float | Decimal = Decimal(3),
    qp_over_q: float | Decimal = Decimal(1),
    flow_cap_pct: float | Decimal = Decimal(5),
) -> Decimal:
    """The class-2 limit for a verification (校表), exact in decimal: 4.4 % in example 7."""
    return sum(verification_limit_parts(dtheta_k, dtheta_min_k, qp_over_q, flow_cap_pct),
               Decimal(0))


def verification_limit_parts(
    dtheta_k: float | Decimal,
    dtheta_min_k: float | Decimal = Decimal(3),
    qp_over_q: float | Decimal = Decimal(1),
    flow_cap_pct: float | Decimal = Decimal(5),
) -> tuple[Decimal, Decimal, Decimal]:
    """The class-2 limit's three parts: flow, temperature pair, calculator (2.2, 1.4, 0.8)."""
    ratio = to_decimal(dtheta_min_k) / to_decimal(dtheta_k)
    # docs/rules.md: EN 1434 class 2, flow ±(2 + 0.02·qp/q) % capped at 5 % (policy/meters.py)
    flow, pair, calc = class_limit_parts(to_decimal(qp_over_q), ratio, 2,
                                         to_decimal(flow_cap_pct))
    return Decimal(flow), Decimal(pair), Decimal(calc)


@dataclass(frozen=True, slots=True)
class Verification:
    """A disputed meter's verification: whether it passes, who pays, and the energy to bill."""

    limit_pct: Decimal
    error_pct: Decimal
    passes: bool
    payer: str
    billed_kwh: Decimal
    corrected_kwh: Decimal


def settle_verification(
    billed_kwh: float | Decimal, error_pct: float | Decimal, limit_pct: Decimal
) -> Verification:
    """Pass: resident pays the told fee, bill stands. Fail: company pays, energy ÷ (1 + error)."""
    err = to_decimal(error_pct)
    billed = to_decimal(billed_kwh)
    # docs/rules.md: verification fails when the error exceeds the class limit either way
    passes = abs(err) <= limit_pct
    if passes:
        return Verification(limit_pct, err, True, "resident", billed, billed)
    corrected = (billed / (1 + err / 100)).quantize(Decimal(1), rounding=ROUND_HALF_UP)
    return Verification(limit_pct, err, False, "company", billed, corrected)
