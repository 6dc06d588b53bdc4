"""Meter kernel: each fault sign, its edges, the human/non-human class, and verification."""

from __future__ import annotations

from decimal import Decimal

import numpy as np
import pytest

from analyzer.grid import HOUR_MS, TimeAxis
from analyzer.kernels.meter_signs import (
    MeterGrid,
    class2_limit_pct,
    detect_meter_faults,
    fault_masks,
    settle_verification,
    suspect_rows,
    verification_limit_pct,
)
from policy.rules import Cause, MeterRules

T = 48
AXIS = TimeAxis(0, HOUR_MS, T)


def _healthy(n: int = 1) -> dict[str, np.ndarray]:
    """Meters at 0.5 m³/h, 55/45 °C: 5.8 kWh per hour, exactly ΔV·Δθ·1.16."""
    flow = np.full((n, T), 0.5)
    volume = 1000.0 + np.cumsum(flow, axis=1)
    energy = 50_000.0 + np.cumsum(flow * 10.0 * 1.16, axis=1)
    return {
        "energy_kwh": energy, "volume_m3": volume, "flow_m3h": flow,
        "supply_c": np.full((n, T), 55.0), "return_c": np.full((n, T), 45.0),
        "status": np.zeros((n, T), np.uint16),
    }


def _faults(f: dict[str, np.ndarray], **kw):
    return detect_meter_faults(MeterGrid(**f, **kw), AXIS)


def _causes(f: dict[str, np.ndarray]) -> set[Cause]:
    return {Cause(int(c)) for c in _faults(f).cause}


def test_healthy_meter_has_no_faults_and_is_not_even_suspect() -> None:
    assert len(_faults(_healthy(3))) == 0
    assert suspect_rows(MeterGrid(**_healthy(3))).tolist() == []
    f = _healthy(3)
    f["energy_kwh"][1, 30:] += 0.232  # a 4 % step: suspect, yet within the 4.26 % limit
    assert suspect_rows(MeterGrid(**f)).tolist() == [1]
    assert len(_faults(f)) == 0


@pytest.mark.parametrize("bit", range(9))
def test_each_status_bit_is_its_own_cause(bit: int) -> None:
    f = _healthy()
    f["status"][0, 10:13] = 1 << bit
    faults = _faults(f)
    assert [(Cause(int(c)), int(s), int(e)) for c, s, e in
            zip(faults.cause, faults.start, faults.end, strict=True)] == [(Cause(bit), 10, 13)]
    assert bool(faults.human[0]) is (bit in (7, 8))


def test_human_and_nonhuman_slots_are_split() -> None:
    f = _healthy()
    f["status"][0, 5] = (1 << 7) | (1 << 1)
    faults = _faults(f)
    assert faults.human_slots[0, 5] and faults.nonhuman_slots[0, 5]
    nonhuman, human = faults.day_flags(24)
    assert human[0].tolist() == [True, False] and nonhuman[0].tolist() == [True, False]


@pytest.mark.parametrize(
    ("field", "value", "cause"),
    [
        ("supply_c", 0.0, Cause.SENSOR_SHORT),
        ("return_c", 185.0, Cause.SENSOR_OPEN),
        ("supply_c", 151.0, Cause.TEMP_OUT_OF_RANGE),
        ("return_c", 1.9, Cause.TEMP_OUT_OF_RANGE),
    ],
)
def test_temperature_signs(field: str, value: float, cause: Cause) -> None:
    f = _healthy()
    f[field][0, 20] = value
    f["energy_kwh"][0, 20:] += 0  # energy unchanged: a temperature sign alone
    assert cause in _causes(f)


def test_temperature_edges_are_not_faults() -> None:
    f = _healthy()
    f["return_c"][0, :] = 2.0
    f["supply_c"][0, :] = 150.0
    masks = fault_masks(MeterGrid(**f), AXIS)
    assert not masks[Cause.TEMP_OUT_OF_RANGE].any()
    assert not masks[Cause.SENSOR_SHORT].any() and not masks[Cause.SENSOR_OPEN].any()


def test_decreasing_totals_across_a_gap() -> None:
    f = _healthy()
    f["energy_kwh"][0, 30] = np.nan
    f["energy_kwh"][0, 31:] -= 100.0
    f["volume_m3"][0, 40:] -= 5.0
    masks = fault_masks(MeterGrid(**f), AXIS)
    assert np.nonzero(masks[Cause.ENERGY_DECREASED][0])[0].tolist() == [31]
    assert np.nonzero(masks[Cause.VOLUME_DECREASED][0])[0].tolist() == [40]


def test_frozen_total_three_intervals_is_a_fault_two_is_not() -> None:
    f = _healthy(2)
    f["energy_kwh"][0, 11:14] = f["energy_kwh"][0, 10]  # 3 intervals unchanged
    f["energy_kwh"][0, 14:] -= f["energy_kwh"][0, 14] - f["energy_kwh"][0, 10] - 5.8
    f["energy_kwh"][1, 11:13] = f["energy_kwh"][1, 10]  # 2 intervals only
    f["energy_kwh"][1, 13:] -= f["energy_kwh"][1, 13] - f["energy_kwh"][1, 10] - 5.8
    masks = fault_masks(MeterGrid(**f), AXIS)
    assert np.nonzero(masks[Cause.TOTAL_FROZEN][0])[0].tolist() == [11, 12, 13]
    assert not masks[Cause.TOTAL_FROZEN][1].any()


def test_frozen_energy_without_delta_t_is_not_a_fault() -> None:
    f = _healthy()
    f["return_c"][0, 10:20] = 55.0
    f["energy_kwh"][0, 10:20] = f["energy_kwh"][0, 9]
    f["energy_kwh"][0, 20:] -= f["energy_kwh"][0, 20] - f["energy_kwh"][0, 9] - 5.8
    assert not fault_masks(MeterGrid(**f), AXIS)[Cause.TOTAL_FROZEN].any()


def test_swapped_sensors_more_than_6_hours() -> None:
    f = _healthy(2)
    f["supply_c"][0, 10:17], f["return_c"][0, 10:17] = 45.0, 55.0  # 7 h
    f["supply_c"][1, 10:16], f["return_c"][1, 10:16] = 45.0, 55.0  # exactly 6 h
    masks = fault_masks(MeterGrid(**f), AXIS)
    assert np.nonzero(masks[Cause.SENSORS_SWAPPED][0])[0].tolist() == list(range(10, 17))
    assert not masks[Cause.SENSORS_SWAPPED][1].any()


def test_energy_mismatch_beyond_class_limit() -> None:
    f = _healthy(2)
    # ΔT 10 K, q/qp = 1/3: limit = 2.06 + 1.4 + 0.8 = 4.26 %; +10 % fails, +3 % passes
    f["energy_kwh"][0, 20:] += 0.58
    f["energy_kwh"][1, 20:] += 0.174
    masks = fault_masks(MeterGrid(**f), AXIS)
    assert np.nonzero(masks[Cause.ENERGY_MISMATCH][0])[0].tolist() == [20]
    assert not masks[Cause.ENERGY_MISMATCH][1].any()


def test_comm_loss_two_intervals_and_comm_fault_polls() -> None:
    f = _healthy(3)
    for k in f:
        if k != "status":
            f[k][0, 5] = np.nan  # one missed poll: not comm loss
            f[k][1, 5:7] = np.nan  # two: comm loss
    comm = np.zeros((3, T), bool)
    comm[2, 40:] = True  # failed polls up to now: ongoing
    faults = _faults(f, comm_fault=comm)
    got = [(int(m), int(s), int(e)) for m, s, e, c in
           zip(faults.meter, faults.start, faults.end, faults.cause, strict=True)
           if c == Cause.COMM_LOSS]
    assert got == [(1, 5, 7), (2, 40, 48)]
    items = [i for i in faults.items(AXIS) if i.cause == Cause.COMM_LOSS]
    assert items[1].ongoing and not items[0].ongoing
    assert items[0].start_ms == 5 * HOUR_MS and items[0].end_ms == 7 * HOUR_MS


def test_intervals_never_end_before_they_start_and_are_sorted() -> None:
    f = _healthy(4)
    f["status"][1, 3:9] = 1
    f["supply_c"][2, 0] = 185.0
    f["energy_kwh"][3, 47] = 0.0
    faults = _faults(f)
    assert (faults.end > faults.start).all()
    assert faults.meter.tolist() == sorted(faults.meter.tolist())


def test_class2_limit_caps_flow_part_at_5_percent() -> None:
    lim = class2_limit_pct(np.array([1.5, 0.001]), 1.5, np.array([10.0, 10.0]))
    assert lim.tolist() == pytest.approx([2.02 + 1.4 + 0.8, 5.0 + 1.4 + 0.8])
    rules = MeterRules()
    assert rules.is_human(7) and rules.is_human(8) and not rules.is_human(1)


def test_verification_limit_varies_with_conditions() -> None:
    assert verification_limit_pct(10, 3, 10) == Decimal("4.4")
    assert verification_limit_pct(30, 3, 1) == Decimal("2.02") + Decimal("0.8") + Decimal("0.6")
    under = settle_verification(3000, -6, Decimal("4.4"))
    assert not under.passes and under.corrected_kwh == Decimal(3191)
