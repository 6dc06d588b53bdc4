"""A small district written as the heating company's four CSV files."""

from __future__ import annotations

from pathlib import Path

SUBSTATIONS = "substation_id,name,design_outdoor_c\nS1,东区一号站,-7\n"
BUILDINGS = "building_id,substation_id,address\nB1,S1,幸福路1号楼\n"
ACCOUNTS = (
    "account_id,building_id,unit,area_m2,tariff,phone\n"
    "A1,B1,1-101,90,area,13800000001\n"
    "A2,B1,1-102,75.5,metered,\n"
)
DEVICES = (
    "device_id,kind,account_id,building_id,substation_id,room_type,protocol,host,port,unit,profile\n"
    "r1,room,A1,,,bedroom,mqtt,,,,\n"
    "r2,room,A1,,,living,mqtt,,,,\n"
    "m1,meter,A2,,,,mqtt,,,,\n"
    "s1,substation,,,S1,,mqtt,,,,\n"
    "w1,weather,,,,,mqtt,,,,\n"
)


def write_records(folder: Path, **override: str) -> Path:
    """Write the district; pass substations=..., devices=... to replace a file's text."""
    folder.mkdir(parents=True, exist_ok=True)
    files = {"substations": SUBSTATIONS, "buildings": BUILDINGS, "accounts": ACCOUNTS,
             "devices": DEVICES, **override}
    for name, text in files.items():
        (folder / f"{name}.csv").write_text(text, encoding="utf-8")
    return folder
