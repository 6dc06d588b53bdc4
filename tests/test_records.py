"""The records loader checks everything first and names file:line for each bad row."""

from __future__ import annotations

from pathlib import Path

import pytest

from district.records import RecordsError, load_records
from tests.records_fixture import ACCOUNTS, BUILDINGS, DEVICES, SUBSTATIONS, write_records


def test_good_records_load_with_tags_resolved(tmp_path: Path) -> None:
    rec = load_records(write_records(tmp_path))
    assert set(rec.devices) == {"r1", "r2", "m1", "s1", "w1"}
    assert rec.devices["r1"].tags() == {
        "device_id": "r1", "account_id": "A1", "building_id": "B1", "substation_id": "S1",
        "room_type": "bedroom",
    }
    assert rec.accounts["A2"].area_m2 == 75.5
    assert rec.substations["S1"].design_outdoor_c == -7.0


def _problems(tmp_path: Path, **override: str) -> list[str]:
    with pytest.raises(RecordsError) as e:
        load_records(write_records(tmp_path, **override))
    return e.value.problems


@pytest.mark.parametrize(
    ("override", "where", "needle"),
    [
        ({"buildings": BUILDINGS + "B2,S9,x\n"}, "buildings.csv:3", "unknown substation 'S9'"),
        ({"accounts": ACCOUNTS + "A1,B1,1-103,50,area,\n"}, "accounts.csv:4",
         "duplicate account id 'A1'"),
        ({"accounts": ACCOUNTS + "A3,B1,1-103,-5,area,\n"}, "accounts.csv:4",
         "area_m2 -5 must be positive"),
        ({"accounts": ACCOUNTS + "A3,B1,1-103,abc,area,\n"}, "accounts.csv:4",
         "area_m2 'abc' is not a number"),
        ({"accounts": ACCOUNTS + "A3,B1,1-103,nan,area,\n"}, "accounts.csv:4",
         "not a finite number"),
        ({"accounts": ACCOUNTS + "A3,B1,1-103,50,flat,\n"}, "accounts.csv:4",
         "unknown tariff 'flat'"),
        ({"accounts": ACCOUNTS + "A3,B7,1-103,50,area,\n"}, "accounts.csv:4",
         "unknown building 'B7'"),
        ({"devices": DEVICES + "x1,boiler,,,S1,,mqtt,,,,\n"}, "devices.csv:7",
         "unknown kind 'boiler'"),
        ({"devices": DEVICES + "r1,room,A1,,,bedroom,mqtt,,,,\n"}, "devices.csv:7",
         "duplicate device id 'r1'"),
        ({"devices": DEVICES + "r9,room,A9,,,bedroom,mqtt,,,,\n"}, "devices.csv:7",
         "unknown account 'A9'"),
        ({"devices": DEVICES + "r9,room,A1,,,kitchen,mqtt,,,,\n"}, "devices.csv:7",
         "unknown room_type 'kitchen'"),
        ({"devices": DEVICES + "m9,meter,A2,,,,modbus,10.0.0.1,99999,1,generic-heat-meter\n"},
         "devices.csv:7", "port 99999 is outside"),
        ({"devices": DEVICES + "m9,meter,A2,,,,modbus,gw,502,0,generic-heat-meter\n"},
         "devices.csv:7", "unit 0 is outside 1..247"),
        ({"devices": DEVICES + "m9,meter,A2,B9,,,mqtt,,,,\n"}, "devices.csv:7",
         "building 'B9' is not account 'A2'"),
        ({"substations": SUBSTATIONS + "S2,西站,cold\n"}, "substations.csv:3",
         "design_outdoor_c 'cold' is not a number"),
        ({"devices": "device_id,kind\nr1,room\n"}, "devices.csv:1", "header lacks column"),
        ({"accounts": ACCOUNTS + "A3,B1,1-103,50\n"}, "accounts.csv:4", "4 fields, header has 6"),
    ],
)
def test_each_bad_row_is_named_with_file_and_line(
    tmp_path: Path, override: dict[str, str], where: str, needle: str
) -> None:
    problems = _problems(tmp_path, **override)
    assert any(where in p and needle in p for p in problems), problems


def test_all_problems_are_reported_not_just_the_first(tmp_path: Path) -> None:
    problems = _problems(
        tmp_path,
        accounts=ACCOUNTS + "A3,B1,1-103,-1,area,\nA4,B1,1-104,50,weird,\n",
    )
    assert len(problems) == 2


def test_phone_numbers_never_appear_in_errors(tmp_path: Path) -> None:
    problems = _problems(tmp_path, accounts=ACCOUNTS + "A3,B1,1-103,50,area,13x9999888\n")
    assert problems and not any("13x9999888" in p for p in problems)


def test_missing_file_is_reported(tmp_path: Path) -> None:
    write_records(tmp_path)
    (tmp_path / "devices.csv").unlink()
    with pytest.raises(RecordsError, match="devices.csv: file not found"):
        load_records(tmp_path)


@pytest.mark.parametrize(
    ("override", "where", "needle"),
    [
        ({"devices": DEVICES + "r/9,room,A1,,,bedroom,mqtt,,,,\n"}, "devices.csv:7",
         "device_id 'r/9' contains '/'"),
        ({"devices": DEVICES + "r+9,room,A1,,,bedroom,mqtt,,,,\n"}, "devices.csv:7", "'+'"),
        ({"devices": DEVICES + "r#9,room,A1,,,bedroom,mqtt,,,,\n"}, "devices.csv:7", "'#'"),
        ({"devices": DEVICES + '"r\n9",room,A1,,,bedroom,mqtt,,,,\n'}, "devices.csv:8",
         "control character(s) U+000A"),
        ({"devices": DEVICES + "r\x019,room,A1,,,bedroom,mqtt,,,,\n"}, "devices.csv:7",
         "U+0001"),
        ({"accounts": ACCOUNTS + "A\\,B1,1-103,50,area,\n"}, "accounts.csv:4",
         "account_id 'A\\\\' ends with a backslash"),
        ({"buildings": BUILDINGS + "B#2,S1,x\n"}, "buildings.csv:3", "building_id 'B#2'"),
        ({"substations": SUBSTATIONS + "S/2,西站,-7\n"}, "substations.csv:3",
         "substation_id 'S/2'"),
        ({"devices": DEVICES + "r" + "x" * 300 + ",room,A1,,,bedroom,mqtt,,,,\n"},
         "devices.csv:7", "at most 200"),
    ],
)
def test_ids_the_wire_cannot_carry_are_refused(
    tmp_path: Path, override: dict[str, str], where: str, needle: str
) -> None:
    problems = _problems(tmp_path, **override)
    assert any(where in p and needle in p for p in problems), problems


def test_ids_with_line_protocol_specials_are_accepted(tmp_path: Path) -> None:
    # commas, equals, spaces, quotes and inner backslashes are escaped, not refused
    weird = 'q 1,a=b"c\\d'
    rec = load_records(write_records(
        tmp_path, devices=DEVICES + f'"{weird.replace(chr(34), chr(34) * 2)}",room,A1,,,'
                                    "bedroom,mqtt,,,,\n"))
    assert weird in rec.devices


def test_records_command_names_file_and_line_of_a_bad_id(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from heatwatch.cli import main

    folder = write_records(tmp_path / "rec",
                           accounts=ACCOUNTS + "A\\,B1,1-103,50,area,\n")
    config = tmp_path / "h.toml"
    config.write_text(f'[site]\nrecords_dir = "{folder}"\ndata_dir = "{tmp_path}/var"\n')
    assert main(["records", "--config", str(config)]) == 2
    err = capsys.readouterr().err
    assert "accounts.csv:4" in err and "ends with a backslash" in err
    assert "Traceback" not in err
