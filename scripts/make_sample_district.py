"""Write the bundled sample district (district/sample/*.csv) deterministically from a seed.

Run `.venv/bin/python scripts/make_sample_district.py [out_dir]`; the same seed always
writes the same bytes, so the committed CSVs can be regenerated and diffed.
"""

from __future__ import annotations

import csv
import io
import random
import sys
from pathlib import Path

SEED = 20241115  # the first day of the heating season
OUT_DIR = Path(__file__).resolve().parent.parent / "district" / "sample"
HOST = "127.0.0.1"
FIRST_PORT = 15021  # gateways listen on FIRST_PORT, FIRST_PORT + 1, ...; simulators may remap
PROFILE = "generic-heat-meter"
FLOORS, DOORS = 10, 5  # 50 households a building
SUBSTATIONS = (  # id, name, design outdoor °C (docs/rules.md: e.g. −7 °C)
    ("S1", "东湖换热站", -7.0),
    ("S2", "西园换热站", -9.0),
)
BUILDINGS_PER_SUBSTATION = 6
TWO_GATEWAY_BUILDINGS = ("B01", "B07")  # one bus per five floors: long buses are split
METERED_SHARE = 0.5
ROOM_SENSOR_SHARE = 0.17  # a share of households carry room thermometers
PHONE_SHARE = 0.7

SUBSTATION_COLUMNS = ("substation_id", "name", "design_outdoor_c")
BUILDING_COLUMNS = ("building_id", "substation_id", "address")
ACCOUNT_COLUMNS = ("account_id", "building_id", "unit", "area_m2", "tariff", "phone")
DEVICE_COLUMNS = ("device_id", "kind", "account_id", "building_id", "substation_id",
                  "room_type", "protocol", "host", "port", "unit", "profile")

Row = dict[str, str]


def build_rows(seed: int = SEED) -> dict[str, tuple[tuple[str, ...], list[Row]]]:
    """Every file's columns and rows; only random.random() is used, stable across Pythons."""
    rnd = random.Random(seed)
    subs = [{"substation_id": s, "name": n, "design_outdoor_c": f"{d:g}"}
            for s, n, d in SUBSTATIONS]
    buildings: list[Row] = []
    accounts: list[Row] = []
    rooms: list[Row] = []
    meters: list[Row] = []
    port = FIRST_PORT
    for si, (sid, _, _) in enumerate(SUBSTATIONS):
        for bi in range(BUILDINGS_PER_SUBSTATION):
            bid = f"B{si * BUILDINGS_PER_SUBSTATION + bi + 1:02d}"
            street = "东湖路" if sid == "S1" else "西园街"
            buildings.append({"building_id": bid, "substation_id": sid,
                              "address": f"{street}{bi + 1}号楼"})
            buses = 2 if bid in TWO_GATEWAY_BUILDINGS else 1
            ports = list(range(port, port + buses))
            port += buses
            units = [0] * buses
            for floor in range(1, FLOORS + 1):
                bus = (floor - 1) * buses // FLOORS
                for door in range(1, DOORS + 1):
                    aid = f"{bid}-{floor:02d}{door:02d}"
                    area = 50 + 90 * rnd.random()  # 50–140 m²
                    tariff = "metered" if rnd.random() < METERED_SHARE else "area"
                    phone = (f"1380000{int(rnd.random() * 10000):04d}"
                             if rnd.random() < PHONE_SHARE else "")  # fake numbers
                    accounts.append({"account_id": aid, "building_id": bid,
                                     "unit": f"{floor}{door:02d}", "area_m2": f"{area:.1f}",
                                     "tariff": tariff, "phone": phone})
                    if rnd.random() < ROOM_SENSOR_SHARE:
                        types = ["living"] + (["bedroom"] if rnd.random() < 0.6 else [])
                        for rt in types:
                            rooms.append(_device(f"T-{aid}-{rt[:3]}", "room", aid, rt, bid, sid))
                    if tariff == "metered":
                        units[bus] += 1
                        m = _device(f"M-{aid}", "meter", aid, "", bid, sid)
                        m.update(protocol="modbus", host=HOST, port=str(ports[bus]),
                                 unit=str(units[bus]), profile=PROFILE)
                        meters.append(m)
    stations = [_device(f"SUB-{s['substation_id']}", "substation", "", "", "",
                        s["substation_id"]) for s in subs]
    weather = [_device("WX-1", "weather", "", "")]
    return {
        "substations.csv": (SUBSTATION_COLUMNS, subs),
        "buildings.csv": (BUILDING_COLUMNS, buildings),
        "accounts.csv": (ACCOUNT_COLUMNS, accounts),
        "devices.csv": (DEVICE_COLUMNS, stations + weather + rooms + meters),
    }


def _device(device_id: str, kind: str, account_id: str, room_type: str,
            building_id: str = "", substation_id: str = "") -> Row:
    row = dict.fromkeys(DEVICE_COLUMNS, "")
    row.update(device_id=device_id, kind=kind, account_id=account_id, room_type=room_type,
               building_id=building_id, substation_id=substation_id, protocol="mqtt")
    return row


def render(columns: tuple[str, ...], rows: list[Row]) -> str:
    """CSV text with a header row and \\n line ends."""
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=columns, lineterminator="\n")
    w.writeheader()
    w.writerows(rows)
    return buf.getvalue()


def write_sample(out_dir: Path = OUT_DIR, seed: int = SEED) -> list[Path]:
    """Write the four CSVs; return their paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, (columns, rows) in build_rows(seed).items():
        path = out_dir / name
        path.write_text(render(columns, rows), encoding="utf-8")
        paths.append(path)
    return paths


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else OUT_DIR
    for p in write_sample(target):
        print(p)
