"""The district's Modbus gateways: what the simulation drives (a unit's fault, the whole
gateway down), the real pymodbus server behind it, and the records rebound to their ports."""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Callable, Mapping
from typing import Protocol

from district.records import Records
from simulators.scenario import gateway_of


class Gateway(Protocol):
    """One simulated RS-485→TCP gateway as the district drives it."""

    @property
    def port(self) -> int:
        """The TCP port it listens on (known once started)."""
        ...

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    def set_meter(self, unit: int, fields: Mapping[str, float | int]) -> None: ...

    def set_unit_mode(self, unit: int, mode: str | None) -> None:
        """None answers normally; 'timeout', 'exception' or 'garbage' misbehave."""
        ...

    async def set_down(self, down: bool) -> None:
        """Take the whole gateway off the network, or bring it back."""
        ...


GatewayFactory = Callable[[str, int, Mapping[int, str]], Gateway]


def rebind_records(records: Records, bound: Mapping[str, tuple[str, int]]) -> Records:
    """The records with each Modbus meter's host:port replaced by where its gateway listens."""
    devices = {}
    for did, d in records.devices.items():
        gw = gateway_of(d.host, d.port)
        if d.protocol == "modbus" and gw in bound:
            host, port = bound[gw]
            d = dataclasses.replace(d, host=host, port=port)
        devices[did] = d
    return Records(records.substations, records.buildings, records.accounts, devices)


# a scenario's meter_offline mode -> how the gateway makes that unit misbehave
_UNIT_FAULTS = {"timeout": "silent", "exception": "exception", "garbage": "garbage"}


class LinkedGateway:
    """A GatewaySim driven by the district: unit modes become Faults, down/up stop/start it."""

    def __init__(self, host: str, port: int, units: Mapping[int, str]) -> None:
        from collector.profiles import load_profile
        from simulators.modbus_gateway import GatewaySim

        profiles = {name: load_profile(name) for name in sorted(set(units.values()))}
        main = Counter(units.values()).most_common(1)[0][0]
        self.sim = GatewaySim(profiles[main], host=host, port=port,
                              unit_profiles={u: profiles[n] for u, n in units.items()
                                             if n != main})

    @property
    def port(self) -> int:
        return self.sim.port

    async def start(self) -> None:
        await self.sim.start()

    async def stop(self) -> None:
        await self.sim.stop()

    def set_meter(self, unit: int, fields: Mapping[str, float | int]) -> None:
        self.sim.set_meter(unit, fields)

    def set_unit_mode(self, unit: int, mode: str | None) -> None:
        from simulators.modbus_gateway import Fault

        self.sim.set_fault(unit, None if mode is None else Fault(_UNIT_FAULTS[mode]))

    async def set_down(self, down: bool) -> None:
        # the port is kept across stop/start, so a collector finds the gateway again
        await (self.sim.stop() if down else self.sim.start())


def default_gateway_factory(host: str, port: int, units: Mapping[int, str]) -> Gateway:
    """A GatewaySim (real pymodbus TCP server) serving these unit ids with their profiles."""
    return LinkedGateway(host, port, units)
