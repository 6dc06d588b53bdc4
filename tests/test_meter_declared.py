"""Issue 25, item 4: a meter's register resolution is data — the records' columns, else its
model's profile (`scale` of an integer register), else the rules' default — and reaches the
meter kernel; a reading off its declared resolution is a warning once per device."""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import shutil
from pathlib import Path

import numpy as np
import pytest

from analyzer.config import AnalyzerConfig
from analyzer.detectors.base import Context
from analyzer.detectors.meters import _warn_misaligned
from analyzer.index import DistrictIndex
from collector.profiles import load_profile, load_profiles
from collector.resolution import profile_resolution, with_profile_resolutions
from district.records import RecordsError, load_records
from simulators.scenario import SAMPLE_RECORDS_DIR

TZ = dt.timezone(dt.timedelta(hours=8))
WHOLE = "M-B01-0103"


def _records(tmp: Path, extra: dict[str, str], header: str = ",energy_resolution_kwh") -> Path:
    folder = tmp / "records"
    shutil.copytree(SAMPLE_RECORDS_DIR, folder)
    devices = folder / "devices.csv"
    lines = devices.read_text(encoding="utf-8").splitlines()
    lines[0] += header
    lines[1:] = [ln + "," + extra.get(ln.split(",")[0], "") for ln in lines[1:]]
    devices.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return folder


def test_the_profile_scale_is_the_register_resolution() -> None:
    generic = load_profile("generic-heat-meter")
    assert profile_resolution(generic, "energy_kwh") == 0.01
    assert profile_resolution(generic, "volume_m3") == 0.001
    # a float register states none
    assert profile_resolution(generic, "flow_m3h") is None


def test_records_column_wins_over_the_profile_and_reaches_the_index(tmp_path: Path) -> None:
    rec = load_records(_records(tmp_path, {WHOLE: "1"}))
    assert rec.devices[WHOLE].energy_resolution_kwh == 1.0
    rec = with_profile_resolutions(rec, load_profiles())
    assert rec.devices[WHOLE].energy_resolution_kwh == 1.0
    other = rec.devices["M-B01-0105"]
    assert (other.energy_resolution_kwh, other.volume_resolution_m3) == (0.01, 0.001)
    ix = DistrictIndex.from_records(rec)
    i = ix.meters.index(WHOLE)
    assert ix.meter_energy_res[i] == 1.0 and ix.meter_volume_res[i] == 0.001


def test_an_mqtt_meter_takes_its_models_profile(tmp_path: Path) -> None:
    rec = load_records(SAMPLE_RECORDS_DIR)
    d = dataclasses.replace(rec.devices[WHOLE], protocol="mqtt", host="", port=None, unit=None,
                            profile="compact-heat-meter")
    rec.devices[WHOLE] = d
    want = profile_resolution(load_profile("compact-heat-meter"), "energy_kwh")
    assert want == 0.1
    got = with_profile_resolutions(rec, load_profiles()).devices[WHOLE]
    assert got.energy_resolution_kwh == want
    # no profile named, no column: the rules' default (NaN in the index)
    rec.devices[WHOLE] = dataclasses.replace(d, profile="")
    ix = DistrictIndex.from_records(with_profile_resolutions(rec, load_profiles()))
    assert np.isnan(ix.meter_energy_res[ix.meters.index(WHOLE)])


@pytest.mark.parametrize("value", ["0", "-1", "x", "nan"])
def test_a_bad_resolution_is_refused_with_its_line(tmp_path: Path, value: str) -> None:
    with pytest.raises(RecordsError) as e:
        load_records(_records(tmp_path, {WHOLE: value}))
    assert "energy_resolution_kwh" in str(e.value) and "devices.csv:" in str(e.value)


def test_a_misaligned_reading_is_a_warning_once_per_device(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    rec = load_records(_records(tmp_path, {WHOLE: "1"}))
    ix = DistrictIndex.from_records(rec)
    ctx = Context(ix, rec, AnalyzerConfig().rules(), TZ)
    n = len(ix.meters)
    energy = np.tile(np.arange(1000.0, 1006.0), (n, 1))
    volume = np.tile(np.arange(6) * 0.1 + 50.0, (n, 1))
    energy[ix.meters.index(WHOLE), 3] = 1003.4  # not a whole kWh
    with caplog.at_level(logging.WARNING, logger="heatwatch.analyzer.meters"):
        _warn_misaligned(ctx, energy, volume)
        _warn_misaligned(ctx, energy, volume)
    warned = [r for r in caplog.records if r.name == "heatwatch.analyzer.meters"]
    assert len(warned) == 1 and WHOLE in warned[0].getMessage()
    assert "energy_kwh" in warned[0].getMessage()
