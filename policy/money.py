"""Yuan amounts: float arrays inside, Decimal rounded to the fen (ROUND_HALF_UP) at the edges."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

FEN = Decimal("0.01")
# float noise sits far below this; a decimal-exact half fen survives to ROUND_HALF_UP
_GUARD = Decimal("1e-9")


def to_decimal(value: float | int | Decimal) -> Decimal:
    """An exact Decimal for a Decimal/int, and the shortest decimal round-trip of a float."""
    if isinstance(value, Decimal):
        return value
    if isinstance(value, int):
        return Decimal(value)
    return Decimal(repr(float(value))).quantize(_GUARD)


def fen(value: float | int | Decimal) -> Decimal:
    """Round an amount in yuan to the fen, half up (the usual rule on a bill)."""
    return to_decimal(value).quantize(FEN, rounding=ROUND_HALF_UP)


def daily_fee_cny(season_fee_cny: Decimal, season_days: int) -> Decimal:
    """Season fee ÷ season days, unrounded (rounding happens once, on the final amount)."""
    # docs/rules.md: daily fee = season fee ÷ season days
    return season_fee_cny / Decimal(season_days)
