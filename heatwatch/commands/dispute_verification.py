"""The verification (校表) of a disputed meter: the EN 1434 class-2 limit, pass or fail, who
pays, and the energy to bill (docs/rules.md worked example 7)."""

from __future__ import annotations

import math
from decimal import Decimal
from typing import Any

from heatwatch.common import CommandError
from policy.money import fen
from policy.verification import (
    settle_verification,
    verification_limit_parts,
    verification_limit_pct,
)

# (error_pct, dtheta_k, dtheta_min_k, qp_over_q) of a verification (校表)
VerificationArgs = tuple[float, float, float, float]

RULE_TEXT = (
    "校表规则 (verification rule): 校表前告知费用，由用户先行垫付。表计误差在 EN 1434 "
    "2 级限值内为合格：用户承担校表费，原账单不变 (passes: the resident pays the fee told "
    "beforehand and the bill stands)。超出限值为不合格：供热企业承担校表费，按误差重新核算热量 "
    "kWh ÷ (1 + 误差) 并重算账单 (fails: the company pays and the bill is recomputed)。"
    "2 级限值 = 流量 (2 + 0.02·qp/q) % (≤ 5 %) + 温度对 (0.5 + 3·Δθmin/Δθ) % + "
    "计算器 (0.5 + Δθmin/Δθ) %。"
)


def verification_doc(billed_kwh: Decimal, energy_cny_kwh: Decimal, error_pct: float | Decimal,
                     dtheta_k: float | Decimal, dtheta_min_k: float | Decimal,
                     qp_over_q: float | Decimal) -> dict[str, Any]:
    """The class-2 limit, pass or fail, who pays, and the energy to bill (worked example 7)."""
    def dec(x: float | Decimal) -> Decimal:
        return x if isinstance(x, Decimal) else Decimal(repr(float(x)))

    check_verification_args(error_pct, dtheta_k, dtheta_min_k, qp_over_q)
    if dec(dtheta_k) <= 0 or dec(dtheta_min_k) < 0 or dec(qp_over_q) <= 0:
        raise CommandError("verification needs --dtheta-k > 0, --dtheta-min-k >= 0 and "
                           "--qp-over-q > 0")
    if dec(error_pct) <= -100:
        raise CommandError("--error-pct must be above -100")
    limit = verification_limit_pct(dec(dtheta_k), dec(dtheta_min_k), dec(qp_over_q))
    v = settle_verification(billed_kwh, dec(error_pct), limit)
    parts = verification_limit_parts(dec(dtheta_k), dec(dtheta_min_k), dec(qp_over_q))
    return {
        "limit_parts_pct": {k: _plain(x.quantize(Decimal("0.01"))) for k, x in
                            zip(("flow", "temperature_pair", "calculator"), parts,
                                strict=True)},
        "error_pct": _plain(v.error_pct), "limit_pct": _plain(limit.quantize(Decimal("0.01"))),
        "dtheta_k": _plain(dec(dtheta_k)), "dtheta_min_k": _plain(dec(dtheta_min_k)),
        "qp_over_q": _plain(dec(qp_over_q)), "passes": v.passes, "payer": v.payer,
        "billed_kwh": _plain(v.billed_kwh), "corrected_kwh": _plain(v.corrected_kwh),
        "bill_stands": v.passes,
        "billed_energy_cny": str(fen(energy_cny_kwh * v.billed_kwh)),
        "corrected_energy_cny": str(fen(energy_cny_kwh * v.corrected_kwh)),
    }


def check_verification_args(error_pct: float | Decimal, dtheta_k: float | Decimal,
                            dtheta_min_k: float | Decimal, qp_over_q: float | Decimal) -> None:
    """Finite numbers, and a measured error within ±100 % (−100 % would divide by zero)."""
    for name, x in (("--error-pct", error_pct), ("--dtheta-k", dtheta_k),
                    ("--dtheta-min-k", dtheta_min_k), ("--qp-over-q", qp_over_q)):
        if not math.isfinite(float(x)):
            raise CommandError(f"{name} must be a finite number, got {x}")
    if not -100 < float(error_pct) <= 100:
        raise CommandError("--error-pct (the meter's measured error, in percent) must be "
                           f"above -100 and at most 100, got {error_pct}")


def _plain(x: Decimal) -> str:
    """A Decimal without trailing zeros or an exponent (4.40 -> 4.4, 3000 -> 3000)."""
    return format(x.normalize(), "f")
