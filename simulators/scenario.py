"""Scenario files: when the district runs, how fast, its weather, and the faults it injects."""

from __future__ import annotations

import datetime as dt
import re
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import district
from district.records import Records, load_records
from simulators.behaviours import BEHAVIOURS, Behaviour, make_behaviour
from simulators.physics import Weather

SCENARIOS_DIR = Path(__file__).parent / "scenarios"
SAMPLE_RECORDS_DIR = Path(district.__file__).parent / "sample"
_TOP_KEYS = ("name", "start", "duration", "speed", "seed", "records", "step", "meter_update",
             "loss", "weather", "intervals", "behaviour", "meter_resolution")
_INTERVAL_KEYS = ("room", "substation", "weather", "meter")
_DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*(d|h|m|s)")
_UNIT_S = {"d": 86400.0, "h": 3600.0, "m": 60.0, "s": 1.0}
# behaviours that only make sense for a device reporting over MQTT
_MQTT_ONLY = ("silent", "late_backlog")


class ScenarioError(Exception):
    """A scenario file that cannot run; the message names the file and the entry."""


@dataclass(frozen=True, slots=True)
class BehaviourSpec:
    """One [[behaviour]] entry as written, with its window resolved to district time."""

    entry: int  # 1-based position among the [[behaviour]] entries
    name: str
    target: str
    start_s: float
    end_s: float
    params: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class Intervals:
    """How often each kind of MQTT device reports, in district seconds."""

    # docs/rules.md: room sensors sample every 10–60 min; substations report every 1–5 min
    room_s: tuple[float, ...] = (600.0, 900.0, 1200.0, 1800.0, 3600.0)
    substation_s: float = 300.0
    weather_s: float = 600.0
    meter_s: float = 3600.0  # docs/rules.md: meters are read hourly


@dataclass(frozen=True, slots=True)
class Scenario:
    """A run of the district: a window of district time, its speed, seed and faults."""

    name: str
    start_s: float
    duration_s: float
    speed: float
    seed: int
    records_dir: Path
    step_s: float = 60.0
    meter_update_s: float = 300.0
    weather: Weather = field(default_factory=Weather)
    intervals: Intervals = field(default_factory=Intervals)
    behaviours: tuple[BehaviourSpec, ...] = ()
    source: str = "<scenario>"
    # share of the MQTT devices' live messages lost on the way to the broker (seeded)
    loss: float = 0.0
    # building id -> its meters' energy register resolution in kWh (`[meter_resolution]`,
    # e.g. B01 = 1.0 for whole-kWh registers); others read 0.01 kWh
    meter_resolution: Mapping[str, float] = field(default_factory=dict)

    @property
    def end_s(self) -> float:
        return self.start_s + self.duration_s

    def build_behaviours(self, records: Records) -> list[Behaviour]:
        """Fresh behaviour objects bound to their targets; ScenarioError names the entry."""
        return [_build(self.source, spec, records) for spec in self.behaviours]


def parse_duration_s(value: object, where: str) -> float:
    """'1d12h', '90m', '30s' or a number of seconds."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        seconds = float(value)
    elif isinstance(value, str) and value.strip():
        text = value.strip().replace(" ", "")
        parts = _DURATION.findall(text)
        if "".join(n + u for n, u in parts) != text:
            raise ScenarioError(f"{where}: {value!r} is not a duration (e.g. '6h', '1d12h', "
                                "'90m')")
        seconds = sum(float(n) * _UNIT_S[u] for n, u in parts)
    else:
        raise ScenarioError(f"{where}: {value!r} is not a duration (e.g. '6h', '1d12h', '90m')")
    if seconds < 0:
        raise ScenarioError(f"{where}: duration must not be negative")
    return seconds


def parse_instant_s(value: object, where: str) -> float:
    """An RFC 3339 instant with an offset (TOML datetime or string) in epoch seconds."""
    if isinstance(value, str):
        try:
            value = dt.datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            raise ScenarioError(f"{where}: {value!r} is not an RFC 3339 time") from None
    if not isinstance(value, dt.datetime):
        raise ScenarioError(f"{where}: expected an RFC 3339 time like 2024-12-02T00:00:00+08:00")
    if value.tzinfo is None:
        raise ScenarioError(f"{where}: {value.isoformat()} needs an offset such as +08:00")
    return value.timestamp()


def _number(data: Mapping[str, Any], key: str, default: float, where: str,
            positive: bool = True) -> float:
    value = data.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ScenarioError(f"{where}: {key} must be a number, got {value!r}")
    if positive and not value > 0:
        raise ScenarioError(f"{where}: {key} must be positive")
    return float(value)


def load_scenario(path: Path | str, records: Records | None = None) -> Scenario:
    """Read and check a scenario file, its records and every behaviour's target."""
    p = Path(path)
    if not p.suffix and not p.exists():
        p = SCENARIOS_DIR / f"{p.name}.toml"  # a bare name: one of the bundled scenarios
    try:
        data = tomllib.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ScenarioError(f"{p}: scenario file not found") from None
    except OSError as e:
        raise ScenarioError(f"{p}: cannot read: {e.strerror}") from None
    except tomllib.TOMLDecodeError as e:
        raise ScenarioError(f"{p}: not valid TOML: {e}") from None
    scenario = parse_scenario(data, str(p), base_dir=p.parent)
    if records is None:
        try:
            records = load_records(scenario.records_dir)
        except Exception as e:  # RecordsError, and OS errors naming the folder
            raise ScenarioError(f"{p}: records {scenario.records_dir}: {e}") from None
    scenario.build_behaviours(records)
    return scenario


def parse_scenario(data: Mapping[str, Any], source: str, base_dir: Path | None = None
                   ) -> Scenario:
    """Turn a parsed TOML table into a Scenario; targets are checked by build_behaviours."""
    for key in data:
        if key not in _TOP_KEYS:
            raise ScenarioError(f"{source}: unknown key {key!r} (known: {', '.join(_TOP_KEYS)})")
    if "start" not in data:
        raise ScenarioError(f"{source}: start is missing (e.g. start = 2024-12-02T00:00:00+08:00)")
    start_s = parse_instant_s(data["start"], f"{source}: start")
    duration_s = parse_duration_s(data.get("duration", "1d"), f"{source}: duration")
    if duration_s <= 0:
        raise ScenarioError(f"{source}: duration must be positive")
    seed = data.get("seed", 1)
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ScenarioError(f"{source}: seed must be a non-negative integer, got {seed!r}")
    records_dir = _records_dir(data, source, base_dir)
    name = data.get("name", Path(source).stem)
    if not isinstance(name, str):
        raise ScenarioError(f"{source}: name must be a string")
    wdata = _table(data, "weather", tuple(Weather.__dataclass_fields__), source)
    weather = Weather(**{k: _number(wdata, k, 0.0, f"{source}: [weather]", positive=False)
                         for k in wdata})
    intervals = _intervals(_table(data, "intervals", _INTERVAL_KEYS, source),
                           f"{source}: [intervals]")
    loss = data.get("loss", 0.0)
    if isinstance(loss, bool) or not isinstance(loss, int | float) or not 0 <= loss < 1:
        raise ScenarioError(f"{source}: loss must be a share from 0 to below 1, got {loss!r}")
    raw = data.get("behaviour", [])
    if not isinstance(raw, list):
        raise ScenarioError(f"{source}: behaviour must be written as [[behaviour]] entries")
    specs = tuple(_spec(entry, i, source, start_s) for i, entry in enumerate(raw, start=1))
    return Scenario(
        name=name, start_s=start_s, duration_s=duration_s,
        speed=_number(data, "speed", 1.0, source), seed=seed, records_dir=records_dir,
        step_s=parse_duration_s(data.get("step", 60), f"{source}: step") or 60.0,
        meter_update_s=parse_duration_s(data.get("meter_update", 300), f"{source}: meter_update")
        or 300.0,
        weather=weather, intervals=intervals, behaviours=specs, source=source,
        loss=float(loss),
        meter_resolution=_meter_resolution(data, source),
    )


def _meter_resolution(data: Mapping[str, Any], source: str) -> dict[str, float]:
    """`[meter_resolution]`: building id = its meters' energy resolution in kWh."""
    table = data.get("meter_resolution", {})
    if not isinstance(table, Mapping):
        raise ScenarioError(f"{source}: [meter_resolution] must be a table of building = kWh")
    return {str(b): _number(table, b, 0.0, f"{source}: [meter_resolution]") for b in table}


def _records_dir(data: Mapping[str, Any], source: str, base_dir: Path | None) -> Path:
    """`records`, relative to the scenario file; the bundled sample district without it."""
    records = data.get("records", "")
    if not isinstance(records, str):
        raise ScenarioError(f"{source}: records must be a folder path")
    if not records:
        return SAMPLE_RECORDS_DIR
    records_dir = Path(records)
    if not records_dir.is_absolute() and base_dir is not None:
        records_dir = base_dir / records_dir
    return records_dir


def _table(data: Mapping[str, Any], key: str, known: Sequence[str], source: str
           ) -> Mapping[str, Any]:
    """An optional sub-table, with only known keys."""
    table = data.get(key, {})
    if not isinstance(table, Mapping):
        raise ScenarioError(f"{source}: [{key}] must be a table")
    for k in table:
        if k not in known:
            raise ScenarioError(f"{source}: [{key}] unknown key {k!r} "
                                f"(known: {', '.join(known)})")
    return table


def _intervals(idata: Mapping[str, Any], where: str) -> Intervals:
    d = Intervals()
    room = idata.get("room", list(d.room_s))
    room_list = room if isinstance(room, list) else [room]
    room_s = tuple(parse_duration_s(r, f"{where} room") for r in room_list)
    every = (*room_s,
             substation := parse_duration_s(idata.get("substation", d.substation_s),
                                            f"{where} substation"),
             weather := parse_duration_s(idata.get("weather", d.weather_s), f"{where} weather"),
             meter := parse_duration_s(idata.get("meter", d.meter_s), f"{where} meter"))
    if not room_s or min(every) <= 0:
        raise ScenarioError(f"{where}: every interval must be positive")
    return Intervals(room_s, substation, weather, meter)


def _spec(entry: object, i: int, source: str, start_s: float) -> BehaviourSpec:
    where = f"{source}: [[behaviour]] #{i}"
    if not isinstance(entry, Mapping):
        raise ScenarioError(f"{where}: must be a table")
    name, target = entry.get("name"), entry.get("target")
    if isinstance(name, str):
        where += f" ({name}"
        where += f" on {target!r})" if isinstance(target, str) else ")"
    if not isinstance(name, str) or not name:
        raise ScenarioError(f"{where}: name is missing (one of {', '.join(sorted(BEHAVIOURS))})")
    if name not in BEHAVIOURS:
        raise ScenarioError(f"{where}: unknown behaviour {name!r} "
                            f"(known: {', '.join(sorted(BEHAVIOURS))})")
    if not isinstance(target, str) or not target:
        raise ScenarioError(f"{where}: target is missing (a device, substation or gateway id)")
    begin = entry.get("start", 0)
    if isinstance(begin, dt.datetime) or (isinstance(begin, str) and "T" in begin):
        at_s = parse_instant_s(begin, f"{where}: start")
    else:
        # a duration: an offset from the scenario's start
        at_s = start_s + parse_duration_s(begin, f"{where}: start")
    if "duration" not in entry:
        raise ScenarioError(f"{where}: duration is missing (e.g. duration = '6h')")
    length_s = parse_duration_s(entry["duration"], f"{where}: duration")
    params = {k: v for k, v in entry.items() if k not in ("name", "target", "start", "duration")}
    return BehaviourSpec(i, name, target, at_s, at_s + length_s, params)


def gateway_of(host: str, port: int | None) -> str:
    """The name a scenario gives a gateway: host:port as in devices.csv."""
    return f"{host}:{port}"


def resolve_target(target: str, wants: tuple[str, ...], records: Records) -> tuple[str, str]:
    """(kind, canonical target) for what `target` names, among the kinds a behaviour wants."""
    device = records.devices.get(target)
    if device is not None:
        if device.kind in wants:
            return device.kind, target
        if "site" in wants and device.kind == "substation":
            return "site", device.substation_id
        if "gateway" in wants and device.protocol == "modbus":
            return "gateway", gateway_of(device.host, device.port)
        raise ValueError(f"{target!r} is a {device.kind} device; this behaviour applies to "
                         f"{' / '.join(wants)}")
    if target in records.substations:
        if "site" in wants:
            return "site", target
        raise ValueError(f"{target!r} is a substation; this behaviour applies to "
                         f"{' / '.join(wants)} devices")
    gateways = {gateway_of(d.host, d.port) for d in records.devices.values()
                if d.protocol == "modbus"}
    if target in gateways:
        if "gateway" in wants:
            return "gateway", target
        raise ValueError(f"{target!r} is a gateway; this behaviour applies to "
                         f"{' / '.join(wants)}")
    if wants == ("gateway",):
        raise ValueError(f"unknown gateway {target!r} (a host:port from devices.csv, or a "
                         "meter on it)")
    if wants == ("site",):
        raise ValueError(f"unknown substation {target!r}")
    raise ValueError(f"unknown device {target!r}")


def _build(source: str, spec: BehaviourSpec, records: Records) -> Behaviour:
    where = f"{source}: [[behaviour]] #{spec.entry} ({spec.name} on {spec.target!r})"
    cls = BEHAVIOURS[spec.name]
    try:
        _kind, target = resolve_target(spec.target, cls.targets, records)
        device = records.devices.get(target)
        if spec.name in _MQTT_ONLY and device is not None and device.protocol == "modbus":
            raise ValueError(f"{spec.name} needs an MQTT device; for a Modbus meter use "
                             "meter_offline")
        return make_behaviour(spec.name, target, spec.start_s, spec.end_s, dict(spec.params))
    except (ValueError, TypeError) as e:
        raise ScenarioError(f"{where}: {e}") from None
