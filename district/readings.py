"""The reading data model: what a device reports and how it is stored."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Final

FieldValue = float | int | bool


class FieldType(Enum):
    FLOAT = "float"
    INT = "int"
    BOOL = "bool"


@dataclass(frozen=True, slots=True)
class KindSchema:
    """The fields one device kind reports (docs/devices.md, devices over MQTT)."""

    kind: str
    required: dict[str, FieldType]
    optional: dict[str, FieldType]

    def field_type(self, name: str) -> FieldType | None:
        return self.required.get(name) or self.optional.get(name)


F, INT, B = FieldType.FLOAT, FieldType.INT, FieldType.BOOL

# contract: heat/<kind>/<id> payload fields, units in the name
KINDS: Final[dict[str, KindSchema]] = {
    "room": KindSchema("room", {"temp_c": F}, {"rh_pct": F, "battery_v": F}),
    "meter": KindSchema(
        "meter",
        {
            "energy_kwh": F,
            "volume_m3": F,
            "power_kw": F,
            "flow_m3h": F,
            "supply_c": F,
            "return_c": F,
            "status": INT,
        },
        {"hours_ok": INT, "hours_fault": INT},
    ),
    "substation": KindSchema(
        "substation",
        {
            "supply_c": F,
            "return_c": F,
            "supply_mpa": F,
            "return_mpa": F,
            "flow_m3h": F,
            "makeup_m3h": F,
            "pump_on": B,
        },
        {"outdoor_c": F},
    ),
    "weather": KindSchema("weather", {"outdoor_c": F}, {}),
}

# Tags every device reading carries, taken from the records, never from the payload.
TAG_KEYS: Final[tuple[str, ...]] = (
    "device_id",
    "account_id",
    "building_id",
    "substation_id",
    "room_type",
)

# A Modbus poll that failed: one reading per meter and poll, with its cause.
COMM_FAULT_MEASUREMENT: Final = "meter_comm"


@dataclass(slots=True)
class Reading:
    """One point: a measurement, its tags, its fields and a time in epoch milliseconds."""

    measurement: str
    tags: Mapping[str, str]
    fields: dict[str, FieldValue]
    ts_ms: int

    def series_key(self) -> str:
        """Influx's identity for a series: measurement plus sorted tags."""
        return self.measurement + "".join(
            f",{k}={v}" for k, v in sorted(self.tags.items()) if v != ""
        )
