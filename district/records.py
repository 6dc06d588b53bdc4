"""The heating company's records: four CSV files, checked whole before anything runs.

`devices.csv` may end with an optional `commissioned` column (a date `YYYY-MM-DD`, empty for
none): from when the device is expected to report. Its silence counts from that date;
without it, from the device's first reading ever. Optional `energy_resolution_kwh` and
`volume_resolution_m3` columns state a meter's register resolution (its last digit, issue 25);
empty for none, when the meter's profile says it, or else the rules' default.
"""

from __future__ import annotations

import csv
import datetime as dt
import math
import unicodedata
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from district import device_options as options

SUBSTATION_COLUMNS = ("substation_id", "name", "design_outdoor_c")
BUILDING_COLUMNS = ("building_id", "substation_id", "address")
# a household's (or a whole building's) heated area; beyond this a row is a typo
MAX_AREA_M2 = 100_000.0
ACCOUNT_COLUMNS = ("account_id", "building_id", "unit", "area_m2", "tariff", "phone")
DEVICE_COLUMNS = (
    "device_id", "kind", "account_id", "building_id", "substation_id", "room_type",
    "protocol", "host", "port", "unit", "profile",
)
# optional trailing columns of a meter's register resolution (empty: its profile's or default)
RESOLUTION_COLUMNS = ("energy_resolution_kwh", "volume_resolution_m3")
DEVICE_KINDS = ("room", "meter", "substation", "weather")
ROOM_TYPES = ("bedroom", "living", "other")
TARIFFS = ("area", "metered")
PROTOCOLS = ("mqtt", "modbus")


class RecordsError(Exception):
    """One or more bad rows; each problem names its file and line."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        head = problems[0] if problems else "records are invalid"
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        super().__init__(head + more)


@dataclass(frozen=True, slots=True)
class Substation:
    substation_id: str
    name: str
    design_outdoor_c: float


@dataclass(frozen=True, slots=True)
class Building:
    building_id: str
    substation_id: str
    address: str


@dataclass(frozen=True, slots=True)
class Account:
    account_id: str
    building_id: str
    unit: str
    area_m2: float
    tariff: str
    phone: str


@dataclass(frozen=True, slots=True)
class Device:
    device_id: str
    kind: str
    account_id: str
    building_id: str
    substation_id: str
    room_type: str
    protocol: str
    host: str
    port: int | None
    unit: int | None
    profile: str
    commissioned: dt.date | None = None
    energy_resolution_kwh: float | None = None
    volume_resolution_m3: float | None = None

    def tags(self) -> dict[str, str]:
        """The tags every reading of this device is stored with."""
        return {
            "device_id": self.device_id,
            "account_id": self.account_id,
            "building_id": self.building_id,
            "substation_id": self.substation_id,
            "room_type": self.room_type,
        }


@dataclass(slots=True)
class Records:
    """The whole district as the heating company keeps it."""

    substations: dict[str, Substation] = field(default_factory=dict)
    buildings: dict[str, Building] = field(default_factory=dict)
    accounts: dict[str, Account] = field(default_factory=dict)
    devices: dict[str, Device] = field(default_factory=dict)

    def devices_of(self, kind: str) -> list[Device]:
        return [d for d in self.devices.values() if d.kind == kind]


def _rows(path: Path, columns: tuple[str, ...], problems: list[str]) -> Iterator[
    tuple[int, dict[str, str]]
]:
    if not path.is_file():
        problems.append(f"{path}: file not found")
        return
    try:
        with path.open(newline="", encoding="utf-8-sig") as f:
            reader = csv.reader(f)
            header = next(reader, None)
            if header is None:
                problems.append(f"{path}:1: empty file, expected header {','.join(columns)}")
                return
            header = [h.strip() for h in header]
            missing = [c for c in columns if c not in header]
            if missing:
                problems.append(f"{path}:1: header lacks column(s) {', '.join(missing)}")
                return
            for row in reader:
                if not row or all(not c.strip() for c in row):
                    continue
                if len(row) != len(header):
                    problems.append(
                        f"{path}:{reader.line_num}: {len(row)} fields, header has {len(header)}"
                    )
                    continue
                yield reader.line_num, {h: c.strip() for h, c in zip(header, row, strict=True)}
    except UnicodeDecodeError as e:
        problems.append(f"{path}: not UTF-8 ({e.reason} at byte {e.start})")


def _number(value: str, where: str, name: str, problems: list[str]) -> float | None:
    try:
        x = float(value)
    except ValueError:
        problems.append(f"{where}: {name} {value!r} is not a number")
        return None
    if not math.isfinite(x):
        problems.append(f"{where}: {name} {value!r} is not a finite number")
        return None
    return x


def _integer(
    value: str, where: str, name: str, lo: int, hi: int, problems: list[str]
) -> int | None:
    try:
        x = int(value)
    except ValueError:
        problems.append(f"{where}: {name} {value!r} is not an integer")
        return None
    if not lo <= x <= hi:
        problems.append(f"{where}: {name} {x} is outside {lo}..{hi}")
        return None
    return x


# MQTT topic levels cannot hold these (wildcards, the level separator)
_TOPIC_CHARS = frozenset("/+#")
MAX_ID_CHARS = 200


def wire_problem(value: str) -> str | None:
    """Why an id cannot travel as an MQTT topic level and an InfluxDB tag value, or None.

    Line protocol has no escape for a newline, and a trailing backslash escapes the
    separator after it; MQTT topics refuse wildcards, '/' splits levels, NUL is forbidden.
    """
    bad = sorted({c for c in value if c in _TOPIC_CHARS})
    if bad:
        return f"contains {' '.join(repr(c) for c in bad)} (MQTT topics cannot carry it)"
    ctrl = sorted({c for c in value if unicodedata.category(c) in ("Cc", "Cs", "Zl", "Zp")})
    if ctrl:
        return (f"contains control character(s) {', '.join(f'U+{ord(c):04X}' for c in ctrl)}"
                " (neither MQTT topics nor line protocol carry them)")
    if value.endswith("\\"):
        return "ends with a backslash (line protocol would read it as an escape)"
    if len(value) > MAX_ID_CHARS:
        return f"is {len(value)} characters long (at most {MAX_ID_CHARS})"
    return None


def _id(row: dict[str, str], key: str, where: str, seen: Mapping[str, object], kind: str,
        problems: list[str]) -> str | None:
    value = row[key]
    if not value:
        problems.append(f"{where}: empty {key}")
        return None
    problem = wire_problem(value)
    if problem:
        problems.append(f"{where}: {key} {value!r} {problem}")
        return None
    if value in seen:
        problems.append(f"{where}: duplicate {kind} id {value!r}")
        return None
    return value


RECORD_FILES = ("substations", "buildings", "accounts", "devices")


def load_records(folder: Path | str) -> Records:
    """Load and check the four CSV files; raise RecordsError listing every bad row."""
    root = Path(folder)
    if not any((root / f"{name}.csv").is_file() for name in RECORD_FILES):  # never mounted
        raise RecordsError([f"{root}: no records here (no {'/'.join(RECORD_FILES)}.csv); "
                            "[site] records_dir names the heating company's records folder"])
    problems: list[str] = []
    rec = Records()
    _load_substations(root / "substations.csv", rec, problems)
    _load_buildings(root / "buildings.csv", rec, problems)
    refused = _load_accounts(root / "accounts.csv", rec, problems)
    _load_devices(root / "devices.csv", rec, refused, problems)
    if problems:
        raise RecordsError(problems)
    return rec


def _load_substations(path: Path, rec: Records, problems: list[str]) -> None:
    for line, row in _rows(path, SUBSTATION_COLUMNS, problems):
        where = f"{path}:{line}"
        sid = _id(row, "substation_id", where, rec.substations, "substation", problems)
        design = _number(row["design_outdoor_c"], where, "design_outdoor_c", problems)
        if sid is not None and design is not None:
            rec.substations[sid] = Substation(sid, row["name"], design)


def _load_buildings(path: Path, rec: Records, problems: list[str]) -> None:
    for line, row in _rows(path, BUILDING_COLUMNS, problems):
        where = f"{path}:{line}"
        bid = _id(row, "building_id", where, rec.buildings, "building", problems)
        if row["substation_id"] not in rec.substations:
            problems.append(f"{where}: unknown substation {row['substation_id']!r}")
            continue
        if bid is not None:
            rec.buildings[bid] = Building(bid, row["substation_id"], row["address"])


def _load_accounts(path: Path, rec: Records, problems: list[str]) -> set[str]:
    """The accounts; returns the ids of those refused (their devices are not reported)."""
    refused: set[str] = set()
    for line, row in _rows(path, ACCOUNT_COLUMNS, problems):
        where = f"{path}:{line}"
        aid = _id(row, "account_id", where, rec.accounts, "account", problems)
        account = _account(row, where, rec, problems)
        if aid is not None and account is None:
            refused.add(aid)  # reported above; its devices need not say "unknown account"
        if aid is not None and account is not None:
            rec.accounts[aid] = Account(aid, *account)
    return refused


def _account(row: dict[str, str], where: str, rec: Records, problems: list[str]
             ) -> tuple[str, str, float, str, str] | None:
    """(building_id, unit, area_m2, tariff, phone) of a good row, else None."""
    ok = True
    if row["building_id"] not in rec.buildings:
        problems.append(f"{where}: unknown building {row['building_id']!r}")
        ok = False
    area = _number(row["area_m2"], where, "area_m2", problems)
    if area is not None and not 0 < area <= MAX_AREA_M2:
        problems.append(f"{where}: area_m2 {area:g} must be positive and at most "
                        f"{MAX_AREA_M2:g} m²")
        area = None
    if row["tariff"] not in TARIFFS:
        problems.append(f"{where}: unknown tariff {row['tariff']!r} (expected area or metered)")
        ok = False
    phone = row["phone"]
    if phone and not (phone.lstrip("+").replace("-", "").isdigit() and len(phone) >= 5):
        # the phone itself is never echoed: residents' numbers stay out of logs
        problems.append(f"{where}: phone is not a phone number")
        ok = False
    if not ok or area is None:
        return None
    return row["building_id"], row["unit"], area, row["tariff"], phone


def _load_devices(path: Path, rec: Records, refused: set[str], problems: list[str]) -> None:
    rows, before = 0, len(problems)
    for line, row in _rows(path, DEVICE_COLUMNS, problems):
        rows += 1
        if row["account_id"] in refused:
            continue  # its account's row is reported already
        device = _device(row, f"{path}:{line}", rec, problems)
        if device is not None:
            rec.devices[device.device_id] = device
    if rows == 0 and len(problems) == before:
        problems.append(f"{path}:2: no devices: a header and no rows")


def _device(row: dict[str, str], where: str, rec: Records, problems: list[str]) -> Device | None:
    before = len(problems)
    did = _id(row, "device_id", where, rec.devices, "device", problems)
    kind = row["kind"]
    if kind not in DEVICE_KINDS:
        problems.append(f"{where}: unknown kind {kind!r} (expected {', '.join(DEVICE_KINDS)})")
        return None
    place = _device_place(row, kind, where, rec, problems)
    if place is None:
        return None
    account_id, building_id, substation_id = place
    room_type = row["room_type"]
    if kind == "room" and room_type not in ROOM_TYPES:
        problems.append(f"{where}: unknown room_type {room_type!r} "
                        f"(expected {', '.join(ROOM_TYPES)})")
    if kind != "room" and room_type:
        problems.append(f"{where}: room_type applies only to room devices")
    protocol, port, unit = _device_link(row, kind, where, problems)
    since = options.commissioned(row, where, problems)
    res = [options.resolution(row, col, kind, where, problems) for col in RESOLUTION_COLUMNS]
    if did is None or len(problems) > before:
        return None
    return Device(did, kind, account_id, building_id, substation_id, room_type, protocol,
                  row["host"], port, unit, row["profile"], since, res[0], res[1])


def _device_place(row: dict[str, str], kind: str, where: str, rec: Records,
                  problems: list[str]) -> tuple[str, str, str] | None:
    """(account_id, building_id, substation_id), each filled in from the one it belongs to;
    None when an account or building is unknown."""
    account_id, building_id, substation_id = (row["account_id"], row["building_id"],
                                              row["substation_id"])
    if account_id:
        account = rec.accounts.get(account_id)
        if account is None:
            problems.append(f"{where}: unknown account {account_id!r}")
            return None
        if building_id and building_id != account.building_id:
            problems.append(f"{where}: building {building_id!r} is not account "
                            f"{account_id!r}'s building {account.building_id!r}")
        building_id = account.building_id
    elif kind in ("room", "meter"):
        problems.append(f"{where}: a {kind} device needs an account_id")
    if building_id:
        building = rec.buildings.get(building_id)
        if building is None:
            problems.append(f"{where}: unknown building {building_id!r}")
            return None
        if substation_id and substation_id != building.substation_id:
            problems.append(f"{where}: substation {substation_id!r} is not building "
                            f"{building_id!r}'s substation {building.substation_id!r}")
        substation_id = building.substation_id
    if substation_id and substation_id not in rec.substations:
        problems.append(f"{where}: unknown substation {substation_id!r}")
    if kind == "substation" and not substation_id:
        problems.append(f"{where}: a substation device needs a substation_id")
    return account_id, building_id, substation_id


def _device_link(row: dict[str, str], kind: str, where: str, problems: list[str]
                 ) -> tuple[str, int | None, int | None]:
    """(protocol, port, unit): a Modbus meter's address, nothing for MQTT."""
    protocol = row["protocol"] or "mqtt"
    port = unit = None
    if protocol not in PROTOCOLS:
        problems.append(f"{where}: unknown protocol {protocol!r} (expected mqtt or modbus)")
    elif protocol == "modbus":
        if kind != "meter":
            problems.append(f"{where}: only meters are read over modbus")
        if not row["host"]:
            problems.append(f"{where}: a modbus device needs a host")
        port = _integer(row["port"], where, "port", 1, 65535, problems)
        unit = _integer(row["unit"], where, "unit", 1, 247, problems)
        if not row["profile"]:
            problems.append(f"{where}: a modbus device needs a profile")
    elif row["host"] or row["port"] or row["unit"]:
        problems.append(f"{where}: host/port/unit apply only to modbus devices")
    return protocol, port, unit

