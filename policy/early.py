"""Early fault finding: what a day's scorecard must hold, the drift detector's thresholds and
which residual pattern names which cause.

The numbers are the city's decisions on slow faults (configured under `[analyzer.early]`);
the kernels in `analyzer/kernels/early_signs.py` and `early_drift.py` only apply them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

# the causes an early warning may name, in the order the detector breaks ties
CAUSES: Final[tuple[str, ...]] = (
    "fouling", "valve", "sensor_drift", "supply_low", "slow_leak", "poor_cooling",
)

# the station residual channels, in the column order of `StationDays.residual_z`
CHANNELS: Final[tuple[str, ...]] = ("dt", "return", "supply", "flow", "supply_gap", "makeup")

# Which way each channel's standardised residual leans under each station cause (a template
# matched by cosine, so only the direction and the ratios matter): fouling loses ΔT, the
# supply short of its curve and the return a little up; a supply shortage moves supply and
# return together; a valve stuck open raises flow and return; a drifting supply sensor reads
# above the meters' supply. Gadd & Werner (2015) name a
# low ΔT and poor control; Leiria et al. (2025) the return temperature as the reliable sign.
CAUSE_TEMPLATES: Final[dict[str, tuple[float, ...]]] = {
    #                dt     return supply flow  gap   makeup
    "fouling":      (-1.0,  0.4,  -0.6,  0.0,  0.0,  0.0),
    "valve":        (-1.0,  1.0,   0.0,  1.0,  0.0,  0.0),
    "sensor_drift": (1.0,  -1.0,   0.0,  0.0,  1.5,  0.0),
    "supply_low":   (0.0,  -1.0,  -1.0,  0.0,  0.0,  0.0),
    "slow_leak":    (0.0,   0.0,   0.0,  0.0,  0.0,  1.0),
}


@dataclass(frozen=True, slots=True)
class EarlyRules:
    """Thresholds for daily scorecards and the drift detector on their residuals."""

    # a day counts when this share of its slots holds a reading with the pump running
    min_day_coverage: float = 0.5
    # the station's own normal is fitted on this many scored days before the first judged day
    baseline_days: int = 14
    # robust fit: Huber weights beyond this many robust sigmas, this many reweighting passes
    huber_k: float = 1.5
    fit_passes: int = 5
    # each row's residual sigma is pooled with the fleet's as if from this many more days
    sigma_prior_days: float = 14.0
    # residual sigma floors (units of the channel) so a very steady station is not too touchy
    sigma_floor: tuple[float, ...] = (0.15, 0.15, 0.15, 0.015, 0.15, 0.0005)
    # one-sided CUSUM on standardised residuals: allowance k and decision level h (in sigmas);
    # day-to-day residuals persist (sun, wind, habits), so k sits well above half a sigma
    cusum_k: float = 1.5
    cusum_h: float = 8.0
    # the statistic is capped so that a fault repaired closes within days, not weeks
    cusum_cap: float = 15.0
    # a warning closes after this many days with every residual of its cause back within k
    close_days: int = 2
    # the heat-load signature: power is linear in outdoor temperature below this balance point
    balance_point_c: float = 15.0
    # a building meter stands out when its return is this many robust sigmas above its
    # neighbours' on the same day
    meter_outlier_z: float = 3.5
    # the daily job judges yesterday once this local hour has come
    run_hour: int = 5
    # a warning opens only when the residuals match a cause this well (cosine with its
    # template): the return wobbling alone, with nothing to corroborate it, is not a fault
    min_match: float = 0.85


DEFAULT_EARLY: Final = EarlyRules()
