"""The Modbus poll loop: runs a PollPlan, one connection per gateway, gateways concurrently.

Every poll of every meter yields one Reading: measurement "meter" with the decoded
fields, or COMM_FAULT_MEASUREMENT with the cause as a tag. A dead meter costs its
gateway one timeout; a dead gateway costs nothing to the others (docs/devices.md).
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections import Counter, deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from pymodbus.client import AsyncModbusTcpClient
from pymodbus.exceptions import ConnectionException, ModbusException
from pymodbus.pdu import ModbusPDU

from collector.modbus_plan import GatewayPlan, MeterPoll, PollPlan, Read
from collector.profiles import DecodeError
from district.readings import COMM_FAULT_MEASUREMENT, Reading
from storage.base import StoreUnavailable

log = logging.getLogger(__name__)

Sink = Callable[[list[Reading]], None]
Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]
ClientFactory = Callable[[str, int, float, int], AsyncModbusTcpClient]

# cause tag -> cause_code field; exception_<code> is 100 + the Modbus exception code
CAUSE_CODES: Final[dict[str, int]] = {
    "timeout": 1,
    "connect_failed": 2,
    "disconnected": 3,
    "short_response": 4,
    "garbage": 5,
}
EXCEPTION_CODE_BASE: Final = 100


def cause_code(cause: str) -> int:
    """The stable integer stored with a cause (exception_<n> -> 100 + n)."""
    if cause.startswith("exception_"):
        return EXCEPTION_CODE_BASE + int(cause.removeprefix("exception_"))
    return CAUSE_CODES[cause]


def comm_fault(meter: MeterPoll, cause: str, ts_ms: int) -> Reading:
    """The reading that records one failed poll of one meter."""
    # docs/rules.md: no reading for >= 2 intervals is communication loss; the analyzer counts these
    return Reading(COMM_FAULT_MEASUREMENT, {**meter.tags, "cause": cause},
                   {"ok": False, "cause_code": cause_code(cause)}, ts_ms)


def _default_client(host: str, port: int, timeout_s: float, retries: int) -> AsyncModbusTcpClient:
    # reconnect_delay=0: the poller owns reconnects and their backoff
    return AsyncModbusTcpClient(host, port=port, timeout=timeout_s, retries=retries,
                                reconnect_delay=0)


def quiet_pymodbus() -> None:
    """pymodbus logs every timeout with a frame dump; the poller records each one itself."""
    logging.getLogger("pymodbus").setLevel(logging.CRITICAL)


class _ReadFailed(Exception):
    def __init__(self, cause: str) -> None:
        super().__init__(cause)
        self.cause = cause


@dataclass(slots=True)
class GatewayStats:
    """How one gateway's polls went: schedule, duration, outcomes."""

    host: str
    port: int
    cycles: int = 0
    last_scheduled_s: float = math.nan
    last_start_s: float = math.nan
    last_skew_s: float = math.nan  # actual start - scheduled start
    max_skew_s: float = 0.0
    last_duration_s: float = math.nan
    max_duration_s: float = 0.0
    overruns: int = 0  # boundaries skipped because a cycle ran past them
    meters_ok: int = 0
    faults: Counter[str] = field(default_factory=Counter)
    connected: bool = False
    backoff_s: float = 0.0
    recent_periods_s: deque[float] = field(default_factory=lambda: deque(maxlen=32))

    def copy(self) -> GatewayStats:
        return GatewayStats(self.host, self.port, self.cycles, self.last_scheduled_s,
                            self.last_start_s, self.last_skew_s, self.max_skew_s,
                            self.last_duration_s, self.max_duration_s, self.overruns,
                            self.meters_ok, Counter(self.faults), self.connected,
                            self.backoff_s, deque(self.recent_periods_s, maxlen=32))


class _Gateway:
    """One gateway's connection, backoff and stats; polls its meters in unit order."""

    def __init__(self, plan: GatewayPlan, poller: ModbusPoller) -> None:
        self.plan = plan
        self.p = poller
        self.client: AsyncModbusTcpClient | None = None
        self.next_connect_at = 0.0  # monotonic
        self.backoff_s = 0.0
        self.stats = GatewayStats(plan.host, plan.port)
        self.lock = asyncio.Lock()  # one transaction at a time: the bus is half-duplex

    @property
    def connected(self) -> bool:
        return self.client is not None and self.client.connected

    async def ensure_connected(self) -> bool:
        if self.connected:
            return True
        if time.monotonic() < self.next_connect_at:
            return False  # still backing off: fail fast, never stall the cycle
        self.close()
        client = self.p.client_factory(self.plan.host, self.plan.port, self.p.timeout_s,
                                       self.p.retries)
        # a meter that times out is that meter's fault; the connection stays up
        client.set_max_no_responses(1 << 30)
        try:
            ok = await asyncio.wait_for(client.connect(), self.p.timeout_s + 1.0)
        except (TimeoutError, OSError, ModbusException):
            ok = False
        if ok and client.connected:
            self.client = client
            self.backoff_s = 0.0
            self.next_connect_at = 0.0
            return True
        client.close()
        self.backoff_s = min(self.p.backoff_max_s,
                             self.backoff_s * 2 if self.backoff_s else self.p.backoff_s)
        self.next_connect_at = time.monotonic() + self.backoff_s
        return False

    def close(self) -> None:
        if self.client is not None:
            self.client.close()
            self.client = None

    async def read(self, meter: MeterPoll, rd: Read) -> Sequence[int]:
        """The registers of one read, or _ReadFailed with its cause."""
        client = self.client
        if client is None or not client.connected:
            raise _ReadFailed("disconnected")
        method = (client.read_input_registers if rd.function == 4
                  else client.read_holding_registers)
        try:
            # the outer bound only guards against a client that never returns
            response: ModbusPDU = await asyncio.wait_for(
                method(rd.address, count=rd.count, device_id=meter.unit),
                self.p.timeout_s * (self.p.retries + 1) + 1.0)
        except ConnectionException:
            raise _ReadFailed("disconnected") from None
        except (TimeoutError, ModbusException):
            raise _ReadFailed("timeout" if client.connected else "disconnected") from None
        except (ValueError, TypeError, IndexError, KeyError, AttributeError, OSError) as e:
            # pymodbus choking on a malformed frame is the frame's fault, not ours
            log.debug("gateway %s unit %s: %r", self.plan.key, meter.unit, e)
            raise _ReadFailed("garbage" if client.connected else "disconnected") from None
        if response.isError():
            raise _ReadFailed(f"exception_{int(response.exception_code)}")
        if response.function_code != rd.function:
            raise _ReadFailed("garbage")
        regs = response.registers
        if not isinstance(regs, list) or not all(isinstance(r, int) for r in regs):
            raise _ReadFailed("garbage")
        if len(regs) < rd.count:
            raise _ReadFailed("short_response")
        if len(regs) > rd.count:
            raise _ReadFailed("garbage")
        return regs

    async def poll_meter(self, meter: MeterPoll) -> Reading:
        profile = meter.profile
        image = [0] * (profile.end_address - profile.first_address)
        try:
            for rd in meter.reads:
                regs = await self.read(meter, rd)
                lo = rd.address - profile.first_address
                # a read may bridge past the profile's own span: keep only what it maps
                for i, word in enumerate(regs):
                    if 0 <= lo + i < len(image):
                        image[lo + i] = word
            fields = profile.decode(image, profile.first_address)
        except _ReadFailed as e:
            return comm_fault(meter, e.cause, self.p.now_ms())
        except DecodeError as e:
            log.debug("gateway %s unit %s: %s", self.plan.key, meter.unit, e)
            return comm_fault(meter, "garbage", self.p.now_ms())
        return Reading("meter", dict(meter.tags), dict(fields), self.p.now_ms())

    async def poll(self, scheduled_s: float) -> list[Reading]:
        """One cycle over every meter on this gateway, in unit order."""
        async with self.lock:
            start_s = self.p.clock()
            st = self.stats
            if not math.isnan(st.last_start_s):
                st.recent_periods_s.append(start_s - st.last_start_s)
            st.last_scheduled_s, st.last_start_s = scheduled_s, start_s
            st.last_skew_s = start_s - scheduled_s
            st.max_skew_s = max(st.max_skew_s, st.last_skew_s)
            out: list[Reading] = []
            timeouts = 0
            for meter in self.plan.meters:
                if not await self.ensure_connected():
                    out.append(comm_fault(meter, "connect_failed", self.p.now_ms()))
                    continue
                reading = await self.poll_meter(meter)
                out.append(reading)
                if reading.measurement == COMM_FAULT_MEASUREMENT:
                    timeouts += reading.tags["cause"] == "timeout"
            if self.plan.meters and timeouts == len(self.plan.meters):
                # nobody answered: the TCP session may be half-open; start afresh next cycle
                self.close()
            for r in out:
                if r.measurement == COMM_FAULT_MEASUREMENT:
                    st.faults[r.tags["cause"]] += 1
                else:
                    st.meters_ok += 1
            st.cycles += 1
            st.last_duration_s = self.p.clock() - start_s
            st.max_duration_s = max(st.max_duration_s, st.last_duration_s)
            st.connected = self.connected
            st.backoff_s = self.backoff_s
            return out


class ModbusPoller:
    """Polls every meter of a PollPlan on an aligned interval and hands readings to a sink."""

    def __init__(self, plan: PollPlan, sink: Sink | None = None, *,
                 clock: Clock = time.time, sleep: Sleep | None = None,
                 interval_s: float = 3600.0, timeout_s: float = 1.0, retries: int = 0,
                 backoff_s: float = 1.0, backoff_max_s: float = 60.0,
                 client_factory: ClientFactory | None = None,
                 quiet: bool = True) -> None:
        """A poller for `plan` whose readings go to `sink` (e.g. store.write)."""
        # docs/rules.md: meters are read hourly; timeout_s is per request, retries extra attempts;
        # reconnects back off from backoff_s doubling to backoff_max_s; sleep waits that
        # many clock seconds (inject one with the clock to run on a virtual clock)
        if interval_s <= 0 or timeout_s <= 0 or retries < 0:
            raise ValueError("interval_s and timeout_s must be positive, retries >= 0")
        if backoff_s <= 0 or backoff_max_s < backoff_s:
            raise ValueError("backoff_s must be positive and at most backoff_max_s")
        self.plan = plan
        self.sink = sink
        self.clock = clock
        self.sleep: Sleep = sleep or asyncio.sleep
        self.interval_s = interval_s
        self.timeout_s = timeout_s
        self.retries = retries
        self.backoff_s = backoff_s
        self.backoff_max_s = backoff_max_s
        self.client_factory: ClientFactory = client_factory or _default_client
        self.sink_errors = 0
        self._gateways = [_Gateway(g, self) for g in plan.gateways]
        self._queue: asyncio.Queue[list[Reading]] | None = None
        if quiet:
            quiet_pymodbus()

    def now_ms(self) -> int:
        return round(self.clock() * 1000)

    def stats(self) -> dict[str, GatewayStats]:
        """A snapshot of every gateway's stats, keyed host:port."""
        return {g.plan.key: g.stats.copy() for g in self._gateways}

    def next_boundary(self, after_s: float) -> float:
        """The first interval boundary strictly after a time (polls align to the clock)."""
        return (math.floor(after_s / self.interval_s) + 1) * self.interval_s

    async def run_once(self, at: float | None = None) -> list[Reading]:
        """One poll of every meter, gateways concurrently; returned, not sunk."""
        # `at` is the scheduled start the skew is measured from (default: now)
        scheduled = self.clock() if at is None else at
        batches = await asyncio.gather(*(g.poll(scheduled) for g in self._gateways))
        return [r for batch in batches for r in batch]

    async def run_forever(self, stop: asyncio.Event) -> None:
        """Poll on every interval boundary until stop is set."""
        # each gateway keeps its own schedule, so a slow one never delays the rest
        self._queue = asyncio.Queue()
        writer = asyncio.create_task(self._write_loop(self._queue), name="modbus-sink")
        loops = [asyncio.create_task(self._gateway_loop(g, stop), name=f"modbus {g.plan.key}")
                 for g in self._gateways]
        try:
            await stop.wait()
        finally:
            for t in loops:
                t.cancel()
            await asyncio.gather(*loops, return_exceptions=True)
            await self._queue.put([])  # wakes the writer to drain and finish
            await writer
            self._queue = None
            self.close()

    def close(self) -> None:
        """Close every gateway connection."""
        for g in self._gateways:
            g.close()

    async def _gateway_loop(self, gw: _Gateway, stop: asyncio.Event) -> None:
        scheduled = self.next_boundary(self.clock())
        while not stop.is_set():
            if not await self._wait_until(scheduled, stop):
                return
            readings = await gw.poll(scheduled)
            if self._queue is not None and readings:
                self._queue.put_nowait(readings)
            nxt = self.next_boundary(self.clock())
            # a cycle longer than the interval skips the boundaries it ran over
            gw.stats.overruns += max(0, round((nxt - scheduled) / self.interval_s) - 1)
            scheduled = nxt

    async def _wait_until(self, at_s: float, stop: asyncio.Event) -> bool:
        """Sleep until a clock time; False when stop was set first."""
        delay = at_s - self.clock()
        if delay > 0:
            sleeper = asyncio.ensure_future(self.sleep(delay))
            stopper = asyncio.ensure_future(stop.wait())
            try:
                await asyncio.wait({sleeper, stopper}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                sleeper.cancel()
                stopper.cancel()
        return not stop.is_set()

    async def _write_loop(self, queue: asyncio.Queue[list[Reading]]) -> None:
        """One writer: batches queued while a write runs go out together, in order."""
        while True:
            batch = await queue.get()
            done = not batch
            while not queue.empty():
                more = queue.get_nowait()
                done = done or not more
                batch.extend(more)
            if batch and self.sink is not None:
                # a slow store write runs in a thread and never blocks the poll loop
                await self._sink(batch)
            if done:
                return

    async def _sink(self, batch: list[Reading]) -> None:
        assert self.sink is not None
        delay_s = 0.5
        while True:
            try:
                await asyncio.to_thread(self.sink, batch)
                return
            except StoreUnavailable as e:
                # keep the readings and try again; polls go on meanwhile and queue up
                self.sink_errors += 1
                log.warning("modbus: store unavailable (%s); retrying %d readings in %.1fs",
                            e, len(batch), delay_s)
                await asyncio.sleep(delay_s)
                delay_s = min(delay_s * 2, 30.0)
            except Exception:
                self.sink_errors += 1
                log.exception("modbus: sink refused %d readings", len(batch))
                return


def poll_summary(readings: Sequence[Reading]) -> dict[str, Any]:
    """Counts of good readings and of faults by cause, for logs and the demo summary."""
    causes = Counter(r.tags.get("cause", "") for r in readings
                     if r.measurement == COMM_FAULT_MEASUREMENT)
    return {"ok": sum(r.measurement == "meter" for r in readings), "faults": dict(causes)}
