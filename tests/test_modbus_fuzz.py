"""Garbage on the wire never crashes the poller: hypothesis over raw Modbus TCP answers."""

from __future__ import annotations

import asyncio
import math
import struct
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from collector.modbus_plan import build_plan
from collector.modbus_poller import CAUSE_CODES, ModbusPoller
from collector.profiles import DecodeError, load_profiles
from district.readings import COMM_FAULT_MEASUREMENT, Reading
from district.records import load_records
from simulators.modbus_gateway import synthetic_meter
from tests.records_fixture import write_records

PROFILES = load_profiles()
GENERIC = PROFILES["generic-heat-meter"]


def mbap(tid: int, pid: int, length: int, unit: int, pdu: bytes) -> bytes:
    return struct.pack(">HHHB", tid, pid, length & 0xFFFF, unit & 0xFF) + pdu


def good_answer(tid: int, unit: int) -> bytes:
    regs = GENERIC.encode(synthetic_meter(0, unit))
    pdu = bytes([4, 2 * len(regs)]) + b"".join(r.to_bytes(2, "big") for r in regs)
    return mbap(tid, 0, len(pdu) + 1, unit, pdu)


words = st.one_of(st.integers(0, 0xFFFF), st.sampled_from([0x7FC0, 0x7F80, 0xFF80]))
registers_pdu = st.builds(
    lambda fc, n, regs: bytes([fc, n]) + b"".join(w.to_bytes(2, "big") for w in regs),
    st.sampled_from([4, 4, 4, 4, 3]), st.sampled_from([34, 34, 34, 34, 32, 33, 36, 0, 255]),
    st.one_of(st.lists(words, min_size=17, max_size=17), st.lists(words, max_size=19)))
exception_pdu = st.builds(lambda c: bytes([0x84, c]), st.integers(0, 255))
pdus = st.one_of(registers_pdu, registers_pdu, exception_pdu, st.binary(max_size=40))

# ("raw", bytes) is sent as is; ("frame", pid, length_delta, unit_delta, pdu) gets an MBAP
# header carrying the request's transaction id
answers = st.one_of(
    st.tuples(st.just("raw"), st.binary(max_size=80)),
    st.tuples(st.just("frame"), st.sampled_from([0, 0, 0, 1]), st.sampled_from([0, 0, 0, -1, 2]),
              st.sampled_from([0, 0, 0, 1]), pdus),
)


def expected(answer: tuple[Any, ...]) -> str | dict[str, float | int] | None:
    """What the poller must make of a framed answer: fields, a cause, or None (any fault)."""
    if answer[0] != "frame":
        return None
    _, pid, length_delta, unit_delta, pdu = answer
    if pid or length_delta or unit_delta or not pdu:
        return None
    if pdu[0] == 0x84 and len(pdu) == 2:
        return f"exception_{pdu[1]}"
    # pymodbus reads byte_count bytes when the PDU holds more than that
    if pdu[0] == 4 and len(pdu) >= 2 and pdu[1] == 34 and len(pdu) >= 36:
        words = [int.from_bytes(pdu[2 + 2 * i:4 + 2 * i], "big") for i in range(17)]
        try:
            return GENERIC.decode(words)
        except DecodeError:
            return "garbage"
    return None


async def serve_and_poll(answer: tuple[Any, ...], close_after: bool, records_dir: Path) -> list[
        Reading]:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                req = await reader.readexactly(12)
                tid, _, _, unit = struct.unpack(">HHHB", req[:7])
                if unit == 1:
                    if answer[0] == "raw":
                        writer.write(answer[1])
                    else:
                        _, pid, length_delta, unit_delta, pdu = answer
                        writer.write(mbap(tid, pid, len(pdu) + 1 + length_delta,
                                          unit + unit_delta, pdu))
                    await writer.drain()
                    if close_after:
                        break
                else:
                    writer.write(good_answer(tid, unit))
                    await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    devices = ("device_id,kind,account_id,building_id,substation_id,room_type,protocol,host,"
               f"port,unit,profile\nf1,meter,A1,,,,modbus,127.0.0.1,{port},1,generic-heat-meter\n"
               f"f2,meter,A2,,,,modbus,127.0.0.1,{port},2,generic-heat-meter\n")
    rec = load_records(write_records(records_dir, devices=devices))
    poller = ModbusPoller(build_plan(rec, PROFILES), timeout_s=0.1)
    try:
        return await poller.run_once()
    finally:
        poller.close()
        server.close()
        await server.wait_closed()


@settings(max_examples=50, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(answer=answers, close_after=st.sampled_from([False, False, False, True]))
def test_any_answer_yields_a_reading_or_a_comm_fault(tmp_path: Path, answer, close_after):
    readings = asyncio.run(serve_and_poll(answer, close_after, tmp_path / "rec"))
    assert [r.tags["device_id"] for r in readings] == ["f1", "f2"]
    first, second = readings
    want = expected(answer)
    if first.measurement == COMM_FAULT_MEASUREMENT:
        cause = first.tags["cause"]
        assert cause in CAUSE_CODES or cause.startswith("exception_"), cause
        assert set(first.fields) == {"ok", "cause_code"} and first.fields["ok"] is False
        assert not isinstance(want, dict), (answer, first)
        if isinstance(want, str):
            assert cause == want, (answer, first)
    else:
        assert first.measurement == "meter"
        assert all(math.isfinite(v) for v in first.fields.values())
        assert set(first.fields) == set(GENERIC.fields)
        if answer[0] == "frame":
            assert want == first.fields, (answer, first)
    # garbage on one unit leaves the gateway usable for the next one
    assert second.measurement == "meter", second
    assert second.fields == GENERIC.decode(GENERIC.encode(synthetic_meter(0, 2)))


def test_the_oracle_itself_accepts_a_good_answer():
    pdu = good_answer(1, 1)[7:]
    assert expected(("frame", 0, 0, 0, pdu)) == GENERIC.decode(
        GENERIC.encode(synthetic_meter(0, 1)))
    assert expected(("frame", 0, 0, 0, bytes([0x84, 2]))) == "exception_2"
