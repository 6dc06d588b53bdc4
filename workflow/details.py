"""What each incident kind says about itself: one typed record per kind, stored as JSON.

A reader of a field no detector writes fails `mypy --strict`: narrow `Incident.details` with
isinstance to the kind's record first. The JSON keys are the field names (except where a
field says otherwise), so rows written before these types existed read back unchanged.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


def _key(name: str) -> dict[str, Any]:
    return {"json": name}


_OMIT_NONE = {"omit_none": True}


@dataclass(slots=True)
class OutageDetails:
    """A substation out. There is no expected restore time: the analyzer cannot know one, so
    a resident notice says the template's default (an estimate is the dispatcher's to give)."""

    duration_h: float = 0.0
    ongoing: bool = False
    escalations_h: list[float] = field(default_factory=list)  # marks reached (incidents shows)
    # why: a cause code (pump_stopped, low_supply; policy/causes.py words it), or a dispatcher's
    # own words. Whether a notice is due and what is paid are the policy's to say from
    # duration_h (policy/outages.py), never stored here.
    reason: str = ""
    affected_accounts: int = 0
    # its consequences, listed here rather than raised as incidents of their own
    cold_rooms: list[str] = field(default_factory=list)
    cold_room_count: int = 0
    meters_without_flow: list[str] = field(default_factory=list)
    meters_without_flow_count: int = 0


@dataclass(slots=True)
class BuildingOutageDetails:
    """A building without flow / ΔT while its substation runs (no reason: notices say the
    template's default)."""

    duration_h: float = 0.0
    ongoing: bool = False
    escalations_h: list[float] = field(default_factory=list)
    cold_rooms: list[str] = field(default_factory=list)
    cold_room_count: int = 0
    meters_without_flow: list[str] = field(default_factory=list)
    meters_without_flow_count: int = 0


@dataclass(slots=True)
class LeakDetails:
    """Make-up water above its share of circulation, or the holding pressure sagging."""

    signs: list[str] = field(default_factory=list)
    ongoing: bool = False
    makeup_share_max: float | None = None
    holding_mpa_min: float | None = None


@dataclass(slots=True)
class RoomColdDetails:
    """A room's trailing mean below 18 °C. The lowest trailing mean is the figure a crew is
    shown (there is no plain `mean_c`: the signal is the trailing mean)."""

    trailing_h: float = 0.0
    ongoing: bool = False
    lowest_trailing_mean_c: float | None = None
    # issue 22: a measurer's visit found it (its record and lowest reading); None otherwise
    record_id: str | None = field(default=None, metadata={"omit_none": True})
    measured_c: float | None = field(default=None, metadata={"omit_none": True})


@dataclass(slots=True)
class SensorFaultDetails:
    """A room thermometer silent, stuck or out of range (the cause is the incident's); or, for
    a building, its rooms silent together (rooms_silent) or never heard from since go-live
    (never_reported), listed in `devices`."""

    hours: float = 0.0
    ongoing: bool = False
    devices: list[str] = field(default_factory=list)


@dataclass(slots=True)
class ComplianceDetails:
    """A substation day below the compliance target."""

    day: str = ""
    rate: float | None = None
    passing: int = 0
    measured: int = 0


@dataclass(slots=True)
class MeterFaultDetails:
    """A heat-meter fault: its causes, and whether they are human (inspection) or not (area)."""

    cause: str = ""
    causes: list[str] = field(default_factory=list)
    text: str = ""
    human: bool = False
    fault_class: str = field(default="", metadata=_key("class"))  # "human" | "non_human"
    ongoing: bool = False
    hours: float = 0.0


@dataclass(slots=True)
class MeterCommDetails:
    """A meter (or, with `meters`, a whole gateway) not read for >= 2 expected intervals; or,
    with cause never_reported, the meters of a gateway or building never heard from."""

    gateway: str = ""
    ongoing: bool = False
    cause: str = ""
    hours: float = 0.0
    meters: int | None = field(default=None, metadata=_OMIT_NONE)  # gateway-wide only
    devices: list[str] = field(default_factory=list)  # a gateway's (or building's) meters


@dataclass(slots=True)
class StationCommDetails:
    """A substation's telemetry (or a weather station's outdoor temperature) silent: no
    reading since the last one, counted from its first reading ever or its commissioning.
    Unknown is neither out nor restored: an outage in progress stays as it was."""

    source: str = ""  # "substation" | "weather"
    device_id: str = ""
    ongoing: bool = False
    hours: float = 0.0


@dataclass(slots=True)
class CallClusterDetails:
    """A suspected fault shown by residents' calls (来电聚集): households of one building
    calling about heat within the window, with no incident open. Raised by the desk, not the
    analyzer (so not among the analyzer's kinds, which it closes when it does not find them)."""

    calls: list[str] = field(default_factory=list)
    households: list[str] = field(default_factory=list)


@dataclass(slots=True)
class EarlyWarningDetails:
    """A slow fault found before a room went cold (issue 24): its cause code, whether a
    station or a building, the day it was first flagged, and the evidence: each residual in
    sigmas against the station's own normal, and how well they match the cause's pattern."""

    cause: str = ""
    target: str = ""  # "station" | "building"
    since: str = ""  # YYYY-MM-DD
    evidence: dict[str, float] = field(default_factory=dict)
    match: float = 0.0


IncidentDetails = (OutageDetails | BuildingOutageDetails | LeakDetails | RoomColdDetails
                   | SensorFaultDetails | ComplianceDetails | MeterFaultDetails
                   | MeterCommDetails | StationCommDetails | CallClusterDetails
                   | EarlyWarningDetails)

DETAILS_BY_KIND: dict[str, type[IncidentDetails]] = {
    "room_cold": RoomColdDetails,
    "compliance_breach": ComplianceDetails,
    "sensor_fault": SensorFaultDetails,
    "meter_fault": MeterFaultDetails,
    "meter_comm": MeterCommDetails,
    "station_comm": StationCommDetails,
    "outage": OutageDetails,
    "building_outage": BuildingOutageDetails,
    "leak": LeakDetails,
    "call_cluster": CallClusterDetails,
    "early_warning": EarlyWarningDetails,
}


def details_dict(d: IncidentDetails) -> dict[str, Any]:
    """The JSON form of a details record (what the column and `--json` hold)."""
    out: dict[str, Any] = {}
    for f in dataclasses.fields(d):
        value = getattr(d, f.name)
        if value is None and f.metadata.get("omit_none"):
            continue
        out[f.metadata.get("json", f.name)] = list(value) if isinstance(value, list) else value
    return out


def parse_details(kind: str, raw: Mapping[str, Any]) -> IncidentDetails:
    """The record of `kind` from its JSON form; keys it does not know are left behind."""
    cls = DETAILS_BY_KIND.get(kind)
    if cls is None:
        raise ValueError(f"unknown incident kind {kind!r}")
    args = {f.name: raw[f.metadata.get("json", f.name)] for f in dataclasses.fields(cls)
            if f.metadata.get("json", f.name) in raw}
    return cls(**args)


def check_kind(kind: str, d: IncidentDetails) -> None:
    """A record of another kind's type is a programming error: fail loudly at the write."""
    if not isinstance(d, DETAILS_BY_KIND[kind]):
        raise TypeError(f"{kind} incident with {type(d).__name__}")
