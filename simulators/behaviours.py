"""Named faults a scenario injects: each targets one thing for a window of district time."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, ClassVar

from district.readings import FieldValue
from simulators.physics import Controls, Layout

Fields = dict[str, FieldValue]

# contract: heat meter status bits (register map); 7–8 are human causes
STATUS_BITS: dict[str, int] = {
    "no_flow": 0,
    "supply_sensor": 1,
    "return_sensor": 2,
    "reverse_flow": 3,
    "flow_above_qs": 4,
    "low_battery": 5,
    "memory_fault": 6,
    "tamper": 7,
    "cover_open": 8,
}
SENSOR_OPEN_C = 185.0  # docs/rules.md: exactly 185.00 °C is an open sensor
SENSOR_SHORT_C = 0.0  # docs/rules.md: exactly 0.00 °C is a shorted sensor
OFFLINE_MODES = ("timeout", "exception", "garbage")


@dataclass(kw_only=True)
class Behaviour:
    """A fault on one target from start_s (inclusive) to end_s (exclusive), district time."""

    name: ClassVar[str] = ""
    targets: ClassVar[tuple[str, ...]] = ()
    target: str
    start_s: float
    end_s: float

    def active(self, t: float) -> bool:
        return self.start_s <= t < self.end_s

    def shape(self, t_prev: float, t: float, ctl: Controls, lay: Layout) -> None:
        """Force the physics for the step (t_prev, t]; most behaviours leave it alone."""

    def observe(self, t: float, fields: Fields) -> Fields | None:
        """What the device reports at t given the truth; None: it reports nothing."""
        return fields

    def buffers(self, t: float) -> bool:
        """Whether the device holds its readings back at t."""
        return False

    def offline_mode(self, t: float) -> str | None:
        """How a Modbus unit or gateway fails to answer at t, if it does."""
        return None

    @classmethod
    def param_names(cls) -> list[str]:
        return [f.name for f in dataclasses.fields(cls) if f.name not in
                ("target", "start_s", "end_s")]


@dataclass(kw_only=True)
class ColdRoom(Behaviour):
    """A room settles at settle_c (a blocked radiator, an open window)."""

    name: ClassVar[str] = "cold_room"
    targets: ClassVar[tuple[str, ...]] = ("room",)
    settle_c: float = 15.0
    tau_h: float = 3.0

    def shape(self, t_prev: float, t: float, ctl: Controls, lay: Layout) -> None:
        if self.active(t):
            i = lay.room_index[self.target]
            ctl.room_settle_c[i] = self.settle_c
            ctl.room_settle_tau_h[i] = self.tau_h


@dataclass(kw_only=True)
class Silent(Behaviour):
    """The device stops reporting."""

    name: ClassVar[str] = "silent"
    targets: ClassVar[tuple[str, ...]] = ("room", "substation", "weather", "meter")

    def observe(self, t: float, fields: Fields) -> Fields | None:
        return None if self.active(t) else fields


@dataclass(kw_only=True)
class Stuck(Behaviour):
    """The device repeats the values it had when the fault began."""

    name: ClassVar[str] = "stuck"
    targets: ClassVar[tuple[str, ...]] = ("room", "substation", "weather", "meter")
    _held: Fields | None = field(default=None, init=False, repr=False)

    def observe(self, t: float, fields: Fields) -> Fields | None:
        if not self.active(t):
            return fields
        if self._held is None:
            self._held = dict(fields)
        return dict(self._held)

    @classmethod
    def param_names(cls) -> list[str]:
        return []


@dataclass(kw_only=True)
class SensorOpen(Behaviour):
    """A temperature sensor's wire breaks: it reads 185.00 °C."""

    name: ClassVar[str] = "sensor_open"
    targets: ClassVar[tuple[str, ...]] = ("meter", "substation")
    sensor: str = "supply"
    reads_c: ClassVar[float] = SENSOR_OPEN_C

    def __post_init__(self) -> None:
        if self.sensor not in ("supply", "return"):
            raise ValueError(f"sensor must be 'supply' or 'return', got {self.sensor!r}")

    def observe(self, t: float, fields: Fields) -> Fields | None:
        if self.active(t):
            fields = {**fields, f"{self.sensor}_c": self.reads_c}
        return fields


@dataclass(kw_only=True)
class SensorShort(SensorOpen):
    """A temperature sensor shorts: it reads 0.00 °C."""

    name: ClassVar[str] = "sensor_short"
    reads_c: ClassVar[float] = SENSOR_SHORT_C


@dataclass(kw_only=True)
class FrozenTotal(Behaviour):
    """The meter's totals stop counting while water still flows."""

    name: ClassVar[str] = "frozen_total"
    targets: ClassVar[tuple[str, ...]] = ("meter",)

    def shape(self, t_prev: float, t: float, ctl: Controls, lay: Layout) -> None:
        if self.active(t):
            ctl.meter_frozen[lay.meter_index[self.target]] = True


@dataclass(kw_only=True)
class ReverseFlow(Behaviour):
    """Sensors swapped or flow reversed: return reads above supply, and/or status bit 3."""

    name: ClassVar[str] = "reverse_flow"
    targets: ClassVar[tuple[str, ...]] = ("meter",)
    swap: bool = True
    status_bit: bool = True

    def shape(self, t_prev: float, t: float, ctl: Controls, lay: Layout) -> None:
        if self.active(t):
            i = lay.meter_index[self.target]
            ctl.meter_swapped[i] |= self.swap
            if self.status_bit:
                ctl.meter_status[i] |= 1 << STATUS_BITS["reverse_flow"]


@dataclass(kw_only=True)
class TotalRegression(Behaviour):
    """The meter's cumulative totals drop once at start (a memory fault or a swapped meter)."""

    name: ClassVar[str] = "total_regression"
    targets: ClassVar[tuple[str, ...]] = ("meter",)
    drop_kwh: float = 100.0
    drop_m3: float = 0.0

    def shape(self, t_prev: float, t: float, ctl: Controls, lay: Layout) -> None:
        if t_prev < self.start_s <= t:
            i = lay.meter_index[self.target]
            ctl.meter_energy_step_kwh[i] -= self.drop_kwh
            ctl.meter_volume_step_m3[i] -= self.drop_m3


@dataclass(kw_only=True)
class StatusBits(Behaviour):
    """The meter raises status bits, by name (tamper, cover_open, ...) or number."""

    name: ClassVar[str] = "status_bits"
    targets: ClassVar[tuple[str, ...]] = ("meter",)
    bits: list[str | int] = field(default_factory=lambda: ["tamper"])

    def __post_init__(self) -> None:
        self.mask = 0
        for b in self.bits:
            if isinstance(b, int) and not isinstance(b, bool) and 0 <= b <= 15:
                self.mask |= 1 << b
            elif isinstance(b, str) and b in STATUS_BITS:
                self.mask |= 1 << STATUS_BITS[b]
            else:
                raise ValueError(f"unknown status bit {b!r} (expected 0..15 or one of "
                                 f"{', '.join(STATUS_BITS)})")
        if not self.mask:
            raise ValueError("bits is empty")

    def shape(self, t_prev: float, t: float, ctl: Controls, lay: Layout) -> None:
        if self.active(t):
            ctl.meter_status[lay.meter_index[self.target]] |= self.mask


@dataclass(kw_only=True)
class MeterOffline(Behaviour):
    """The meter stops answering on its bus (or answers an exception / garbage)."""

    name: ClassVar[str] = "meter_offline"
    targets: ClassVar[tuple[str, ...]] = ("meter",)
    mode: str = "timeout"

    def __post_init__(self) -> None:
        if self.mode not in OFFLINE_MODES:
            raise ValueError(f"mode must be one of {', '.join(OFFLINE_MODES)}, got {self.mode!r}")

    def observe(self, t: float, fields: Fields) -> Fields | None:
        # a meter reporting over MQTT simply goes quiet
        return None if self.active(t) else fields

    def offline_mode(self, t: float) -> str | None:
        return self.mode if self.active(t) else None


@dataclass(kw_only=True)
class GatewayDown(Behaviour):
    """A whole Modbus gateway (host:port as in devices.csv) stops."""

    name: ClassVar[str] = "gateway_down"
    targets: ClassVar[tuple[str, ...]] = ("gateway",)

    def offline_mode(self, t: float) -> str | None:
        return "down" if self.active(t) else None


@dataclass(kw_only=True)
class PumpTrip(Behaviour):
    """A substation's circulation pump stops for the window: supply falls, flow stops."""

    name: ClassVar[str] = "pump_trip"
    targets: ClassVar[tuple[str, ...]] = ("site",)

    def shape(self, t_prev: float, t: float, ctl: Controls, lay: Layout) -> None:
        if self.active(t):
            ctl.pump_on[lay.sub_index[self.target]] = False


@dataclass(kw_only=True)
class Leak(Behaviour):
    """The loop leaks: make-up above 2 % of circulating flow, holding pressure sags."""

    name: ClassVar[str] = "leak"
    targets: ClassVar[tuple[str, ...]] = ("site",)
    makeup_pct: float = 4.0  # docs/rules.md: above 2 % of circulating flow means a leak
    holding_mpa: float = 0.25  # docs/rules.md: the holding point sags 0.35 → 0.25 MPa

    def shape(self, t_prev: float, t: float, ctl: Controls, lay: Layout) -> None:
        if self.active(t):
            i = lay.sub_index[self.target]
            ctl.makeup_pct[i] = self.makeup_pct
            ctl.holding_mpa[i] = self.holding_mpa


@dataclass(kw_only=True)
class LateBacklog(Behaviour):
    """The device buffers its readings for the window, then flushes them as one array."""

    name: ClassVar[str] = "late_backlog"
    targets: ClassVar[tuple[str, ...]] = ("room", "substation", "weather", "meter")

    def buffers(self, t: float) -> bool:
        return self.active(t)


BEHAVIOURS: dict[str, type[Behaviour]] = {
    b.name: b for b in (ColdRoom, Silent, Stuck, SensorOpen, SensorShort, FrozenTotal,
                        ReverseFlow, TotalRegression, StatusBits, MeterOffline, GatewayDown,
                        PumpTrip, Leak, LateBacklog)
}


def make_behaviour(name: str, target: str, start_s: float, end_s: float,
                   params: dict[str, Any]) -> Behaviour:
    """Build a named behaviour; ValueError names the unknown or ill-typed parameter."""
    cls = BEHAVIOURS.get(name)
    if cls is None:
        raise ValueError(f"unknown behaviour {name!r} (known: {', '.join(sorted(BEHAVIOURS))})")
    known = {f.name: f for f in dataclasses.fields(cls)}
    allowed = cls.param_names()
    for key, value in params.items():
        if key not in allowed:
            listed = ", ".join(allowed) if allowed else "none"
            raise ValueError(f"{name} has no parameter {key!r} (parameters: {listed})")
        default = known[key].default
        if default is dataclasses.MISSING:
            continue
        if isinstance(default, bool):
            ok = isinstance(value, bool)
        elif isinstance(default, float):
            ok = isinstance(value, int | float) and not isinstance(value, bool)
            value = float(value) if ok else value
            params = {**params, key: value}
        else:
            ok = isinstance(value, type(default))
        if not ok:
            raise ValueError(f"{name} parameter {key} must be {type(default).__name__}, "
                             f"got {value!r}")
    return cls(target=target, start_s=start_s, end_s=end_s, **params)
