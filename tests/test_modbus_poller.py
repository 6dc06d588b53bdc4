"""The poll plan, and the poller against real pymodbus gateway simulators on loopback."""

from __future__ import annotations

import asyncio
import threading
from collections import defaultdict
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import pytest
from pymodbus.client import AsyncModbusTcpClient

from collector.modbus_plan import MAX_READ_REGISTERS, PlanError, Read, build_plan, group_reads
from collector.modbus_poller import ModbusPoller, cause_code
from collector.profiles import load_profiles
from district.readings import COMM_FAULT_MEASUREMENT, KINDS, FieldType, Reading
from district.records import Records, load_records
from simulators.modbus_gateway import Fault, GatewaySim, synthetic_meter
from tests.records_fixture import write_records

PROFILES = load_profiles()
GENERIC = PROFILES["generic-heat-meter"]
COMPACT = PROFILES["compact-heat-meter"]
LOOPBACK = "127.0.0.1"


def run(coro: Coroutine[Any, Any, Any]) -> Any:
    return asyncio.run(coro)


def district(tmp_path: Path, gateways: list[tuple[int, int]],
             profile: str = "generic-heat-meter", extra_devices: str = "") -> Records:
    """Records with gateway g on port p holding units 1..n, device m<g>-<u>."""
    accounts = ["account_id,building_id,unit,area_m2,tariff,phone"]
    devices = ["device_id,kind,account_id,building_id,substation_id,room_type,protocol,"
               "host,port,unit,profile"]
    for g, (port, n) in enumerate(gateways):
        for u in range(1, n + 1):
            accounts.append(f"A{g}-{u},B1,{g}-{u},80,metered,")
            devices.append(f"m{g}-{u},meter,A{g}-{u},,,,modbus,{LOOPBACK},{port},{u},{profile}")
    folder = write_records(tmp_path / "records", accounts="\n".join(accounts) + "\n",
                           devices="\n".join(devices) + "\n" + extra_devices)
    return load_records(folder)


def sims_for(n: int, meters: int, profile=GENERIC) -> list[GatewaySim]:
    def source(g: int) -> Callable[[int], dict[str, float | int] | None]:
        return lambda u: synthetic_meter(g, u) if u <= meters else None
    return [GatewaySim(profile, source(g)) for g in range(n)]


def gateway_unit(r: Reading) -> tuple[int, int]:
    g, u = r.tags["device_id"][1:].split("-")
    return int(g), int(u)


def assert_served(r: Reading) -> None:
    """A meter reading carries exactly what its simulator served."""
    assert r.measurement == "meter", r
    want = synthetic_meter(*gateway_unit(r))
    assert set(r.fields) == set(want)
    for k, v in want.items():
        if KINDS["meter"].field_type(k) is FieldType.INT:
            assert r.fields[k] == v and type(r.fields[k]) is int, k
        else:
            assert type(r.fields[k]) is float, k
            assert r.fields[k] == pytest.approx(v, rel=1e-6), k


# --- the plan -----------------------------------------------------------------------------

def test_generic_profile_is_one_read_of_17_registers():
    assert group_reads(GENERIC) == (Read(4, 0, 17),)


def test_gaps_split_unless_bridged():
    assert group_reads(COMPACT) == (Read(3, 100, 10), Read(3, 111, 5))
    assert group_reads(COMPACT, max_gap=1) == (Read(3, 100, 16),)


def test_max_count_splits_between_registers_never_inside_one():
    reads = group_reads(GENERIC, max_count=5)
    assert all(r.count <= 5 for r in reads)
    covered = {a for r in reads for a in range(r.address, r.end)}
    assert covered == set(range(17))
    starts = {r.address for r in reads}
    assert starts <= {reg.address for reg in GENERIC.registers}
    with pytest.raises(PlanError):
        group_reads(GENERIC, max_count=MAX_READ_REGISTERS + 1)
    with pytest.raises(PlanError):
        group_reads(GENERIC, max_gap=-1)
    with pytest.raises(PlanError, match="needs 2 registers"):
        group_reads(GENERIC, max_count=1)


def test_plan_groups_devices_by_gateway_in_unit_order(tmp_path: Path):
    extra = "z9,meter,A0-1,,,,modbus,127.0.0.1,6000,3,generic-heat-meter\n"
    rec = district(tmp_path, [(5020, 3), (5021, 2)], extra_devices=extra)
    plan = build_plan(rec, PROFILES)
    assert [g.key for g in plan.gateways] == ["127.0.0.1:5020", "127.0.0.1:5021",
                                             "127.0.0.1:6000"]
    assert [m.unit for m in plan.gateways[0].meters] == [1, 2, 3]
    assert plan.meter_count == 6
    m = plan.gateways[0].meters[0]
    assert m.tags == rec.devices["m0-1"].tags()
    assert m.reads == (Read(4, 0, 17),)
    assert plan.reads["generic-heat-meter"] == (Read(4, 0, 17),)
    # mqtt devices of the sample records are not in the plan
    assert all(m.device_id not in ("r1", "m1") for g in plan.gateways for m in g.meters)


def test_unknown_profile_names_the_device(tmp_path: Path):
    rec = district(tmp_path, [(5020, 2)], profile="no-such-meter")
    with pytest.raises(PlanError, match=r"devices.csv: device 'm0-1' names unknown profile "
                                        r"'no-such-meter'") as e:
        build_plan(rec, PROFILES)
    assert len(e.value.problems) == 2


def test_two_meters_on_one_unit_are_refused(tmp_path: Path):
    extra = "dup,meter,A0-1,,,,modbus,127.0.0.1,5020,2,generic-heat-meter\n"
    rec = district(tmp_path, [(5020, 2)], extra_devices=extra)
    with pytest.raises(PlanError, match=r"'dup' and 'm0-2' share unit 2 on gateway "
                                        r"127.0.0.1:5020|'m0-2' and 'dup' share unit 2"):
        build_plan(rec, PROFILES)


def test_next_boundary_aligns_to_the_interval():
    p = ModbusPoller(build_plan(Records(), PROFILES), interval_s=3600)
    assert p.next_boundary(3599.9) == 3600
    assert p.next_boundary(3600) == 7200
    assert p.next_boundary(0) == 3600


# --- the simulator serves what the profile says ---------------------------------------------

def test_register_address_zero_is_the_profiles_address_zero():
    async def go() -> None:
        sim = GatewaySim(GENERIC, lambda u: synthetic_meter(0, u))
        await sim.start()
        client = AsyncModbusTcpClient(LOOPBACK, port=sim.port, timeout=1, reconnect_delay=0)
        try:
            assert await client.connect()
            image = GENERIC.encode(synthetic_meter(0, 7))
            first = await client.read_input_registers(0, count=1, device_id=7)
            assert first.registers == image[:1]  # energy_kwh's high word, not block index 1
            last = await client.read_input_registers(16, count=1, device_id=7)
            assert last.registers == image[16:]
            beyond = await client.read_input_registers(17, count=1, device_id=7)
            assert beyond.isError() and beyond.exception_code == 2
            whole = await client.read_input_registers(0, count=17, device_id=7)
            assert GENERIC.decode(whole.registers) == pytest.approx(synthetic_meter(0, 7))
            holding = await client.read_holding_registers(0, count=17, device_id=7)
            assert holding.isError()  # this model only has input registers
        finally:
            client.close()
            await sim.stop()
    run(go())


# --- polling --------------------------------------------------------------------------------

def test_ten_gateways_of_fifty_meters_are_polled_correctly(tmp_path: Path):
    async def go() -> None:
        sims = sims_for(10, 50)
        await asyncio.gather(*(s.start() for s in sims))
        try:
            rec = district(tmp_path, [(s.port, 50) for s in sims])
            poller = ModbusPoller(build_plan(rec, PROFILES), timeout_s=1.0)
            readings = await poller.run_once()
            assert len(readings) == 500
            assert {r.tags["device_id"] for r in readings} == set(rec.devices) - {
                "r1", "r2", "m1", "s1", "w1"}
            for r in readings:
                assert_served(r)
                assert r.tags == rec.devices[r.tags["device_id"]].tags()
            # one connection per gateway, reused by every unit behind it
            assert [s.connections for s in sims] == [1] * 10
            assert sum(s.reads for s in sims) == 500
            again = await poller.run_once()
            assert all(r.measurement == "meter" for r in again)
            assert [s.connections for s in sims] == [1] * 10
            poller.close()
        finally:
            await asyncio.gather(*(s.stop() for s in sims))
    run(go())


def test_second_model_holding_registers_cdab_through_the_wire(tmp_path: Path):
    async def go() -> None:
        sim = sims_for(1, 4, COMPACT)[0]
        await sim.start()
        try:
            rec = district(tmp_path, [(sim.port, 4)], profile="compact-heat-meter")
            for max_gap, reads_per_meter in ((0, 2), (1, 1)):
                before = sim.reads
                poller = ModbusPoller(build_plan(rec, PROFILES, max_gap=max_gap))
                readings = await poller.run_once()
                poller.close()
                assert sim.reads - before == 4 * reads_per_meter
                for r in readings:
                    want = synthetic_meter(*gateway_unit(r))
                    assert r.measurement == "meter"
                    for reg in COMPACT.registers:  # within this model's integer resolution
                        assert r.fields[reg.field] == pytest.approx(
                            want[reg.field], abs=reg.scale / 2 + 1e-9)
        finally:
            await sim.stop()
    run(go())


def test_every_failure_is_a_comm_fault_with_its_cause(tmp_path: Path):
    async def go() -> None:
        sims = sims_for(3, 9)
        await asyncio.gather(*(s.start() for s in sims))
        faulty, down, gateway_exc = sims
        faulty.set_fault(2, Fault("silent"))
        faulty.set_fault(3, Fault("exception", code=2))
        faulty.set_fault(4, Fault("short"))
        faulty.set_fault(5, Fault("garbage"))
        faulty.set_fault(6, Fault("slow", delay_s=0.05))       # slow but in time
        faulty.set_fault(7, Fault("slow", delay_s=0.6))        # answers after the timeout
        faulty.set_meter(9, None)                              # meter offline
        gateway_exc.offline = "exception"
        gateway_exc.set_meter(1, None)
        await down.stop()
        try:
            rec = district(tmp_path, [(s.port, 9) for s in sims])
            clock_s = 1_700_000_000.25
            poller = ModbusPoller(build_plan(rec, PROFILES), clock=lambda: clock_s,
                                  timeout_s=0.3)
            readings = {r.tags["device_id"]: r for r in await poller.run_once()}
            assert len(readings) == 27
            causes = {d: r.tags.get("cause") for d, r in readings.items()
                      if r.measurement == COMM_FAULT_MEASUREMENT}
            assert causes == {
                "m0-2": "timeout", "m0-3": "exception_2", "m0-4": "short_response",
                "m0-5": "garbage", "m0-7": "timeout", "m0-9": "timeout",
                **{f"m1-{u}": "connect_failed" for u in range(1, 10)},
                "m2-1": "exception_11",
            }
            for d in ("m0-1", "m0-6", "m0-8", "m2-2"):
                # m0-8 follows the late answer of m0-7: that answer must not become m0-8's
                assert_served(readings[d])
            fault = readings["m0-3"]
            assert fault.fields == {"ok": False, "cause_code": 102}
            assert fault.tags == {**rec.devices["m0-3"].tags(), "cause": "exception_2"}
            assert fault.ts_ms == 1_700_000_000_250
            assert cause_code("timeout") != cause_code("connect_failed")
            stats = poller.stats()
            assert stats[f"{LOOPBACK}:{down.port}"].faults == {"connect_failed": 9}
            assert stats[f"{LOOPBACK}:{down.port}"].connected is False
            assert stats[f"{LOOPBACK}:{faulty.port}"].meters_ok == 3
            poller.close()
        finally:
            await asyncio.gather(*(s.stop() for s in sims))
    run(go())


def test_a_gateway_dropping_mid_cycle_is_disconnected_then_connect_failed(tmp_path: Path):
    async def go() -> None:
        sim: GatewaySim

        def source(u: int) -> dict[str, float | int] | None:
            if u == 3:  # the gateway dies while unit 3 is asked
                asyncio.get_running_loop().create_task(sim.stop())
                return None
            return synthetic_meter(0, u)
        sim = GatewaySim(GENERIC, source)
        await sim.start()
        try:
            rec = district(tmp_path, [(sim.port, 5)])
            poller = ModbusPoller(build_plan(rec, PROFILES), timeout_s=0.3)
            got = [(r.tags["device_id"], r.tags.get("cause")) for r in await poller.run_once()]
            assert got == [("m0-1", None), ("m0-2", None), ("m0-3", "disconnected"),
                           ("m0-4", "connect_failed"), ("m0-5", "connect_failed")]
            poller.close()
        finally:
            await sim.stop()
    run(go())


def test_skew_and_timestamps_follow_the_injected_clock(tmp_path: Path):
    async def go() -> None:
        sim = sims_for(1, 2)[0]
        await sim.start()
        try:
            rec = district(tmp_path, [(sim.port, 2)])
            now = [7200.5]
            poller = ModbusPoller(build_plan(rec, PROFILES), clock=lambda: now[0])
            readings = await poller.run_once(at=7200.0)
            assert {r.ts_ms for r in readings} == {7_200_500}
            st = poller.stats()[f"{LOOPBACK}:{sim.port}"]
            assert st.last_skew_s == 0.5 and st.last_scheduled_s == 7200.0
            assert st.cycles == 1 and st.meters_ok == 2 and st.connected
            poller.close()
        finally:
            await sim.stop()
    run(go())


async def _until(cond: Callable[[], bool], limit_s: float) -> None:
    async def wait() -> None:
        while not cond():
            await asyncio.sleep(0.02)
    await asyncio.wait_for(wait(), limit_s)


def test_dead_gateway_and_timeouts_leave_the_others_on_schedule(tmp_path: Path):
    interval_s = 1.0
    cycles = 4

    async def go() -> None:
        sims = sims_for(4, 10)
        await asyncio.gather(*(s.start() for s in sims))
        healthy, slow_bus, down = sims[:2], sims[2], sims[3]
        for u in (3, 5, 9):
            slow_bus.set_fault(u, Fault("silent"))
        await down.stop()
        sunk: list[Reading] = []
        try:
            rec = district(tmp_path, [(s.port, 10) for s in sims])
            poller = ModbusPoller(build_plan(rec, PROFILES), sunk.extend, interval_s=interval_s,
                                  timeout_s=0.25, backoff_s=0.2, backoff_max_s=0.5)
            stop = asyncio.Event()
            task = asyncio.create_task(poller.run_forever(stop))
            keys = [f"{LOOPBACK}:{s.port}" for s in sims]
            await _until(lambda: min(poller.stats()[k].cycles for k in keys) >= cycles,
                         cycles * interval_s + 10)
            stop.set()
            await task
            stats = poller.stats()
            for s in (*healthy, slow_bus):
                periods = list(stats[f"{LOOPBACK}:{s.port}"].recent_periods_s)
                assert len(periods) >= cycles - 1
                for p in periods:  # issue 3: the others' period unchanged within 10 %
                    assert abs(p - interval_s) <= 0.1 * interval_s, periods
            by_device: dict[str, set[str]] = defaultdict(set)
            for r in sunk:
                by_device[r.tags["device_id"]].add(r.tags.get("cause", "ok"))
            n_cycles = {d: sum(r.tags["device_id"] == d for r in sunk) for d in by_device}
            assert min(n_cycles.values()) >= cycles
            for d, causes in by_device.items():
                g, u = int(d[1:].split("-")[0]), int(d.split("-")[1])
                if g == 3:
                    assert causes == {"connect_failed"}, d
                elif g == 2 and u in (3, 5, 9):
                    assert causes == {"timeout"}, d
                else:
                    assert causes == {"ok"}, d
            assert stats[f"{LOOPBACK}:{down.port}"].backoff_s > 0
        finally:
            await asyncio.gather(*(s.stop() for s in sims))
    run(go())


def test_a_gateway_that_comes_back_is_polled_again_without_restart(tmp_path: Path):
    async def go() -> None:
        sim = sims_for(1, 3)[0]
        await sim.start()
        port = sim.port
        await sim.stop()
        sunk: list[Reading] = []
        rec = district(tmp_path, [(port, 3)])
        poller = ModbusPoller(build_plan(rec, PROFILES), sunk.extend, interval_s=0.3,
                              timeout_s=0.3, backoff_s=0.1, backoff_max_s=0.3)
        stop = asyncio.Event()
        task = asyncio.create_task(poller.run_forever(stop))
        key = f"{LOOPBACK}:{port}"
        try:
            await _until(lambda: poller.stats()[key].faults["connect_failed"] >= 6, 10)
            await sim.start()
            assert sim.port == port
            await _until(lambda: poller.stats()[key].meters_ok >= 6, 10)
        finally:
            stop.set()
            await task
            await sim.stop()
        causes = [r.tags.get("cause", "ok") for r in sunk]
        assert causes[:6] == ["connect_failed"] * 6
        assert causes[-3:] == ["ok"] * 3
        for r in sunk[-3:]:
            assert_served(r)
    run(go())


def test_the_sink_runs_in_a_thread_and_a_stuck_write_never_blocks_polling(tmp_path: Path):
    async def go() -> None:
        sim = sims_for(1, 2)[0]
        await sim.start()
        release = threading.Event()
        calls: list[tuple[int, int]] = []

        def sink(batch: list[Reading]) -> None:
            calls.append((threading.get_ident(), len(batch)))
            if len(calls) == 1:
                release.wait(20)
            if len(calls) == 2:
                raise RuntimeError("store down")  # a failing write is counted, not fatal

        try:
            rec = district(tmp_path, [(sim.port, 2)])
            poller = ModbusPoller(build_plan(rec, PROFILES), sink, interval_s=0.2, timeout_s=0.5)
            stop = asyncio.Event()
            task = asyncio.create_task(poller.run_forever(stop))
            key = f"{LOOPBACK}:{sim.port}"
            await _until(lambda: len(calls) == 1, 10)
            await _until(lambda: poller.stats()[key].cycles >= 4, 10)
            assert len(calls) == 1  # the first write is still stuck, polling went on
            release.set()
            await _until(lambda: len(calls) >= 3, 10)
            stop.set()
            await task
            cycles = poller.stats()[key].cycles
            assert sum(n for _, n in calls) == 2 * cycles  # every reading reached the sink
            assert threading.get_ident() not in {t for t, _ in calls}
            assert poller.sink_errors == 1
        finally:
            release.set()
            await sim.stop()
    run(go())


def test_two_models_behind_one_gateway(tmp_path: Path):
    async def go() -> None:
        sim = GatewaySim(GENERIC, lambda u: synthetic_meter(0, u),
                         unit_profiles={3: COMPACT, 4: COMPACT})
        await sim.start()
        try:
            extra = "".join(f"m0-{u},meter,A0-1,,,,modbus,{LOOPBACK},{sim.port},{u},"
                            "compact-heat-meter\n" for u in (3, 4))
            rec = district(tmp_path, [(sim.port, 2)], extra_devices=extra)
            poller = ModbusPoller(build_plan(rec, PROFILES, max_gap=1))
            readings = await poller.run_once()
            poller.close()
            assert [r.tags["device_id"] for r in readings] == ["m0-1", "m0-2", "m0-3", "m0-4"]
            assert all(r.measurement == "meter" for r in readings)
            assert readings[2].fields["energy_kwh"] == pytest.approx(
                synthetic_meter(0, 3)["energy_kwh"], abs=0.05)
        finally:
            await sim.stop()
    run(go())


def test_fault_kinds_are_checked():
    with pytest.raises(ValueError, match="unknown fault"):
        Fault("flaky")
    with pytest.raises(ValueError, match="not a Modbus exception code"):
        Fault("exception", code=99)
    with pytest.raises(ValueError):
        Fault("slow", delay_s=-1)
