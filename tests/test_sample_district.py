"""The bundled sample district: it loads, has the stated shape, and regenerates byte for byte."""

from __future__ import annotations

import importlib.util
import re
from collections import Counter, defaultdict
from pathlib import Path

import pytest

from collector.profiles import load_profile
from district.records import Records, load_records

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "district" / "sample"


def _generator():
    spec = importlib.util.spec_from_file_location("make_sample_district",
                                                  ROOT / "scripts" / "make_sample_district.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def rec() -> Records:
    return load_records(SAMPLE)


def test_substations_buildings_households(rec):
    assert {s: x.design_outdoor_c for s, x in rec.substations.items()} == {"S1": -7.0, "S2": -9.0}
    assert len(rec.buildings) == 12
    assert Counter(b.substation_id for b in rec.buildings.values()) == {"S1": 6, "S2": 6}
    assert len(rec.accounts) == 600


def test_accounts_mix_tariffs_areas_and_fake_phones(rec):
    tariffs = Counter(a.tariff for a in rec.accounts.values())
    assert tariffs["metered"] > 150 and tariffs["area"] > 150
    assert all(50 <= a.area_m2 <= 140 for a in rec.accounts.values())
    phones = [a.phone for a in rec.accounts.values()]
    assert any(p == "" for p in phones)
    assert all(re.fullmatch(r"1380000\d{4}", p) for p in phones if p)


def test_room_sensors_in_a_share_of_households(rec):
    rooms = rec.devices_of("room")
    households = {d.account_id for d in rooms}
    assert 0.15 <= len(households) / len(rec.accounts) <= 0.22
    assert {d.room_type for d in rooms} == {"bedroom", "living"}
    assert all(d.protocol == "mqtt" for d in rooms)


def test_every_metered_household_has_one_modbus_meter(rec):
    meters = rec.devices_of("meter")
    by_account = Counter(d.account_id for d in meters)
    metered = {a.account_id for a in rec.accounts.values() if a.tariff == "metered"}
    assert set(by_account) == metered
    assert set(by_account.values()) == {1}
    for d in meters:
        assert (d.protocol, d.host, d.profile) == ("modbus", "127.0.0.1", "generic-heat-meter")
    load_profile("generic-heat-meter")  # the profile the records name exists


def test_gateways_number_units_from_one(rec):
    units: dict[tuple[str, int | None], list[int]] = defaultdict(list)
    buildings: dict[tuple[str, int | None], set[str]] = defaultdict(set)
    for d in rec.devices_of("meter"):
        assert d.unit is not None
        units[(d.host, d.port)].append(d.unit)
        buildings[(d.host, d.port)].add(d.building_id)
    assert len(units) >= 12
    for gw, us in units.items():
        assert sorted(us) == list(range(1, len(us) + 1)), gw
        assert len(us) <= 240  # docs/rules.md: up to ~240 meters on one bus
        assert len(buildings[gw]) == 1  # a gateway sits in one building
    per_building = Counter(next(iter(b)) for b in buildings.values())
    assert max(per_building.values()) == 2  # some buildings split their bus in two


def test_one_sensor_per_substation_and_a_weather_station(rec):
    assert sorted(d.substation_id for d in rec.devices_of("substation")) == ["S1", "S2"]
    assert len(rec.devices_of("weather")) == 1
    assert all(d.protocol == "mqtt" for d in rec.devices_of("substation"))


def test_generator_rewrites_the_committed_files_exactly(tmp_path):
    gen = _generator()
    gen.write_sample(tmp_path)
    for name in ("substations.csv", "buildings.csv", "accounts.csv", "devices.csv"):
        assert (tmp_path / name).read_bytes() == (SAMPLE / name).read_bytes(), name


def test_another_seed_gives_another_district(tmp_path):
    gen = _generator()
    gen.write_sample(tmp_path, seed=1)
    assert (tmp_path / "accounts.csv").read_bytes() != (SAMPLE / "accounts.csv").read_bytes()
    load_records(tmp_path)
