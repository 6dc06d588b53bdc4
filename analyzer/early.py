"""Early fault finding end to end on arrays: daily scorecards, their residuals against each
station's and building's own normal, and the drift detector's warnings.

The normals are fitted on the first `baseline_days` scored days (the weeks before the judged
ones); the detector judges the days after. Pure numpy: the runner, the bench and the
`scorecard` command feed it what the store holds.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from analyzer.kernels.early_drift import Warnings, drift_warnings
from analyzer.kernels.early_signs import (
    BuildingScores,
    StationDays,
    StationScores,
    baseline_mask,
    building_scores,
    group_mean,
    hourly_to_days,
    nan_mean,
    station_days,
    station_scores,
)
from policy.early import CAUSE_TEMPLATES, CAUSES, DEFAULT_EARLY, EarlyRules

Floats = npt.NDArray[np.float64]
Ints = npt.NDArray[np.intp]

STATION_CAUSES = tuple(CAUSE_TEMPLATES)
BUILDING_CAUSES = ("poor_cooling",)


@dataclass(frozen=True, slots=True)
class StationGrids:
    """Station readings on a time grid (stations × slots) and the outdoor temperature."""

    outdoor_c: Floats  # slots, or stations × slots
    supply_c: Floats
    return_c: Floats
    flow_m3h: Floats
    makeup_m3h: Floats
    slots_per_day: int
    pump_on: Floats | None = None


@dataclass(frozen=True, slots=True)
class MeterDays:
    """Households' meters as daily means (meters × days) and where each sits."""

    supply_c: Floats
    return_c: Floats
    flow_m3h: Floats
    power_kw: Floats
    meter_building: Ints
    building_station: Ints

    @classmethod
    def from_hourly(cls, supply_c: Floats, return_c: Floats, flow_m3h: Floats,
                    power_kw: Floats, meter_building: Ints, building_station: Ints) -> MeterDays:
        d = [hourly_to_days(x) for x in (supply_c, return_c, flow_m3h, power_kw)]
        return cls(d[0], d[1], d[2], d[3], meter_building, building_station)


@dataclass(frozen=True, slots=True)
class EarlyResult:
    """Scorecards and warnings; warnings' rows index stations (or buildings), causes index
    `STATION_CAUSES` (or `BUILDING_CAUSES`)."""

    days: StationDays
    stations: StationScores
    station_warnings: Warnings
    buildings: BuildingScores | None
    building_warnings: Warnings | None
    first_judged_day: int

    def cause_name(self, building: bool, index: int) -> str:
        return (BUILDING_CAUSES if building else STATION_CAUSES)[index]


def templates() -> Floats:
    """The station cause templates as a causes × channels array."""
    return np.array([CAUSE_TEMPLATES[c] for c in STATION_CAUSES], dtype=np.float64)


def analyse(grids: StationGrids, meters: MeterDays | None = None, free: Floats | None = None,
            rules: EarlyRules = DEFAULT_EARLY) -> EarlyResult:
    """Scorecards and warnings for every station (and building, given meters); `free` flags
    the days off work (1.0), whose habits each normal learns apart."""
    assert set(STATION_CAUSES + BUILDING_CAUSES) <= set(CAUSES)
    days = station_days(grids.outdoor_c, grids.supply_c, grids.return_c, grids.flow_m3h,
                        grids.makeup_m3h, grids.slots_per_day, grids.pump_on, rules)
    s, n_days = days.supply_c.shape
    first = min(rules.baseline_days, n_days)
    use = baseline_mask(s, n_days, first, rules.baseline_days)
    m_supply = None
    if meters is not None:
        whole_day = nan_mean(np.broadcast_to(grids.outdoor_c, grids.supply_c.shape)[
            :, : n_days * grids.slots_per_day].reshape(s, n_days, -1), axis=2)
        m_supply = (group_mean(meters.supply_c[:, :n_days],
                               meters.building_station[meters.meter_building], s), whole_day)
    sc = station_scores(days, use, m_supply, free=free, rules=rules)
    z = sc.z.copy()
    z[:, :first] = np.nan
    warn = drift_warnings(z, templates(), rules)
    if meters is None:
        return EarlyResult(days, sc, warn, None, None, first)
    outdoor = nan_mean(days.outdoor_c, axis=0)
    nb = meters.building_station.size
    bs = building_scores(outdoor, meters.supply_c[:, :n_days], meters.return_c[:, :n_days],
                         meters.flow_m3h[:, :n_days], meters.power_kw[:, :n_days],
                         meters.meter_building, meters.building_station,
                         baseline_mask(nb, n_days, first, rules.baseline_days), free, rules)
    bz = bs.z.copy()
    bz[:, :first] = np.nan
    bw = drift_warnings(bz, np.ones((1, 1)), rules)
    return EarlyResult(days, sc, warn, bs, bw, first)
