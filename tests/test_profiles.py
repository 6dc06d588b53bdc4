"""Meter profiles: golden cases of every shipped profile, byte/word order, scaling, bad files."""

from __future__ import annotations

import math
import struct
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from collector.profiles import (
    PROFILES_DIR,
    DecodeError,
    EncodeError,
    Profile,
    ProfileError,
    Register,
    load_profile,
    load_profiles,
)
from district.readings import KINDS, FieldType

PROFILES = load_profiles()


def test_shipped_profiles_include_generic_and_a_second_model():
    assert "generic-heat-meter" in PROFILES
    assert len(PROFILES) >= 2
    orders = {(r.byte_order, r.word_order) for p in PROFILES.values() for r in p.registers}
    assert ("big", "little") in orders  # a CDAB model proves the word-order mechanism


@pytest.mark.parametrize("name", sorted(PROFILES))
def test_every_profile_passes_its_golden_cases(name: str):
    profile = PROFILES[name]
    assert len(profile.golden) >= 3
    assert any(c.error for c in profile.golden), "each profile shows one rejected read"
    assert profile.run_golden() == []


@pytest.mark.parametrize("name", sorted(PROFILES))
def test_golden_checker_catches_a_wrong_expectation(name: str):
    profile = PROFILES[name]
    case = next(c for c in profile.golden if not c.error)
    field_name, want = next(iter(case.fields.items()))
    wrong = type(case)(case.name, case.registers, case.base_address,
                       {**case.fields, field_name: want + 1}, "")
    broken = Profile(profile.name, profile.path, profile.function, profile.registers, (wrong,))
    assert len(broken.run_golden()) == 1


def test_generic_profile_is_the_contract_table():
    p = PROFILES["generic-heat-meter"]
    table = [(r.address, r.count, r.type, r.field, r.scale) for r in p.registers]
    assert table == [
        (0, 2, "u32", "energy_kwh", 0.01),
        (2, 2, "u32", "volume_m3", 0.001),
        (4, 2, "f32", "power_kw", 1.0),
        (6, 2, "f32", "flow_m3h", 1.0),
        (8, 2, "f32", "supply_c", 1.0),
        (10, 2, "f32", "return_c", 1.0),
        (12, 1, "u16", "status", 1.0),
        (13, 2, "u32", "hours_ok", 1.0),
        (15, 2, "u32", "hours_fault", 1.0),
    ]
    assert p.function == 4
    assert {(r.byte_order, r.word_order) for r in p.registers} == {("big", "big")}
    assert (p.first_address, p.end_address) == (0, 17)


@pytest.mark.parametrize("name", sorted(PROFILES))
def test_fields_match_the_meter_schema(name: str):
    schema = KINDS["meter"]
    p = PROFILES[name]
    assert set(schema.required) <= set(p.fields)
    case = next(c for c in p.golden if not c.error and len(c.fields) == len(p.fields))
    for field_name, value in p.decode(case.registers, case.base_address).items():
        want = int if schema.field_type(field_name) is FieldType.INT else float
        assert type(value) is want, field_name


def _reg(type_: str, byte_order: str = "big", word_order: str = "big",
         scale: float = 1.0, field: str = "power_kw") -> Register:
    from collector.profiles import TYPES
    return Register(field, 0, TYPES[type_][1], type_, scale, byte_order, word_order)


@pytest.mark.parametrize(("byte_order", "word_order", "words"), [
    ("big", "big", [0x1122, 0x3344]),        # ABCD
    ("big", "little", [0x3344, 0x1122]),     # CDAB
    ("little", "big", [0x2211, 0x4433]),     # BADC
    ("little", "little", [0x4433, 0x2211]),  # DCBA
])
def test_byte_and_word_orders(byte_order: str, word_order: str, words: list[int]):
    reg = _reg("u32", byte_order, word_order, field="hours_ok")
    assert reg.decode(words) == 0x11223344
    assert reg.encode(0x11223344) == words
    f = _reg("f32", byte_order, word_order)
    f_words = f.encode(55.3)
    assert f.decode(f_words) == 55.3
    assert struct.pack(">f", 55.3) == _reg("f32").encode(55.3)[0].to_bytes(2, "big") + \
        _reg("f32").encode(55.3)[1].to_bytes(2, "big")


@pytest.mark.parametrize(("type_", "words", "scale", "want"), [
    ("i16", [0xFFCE], 0.01, -0.5),
    ("i16", [0x8000], 0.01, -327.68),
    ("i16", [0x7FFF], 0.1, 3276.7),
    ("u16", [0xFFFF], 1, 65535.0),
    ("i32", [0x8000, 0x0000], 0.001, -2147483.648),
    ("i32", [0xFFFF, 0xFFFF], 1, -1.0),
    ("u32", [0xFFFF, 0xFFFF], 0.01, 42949672.95),
    ("u32", [0x0012, 0xD687], 0.01, 12345.67),  # no 12345.670000000002
    ("f64", [0x404B, 0xA666, 0x6666, 0x6666], 1, 55.3),
])
def test_scaling_edges(type_: str, words: list[int], scale: float, want: float):
    reg = _reg(type_, scale=scale)
    assert reg.decode(words) == want
    assert reg.encode(want) == words


@pytest.mark.parametrize("bits", [0x7FC00000, 0xFFC00000, 0x7F800000, 0xFF800000, 0x7F800001])
def test_f32_nan_and_inf_are_rejected(bits: int):
    with pytest.raises(DecodeError, match="power_kw"):
        _reg("f32").decode([bits >> 16, bits & 0xFFFF])


def test_f64_nan_is_rejected():
    with pytest.raises(DecodeError):
        _reg("f64").decode([0x7FF8, 0, 0, 0])


def test_decode_rejects_short_and_out_of_range_registers():
    p = PROFILES["generic-heat-meter"]
    good = list(p.golden[0].registers)
    with pytest.raises(DecodeError, match="hours_fault"):
        p.decode(good[:-1])
    with pytest.raises(DecodeError):
        p.decode([*good[:3], 0x10000, *good[4:]])
    with pytest.raises(DecodeError):
        p.decode([*good[:3], -1, *good[4:]])
    with pytest.raises(DecodeError, match="energy_kwh"):
        p.decode(good, base_address=1)


def test_decode_honours_base_address():
    p = PROFILES["generic-heat-meter"]
    good = list(p.golden[0].registers)
    assert p.decode([0xDEAD, 0xBEEF, *good], base_address=-2) == p.decode(good)


@pytest.mark.parametrize("name", sorted(PROFILES))
def test_encode_is_the_inverse_of_decode(name: str):
    p = PROFILES[name]
    for case in p.golden:
        if case.error or len(case.fields) != len(p.fields):
            continue
        image = p.encode(case.fields)
        assert len(image) == p.end_address - p.first_address
        assert p.decode(image, p.first_address) == pytest.approx(case.fields)


def test_encode_errors():
    p = PROFILES["generic-heat-meter"]
    fields = dict(p.golden[0].fields)
    with pytest.raises(EncodeError, match="energy_kwh"):
        p.encode({**fields, "energy_kwh": -1.0})
    with pytest.raises(EncodeError, match="hours_ok"):
        p.encode({**fields, "hours_ok": 1 << 32})
    with pytest.raises(EncodeError, match="supply_c"):
        p.encode({**fields, "supply_c": math.nan})
    with pytest.raises(EncodeError, match="return_c"):
        p.encode({**fields, "return_c": 1e39})
    missing = dict(fields)
    del missing["status"]
    with pytest.raises(EncodeError, match="status"):
        p.encode(missing)


meter_fields = st.fixed_dictionaries({
    "energy_kwh": st.integers(0, 2**32 - 1).map(lambda x: x / 100),
    "volume_m3": st.integers(0, 2**31).map(lambda x: x / 1000),
    "power_kw": st.floats(-1e4, 1e4, width=32),
    "flow_m3h": st.integers(-2**31, 2**31 - 1).map(lambda x: x / 1000),
    "supply_c": st.integers(-32768, 32767).map(lambda x: x / 100),
    "return_c": st.integers(-32768, 32767).map(lambda x: x / 100),
    "status": st.integers(0, 0xFFFF),
    "hours_ok": st.integers(0, 2**32 - 1),
    "hours_fault": st.integers(0, 2**32 - 1),
})


@settings(max_examples=200, deadline=None)
@given(fields=meter_fields)
def test_round_trip_through_both_profiles(fields):
    for p in PROFILES.values():
        back = p.decode(p.encode(fields), p.first_address)
        for reg in p.registers:
            v = fields[reg.field]
            if isinstance(v, int):
                assert back[reg.field] == v
            else:  # within the register's own resolution
                step = 0.0 if reg.type.startswith("f") else reg.scale / 2
                assert back[reg.field] == pytest.approx(v, rel=1e-6, abs=step + 1e-9)


@settings(max_examples=300, deadline=None)
@given(regs=st.lists(st.integers(-5, 0x10005), max_size=40), base=st.integers(-3, 120))
def test_decode_never_crashes_on_any_registers(regs, base):
    for p in PROFILES.values():
        try:
            fields = p.decode(regs, base)
        except DecodeError:
            continue
        assert all(math.isfinite(v) for v in fields.values())


# --- bad profile files --------------------------------------------------------------------

GOOD_HEAD = 'name = "{name}"\n'
REQUIRED = """
[[registers]]
field = "energy_kwh"
address = 0
type = "u32"
[[registers]]
field = "volume_m3"
address = 2
type = "u32"
[[registers]]
field = "power_kw"
address = 4
type = "f32"
[[registers]]
field = "flow_m3h"
address = 6
type = "f32"
[[registers]]
field = "supply_c"
address = 8
type = "f32"
[[registers]]
field = "return_c"
address = 10
type = "f32"
[[registers]]
field = "status"
address = 12
type = "u16"
"""


def _write(tmp_path: Path, body: str, name: str = "m") -> Path:
    p = tmp_path / f"{name}.toml"
    p.write_text(GOOD_HEAD.format(name=name) + body, encoding="utf-8")
    return p


def test_a_minimal_profile_loads(tmp_path: Path):
    p = load_profile(_write(tmp_path, REQUIRED))
    assert p.end_address == 13 and p.function == 4


@pytest.mark.parametrize(("extra", "match"), [
    ('[[registers]]\nfield = "hours_ok"\naddress = 11\ntype = "u32"\n',
     r"registers\[7\] \(hours_ok\) at 11 overlaps registers\[5\] \(return_c\)"),
    ('[[registers]]\nfield = "hours_ok"\naddress = 13\ntype = "u24"\n',
     r"registers\[7\] \(hours_ok\): unknown type 'u24'"),
    ('[[registers]]\nfield = "hours_ok"\naddress = 13\ntype = "u32"\ncount = 1\n',
     r"registers\[7\] \(hours_ok\): count 1 does not match type u32"),
    ('[[registers]]\nfield = "hours_ok"\naddress = 13\ntype = "u32"\nscael = 1\n',
     r"registers\[7\] \(hours_ok\): unknown key\(s\) scael"),
    ('[[registers]]\nfield = "hours_ok"\naddress = 13\ntype = "u32"\nscale = 0.1\n',
     r"hours_ok is an integer field"),
    ('[[registers]]\nfield = "heat_gj"\naddress = 13\ntype = "u32"\n',
     r"registers\[7\] \(heat_gj\): field 'heat_gj' is not a meter field"),
    ('[[registers]]\nfield = "status"\naddress = 13\ntype = "u16"\n',
     r"registers\[7\]: field 'status' is already mapped by registers\[6\]"),
    ('[[registers]]\nfield = "hours_ok"\naddress = 13\ntype = "u32"\nword_order = "middle"\n',
     r"word_order = 'middle'"),
    ('[[registers]]\nfield = "hours_ok"\naddress = 65535\ntype = "u32"\n',
     r"run past 65535"),
])
def test_bad_registers_are_named(tmp_path: Path, extra: str, match: str):
    path = _write(tmp_path, REQUIRED + extra)
    with pytest.raises(ProfileError, match=match) as e:
        load_profile(path)
    assert str(path) in str(e.value)


def test_missing_required_field_and_wrong_function(tmp_path: Path):
    body = REQUIRED.split("[[registers]]\nfield = \"status\"")[0]
    with pytest.raises(ProfileError, match="lack required meter field.*status"):
        load_profile(_write(tmp_path, body))
    with pytest.raises(ProfileError, match="function = 16"):
        load_profile(_write(tmp_path, "function = 16\n" + REQUIRED))


def test_name_must_match_file_and_bad_toml(tmp_path: Path):
    p = tmp_path / "other.toml"
    p.write_text('name = "m"\n' + REQUIRED, encoding="utf-8")
    with pytest.raises(ProfileError, match="must match the file name"):
        load_profile(p)
    bad = tmp_path / "bad.toml"
    bad.write_text("name = \n", encoding="utf-8")
    with pytest.raises(ProfileError, match="not valid TOML"):
        load_profile(bad)
    with pytest.raises(ProfileError, match="profile not found"):
        load_profile("no-such-meter")


def test_golden_table_is_checked(tmp_path: Path):
    body = REQUIRED + '[[golden]]\nname = "g"\nregisters = [1, "x"]\n[golden.fields]\nstatus = 1\n'
    with pytest.raises(ProfileError, match=r"golden\[0\] \(g\): registers must be integers"):
        load_profile(_write(tmp_path, body))


def test_load_by_name_and_folder(tmp_path: Path):
    assert load_profile("generic-heat-meter") == PROFILES["generic-heat-meter"]
    assert load_profile(PROFILES_DIR / "generic-heat-meter.toml").name == "generic-heat-meter"
    _write(tmp_path, REQUIRED, "a")
    _write(tmp_path, REQUIRED, "b")
    assert sorted(load_profiles(tmp_path)) == ["a", "b"]
    with pytest.raises(ProfileError, match="folder not found"):
        load_profiles(tmp_path / "nope")


def test_profiles_never_name_sites():
    # STYLE: profiles never name sites; the records do
    for path in PROFILES_DIR.glob("*.toml"):
        text = path.read_text(encoding="utf-8")
        assert "host" not in text and "127.0.0.1" not in text and "unit =" not in text
