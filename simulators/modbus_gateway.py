"""A simulated RS-485 -> Modbus TCP gateway: a real pymodbus server holding many meters.

Each unit's registers are `Profile.encode(fields)` of the meter's current state, so the
simulator and the collector read one profile file and cannot drift. Drive it with:

    sim = GatewaySim(load_profile("generic-heat-meter"), meters=lambda unit: {...})
    await sim.start()                      # listens on 127.0.0.1, sim.port
    sim.set_meter(3, {...})                # this unit's fields from now on
    sim.set_meter(4, None)                 # meter offline: unit 4 never answers
    sim.set_fault(5, Fault("exception", code=2))   # or silent, short, garbage, slow
    await sim.stop()                       # gateway down; start() again brings it back

`python -m simulators.modbus_gateway --gateways N --meters M` serves N gateways of M
synthetic meters each in one process (the benchmark runs it as a subprocess).
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import logging
import math
import signal
import sys
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from pymodbus.constants import ExcCodes
from pymodbus.exceptions import NoSuchIdException
from pymodbus.pdu import ExceptionResponse, ModbusPDU
from pymodbus.pdu.register_message import (
    ReadHoldingRegistersResponse,
    ReadInputRegistersResponse,
)
from pymodbus.server import ModbusTcpServer
from pymodbus.server.requesthandler import ServerRequestHandler
from pymodbus.simulator import DataType, SimData, SimDevice

from collector.profiles import EncodeError, Profile, load_profile

log = logging.getLogger(__name__)

Fields = Mapping[str, float | int]
MeterSource = Callable[[int], Fields | None]

FAULT_KINDS: Final = ("silent", "exception", "short", "garbage", "slow")
UNITS: Final = range(1, 248)  # Modbus unit ids a serial bus can address


@dataclass(frozen=True, slots=True)
class Fault:
    """How one unit misbehaves: silent, exception, short, garbage or slow."""

    # silent: never answers (the client times out); exception: answers Modbus exception
    # `code`; short: one register fewer than asked; garbage: a well-framed answer to the
    # other register function; slow: answers after delay_s
    kind: str
    code: int = int(ExcCodes.DEVICE_FAILURE)
    delay_s: float = 0.0

    def __post_init__(self) -> None:
        if self.kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault {self.kind!r} (expected {', '.join(FAULT_KINDS)})")
        if self.kind == "exception" and self.code not in set(ExcCodes):
            raise ValueError(f"exception code {self.code} is not a Modbus exception code")
        if self.delay_s < 0 or not math.isfinite(self.delay_s):
            raise ValueError(f"delay_s {self.delay_s} must be finite and not negative")


class GatewaySim:
    """One gateway on host:port serving every unit id through a pymodbus TCP server."""

    def __init__(self, profile: Profile, meters: MeterSource | None = None, *,
                 host: str = "127.0.0.1", port: int = 0,
                 unit_profiles: Mapping[int, Profile] | None = None,
                 offline: str = "silent") -> None:
        """A gateway of `profile` meters whose fields come from `meters` (unit -> fields)."""
        # unit_profiles: units of another model; port 0 picks a free port, kept across
        # stop()/start(); offline: what a unit whose meter gives None does, "silent" (the
        # client times out) or "exception" (0x0B, as many real gateways answer)
        if offline not in ("silent", "exception"):
            raise ValueError(f"offline {offline!r} must be silent or exception")
        self.profile = profile
        self.host = host
        self.port = port
        self.offline = offline
        self.reads = 0  # register reads answered with data
        self._source = meters
        self._unit_profiles = dict(unit_profiles or {})
        self._meters: dict[int, Fields | None] = {}
        self._faults: dict[int, Fault] = {}
        self._server: _GatewayServer | None = None

    @property
    def running(self) -> bool:
        return self._server is not None

    @property
    def connections(self) -> int:
        """Client connections open now."""
        return len(self._server.active_connections) if self._server is not None else 0

    def profile_of(self, unit: int) -> Profile:
        return self._unit_profiles.get(unit, self.profile)

    def set_meter(self, unit: int, fields: Fields | None) -> None:
        """This unit's fields from now on (overrides the meters source); None = offline."""
        self._meters[unit] = None if fields is None else dict(fields)

    def set_fault(self, unit: int, fault: Fault | None) -> None:
        """Make a unit misbehave, or behave again with None."""
        if fault is None:
            self._faults.pop(unit, None)
        else:
            self._faults[unit] = fault

    def fault_of(self, unit: int) -> Fault | None:
        return self._faults.get(unit)

    def fields_of(self, unit: int) -> Fields | None:
        """The fields the unit serves now, or None when it does not answer."""
        if unit in self._meters:
            return self._meters[unit]
        return self._source(unit) if self._source is not None else None

    async def start(self) -> None:
        """Listen and serve; returns once the port is bound."""
        if self._server is not None:
            return
        extent = max(p.end_address for p in (self.profile, *self._unit_profiles.values()))
        devices = [
            SimDevice(unit, simdata=SimData(0, count=extent, values=0,
                                            datatype=DataType.REGISTERS),
                      action=functools.partial(self._serve, unit))
            # unit 0 is pymodbus's catch-all: ids beyond 247 land there and stay silent
            for unit in (0, *UNITS)
        ]
        server = _GatewayServer(self, devices, (self.host, self.port))
        await server.serve_forever(background=True)
        sockets = getattr(server.transport, "sockets", None)
        if sockets:
            self.port = int(sockets[0].getsockname()[1])
        self._server = server

    async def stop(self) -> None:
        """Close the listener and every open connection: the gateway is down."""
        server, self._server = self._server, None
        if server is not None:
            await server.shutdown()  # type: ignore[no-untyped-call]

    async def _serve(self, unit: int, function_code: int, start_address: int, _address: int,
                     _count: int, registers: list[int],
                     set_values: list[int] | list[bool] | None) -> ExcCodes | None:
        """pymodbus action: fill this unit's registers just before they are read."""
        if set_values is not None:
            return ExcCodes.ILLEGAL_FUNCTION  # meters are read-only
        profile = self.profile_of(unit)
        if function_code != profile.function:
            return ExcCodes.ILLEGAL_FUNCTION
        fault = self._faults.get(unit)
        if fault is not None:
            if fault.kind == "silent":
                raise NoSuchIdException(f"unit {unit} is silent")
            if fault.kind == "exception":
                return ExcCodes(fault.code)
            if fault.kind == "slow":
                await asyncio.sleep(fault.delay_s)
        fields = self.fields_of(unit) if unit in UNITS else None
        if fields is None:
            if self.offline == "exception":
                return ExcCodes.GATEWAY_NO_RESPONSE
            raise NoSuchIdException(f"unit {unit} does not answer")
        try:
            image = profile.encode(fields)
        except EncodeError as e:
            log.warning("gateway %s:%s unit %s: %s", self.host, self.port, unit, e)
            return ExcCodes.DEVICE_FAILURE
        offset = profile.first_address - start_address
        registers[offset:offset + len(image)] = image
        self.reads += 1
        return None


class _GatewayHandler(ServerRequestHandler):
    """pymodbus's connection handler, answering each request under its own ids."""

    # pymodbus 3.16 reads the transaction id back from `last_pdu` after awaiting the
    # datastore, so a slow answer goes out under a later request's id carrying the wrong
    # meter's data (tests/test_modbus_poller.py catches it). Each answer here keeps its own.

    def __init__(self, owner: _GatewayServer) -> None:
        super().__init__(owner, None, None, None)  # type: ignore[no-untyped-call]
        self.gateway: GatewaySim = owner.gateway
        self._tasks: set[asyncio.Task[None]] = set()

    def handle_later(self) -> None:
        pdu, addr = self.last_pdu, self.last_addr
        if pdu is None:
            return
        task = asyncio.ensure_future(self._answer(pdu, addr))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _answer(self, pdu: ModbusPDU, addr: tuple[Any, ...] | None) -> None:
        try:
            response = await pdu.datastore_update(self.server.context, pdu.dev_id)
        except NoSuchIdException:
            return  # a silent meter: the client times out, as behind a real gateway
        except Exception:  # a broken datastore answers "device failure", never kills the server
            log.exception("gateway %s:%s unit %s", self.gateway.host, self.gateway.port,
                          pdu.dev_id)
            response = ExceptionResponse(pdu.function_code, ExcCodes.DEVICE_FAILURE)
        fault = self.gateway.fault_of(pdu.dev_id)
        if fault is not None and isinstance(response, ReadHoldingRegistersResponse):
            if fault.kind == "short":
                response.registers = list(response.registers)[:-1]
            elif fault.kind == "garbage":
                other = (ReadHoldingRegistersResponse if pdu.function_code == 4
                         else ReadInputRegistersResponse)
                response = other(registers=list(response.registers))
        response.transaction_id = pdu.transaction_id
        response.dev_id = pdu.dev_id
        if self.transport is not None:
            self.server_send(response, addr)  # type: ignore[no-untyped-call]


class _GatewayServer(ModbusTcpServer):
    """A pymodbus TCP server whose connections use _GatewayHandler."""

    def __init__(self, gateway: GatewaySim, devices: list[SimDevice],
                 address: tuple[str, int]) -> None:
        self.gateway = gateway
        super().__init__(devices, address=address, ignore_missing_devices=True)

    def callback_new_connection(self) -> _GatewayHandler:
        return _GatewayHandler(self)


async def start_all(sims: Iterable[GatewaySim]) -> None:
    """Start many gateways in this process and event loop."""
    await asyncio.gather(*(s.start() for s in sims))


async def stop_all(sims: Iterable[GatewaySim]) -> None:
    await asyncio.gather(*(s.stop() for s in sims))


def synthetic_meter(gateway: int, unit: int) -> dict[str, float | int]:
    """A plausible, fixed meter state that depends only on (gateway, unit)."""
    seed = gateway * 1000 + unit
    return {
        "energy_kwh": round(1000 + seed * 1.37, 2),
        "volume_m3": round(50 + seed * 0.011, 3),
        "power_kw": 2.0 + (seed % 50) / 10,
        "flow_m3h": 0.25 + (seed % 8) / 8,
        "supply_c": 55.0 + (seed % 5),
        "return_c": 45.0 + (seed % 3),
        "status": 0,
        "hours_ok": 1000 + seed % 3000,
        "hours_fault": seed % 7,
    }


async def _serve_cli(args: argparse.Namespace) -> None:
    profile = load_profile(args.profile)
    sims = [GatewaySim(profile, functools.partial(_cli_meter, g, args.meters),
                       host=args.host, port=args.base_port + g if args.base_port else 0)
            for g in range(args.gateways)]
    await start_all(sims)
    print("READY " + " ".join(f"{s.host}:{s.port}" for s in sims), flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await stop_all(sims)
    print(f"served {sum(s.reads for s in sims)} reads", flush=True)


def _cli_meter(gateway: int, meters: int, unit: int) -> dict[str, float | int] | None:
    return synthetic_meter(gateway, unit) if 1 <= unit <= meters else None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--gateways", type=int, default=1)
    parser.add_argument("--meters", type=int, default=10, help="units 1..M answer on each")
    parser.add_argument("--profile", default="generic-heat-meter")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--base-port", type=int, default=0,
                        help="gateway g listens on base+g; 0 picks free ports")
    args = parser.parse_args(argv)
    if not 1 <= args.meters <= len(UNITS):
        parser.error(f"--meters must be 1..{len(UNITS)}")
    logging.getLogger("pymodbus").setLevel(logging.CRITICAL)
    asyncio.run(_serve_cli(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
