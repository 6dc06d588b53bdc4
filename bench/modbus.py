"""Benchmark: meter reads per second over many loopback gateways, against a naive baseline.

The gateway simulators run in a subprocess (their own core); this process runs the poller.
The baseline reads one field per request and one gateway after another, as a simple
script would. Usage: python -m bench.modbus [--gateways 100] [--meters 100]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path

from pymodbus.client import AsyncModbusTcpClient

from collector.modbus_plan import GatewayPlan, MeterPoll, PollPlan, group_reads
from collector.modbus_poller import ModbusPoller, poll_summary, quiet_pymodbus
from collector.profiles import Profile, load_profile

ROOT = Path(__file__).resolve().parent.parent


def start_simulators(gateways: int, meters: int, profile: str) -> tuple[subprocess.Popen[str],
                                                                         list[tuple[str, int]]]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "simulators.modbus_gateway", "--gateways", str(gateways),
         "--meters", str(meters), "--profile", profile],
        cwd=ROOT, stdout=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line.startswith("READY "):
        proc.kill()
        raise SystemExit(f"simulators did not start: {line!r}")
    addrs = []
    for item in line.split()[1:]:
        host, port = item.rsplit(":", 1)
        addrs.append((host, int(port)))
    return proc, addrs


def make_plan(addrs: list[tuple[str, int]], meters: int, profile: Profile) -> PollPlan:
    reads = group_reads(profile)
    gws = tuple(
        GatewayPlan(host, port, tuple(
            MeterPoll(f"m{g}-{u}", u, {"device_id": f"m{g}-{u}"}, profile, reads)
            for u in range(1, meters + 1)))
        for g, (host, port) in enumerate(addrs))
    return PollPlan(gws, {profile.name: reads})


async def bench_poller(plan: PollPlan, cycles: int) -> list[tuple[float, dict[str, object]]]:
    poller = ModbusPoller(plan, timeout_s=5.0)
    out = []
    try:
        for _ in range(cycles):
            t0 = time.perf_counter()
            readings = await poller.run_once()
            out.append((time.perf_counter() - t0, poll_summary(readings)))
    finally:
        poller.close()
    return out


async def bench_naive(addrs: list[tuple[str, int]], meters: int, profile: Profile,
                      gateways: int) -> tuple[float, int, int]:
    """One field per request, one gateway after another; returns (seconds, meters, requests)."""
    requests = ok = 0
    t0 = time.perf_counter()
    for host, port in addrs[:gateways]:
        client = AsyncModbusTcpClient(host, port=port, timeout=5.0, reconnect_delay=0)
        await client.connect()
        read = (client.read_input_registers if profile.function == 4
                else client.read_holding_registers)
        for unit in range(1, meters + 1):
            fields = {}
            for reg in profile.registers:
                rr = await read(reg.address, count=reg.count, device_id=unit)
                requests += 1
                fields[reg.field] = reg.decode(rr.registers)
            ok += len(fields) == len(profile.registers)
        client.close()
    return time.perf_counter() - t0, ok, requests


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--gateways", type=int, default=100)
    ap.add_argument("--meters", type=int, default=100, help="meters per gateway (max 247)")
    ap.add_argument("--cycles", type=int, default=3)
    ap.add_argument("--profile", default="generic-heat-meter")
    ap.add_argument("--baseline-gateways", type=int, default=0,
                    help="run the slow baseline over this many gateways and scale up "
                         "(default: all)")
    args = ap.parse_args(argv)
    quiet_pymodbus()
    profile = load_profile(args.profile)
    total = args.gateways * args.meters
    print(f"modbus bench: {args.gateways} gateways x {args.meters} meters = {total} meters, "
          f"profile {profile.name} ({len(group_reads(profile))} read(s) of "
          f"{profile.end_address - profile.first_address} registers per meter), "
          f"cpus={os.cpu_count()}")
    t0 = time.perf_counter()
    proc, addrs = start_simulators(args.gateways, args.meters, args.profile)
    print(f"  simulators up in {time.perf_counter() - t0:.2f} s (subprocess pid {proc.pid})")
    try:
        plan = make_plan(addrs, args.meters, profile)
        results = asyncio.run(bench_poller(plan, args.cycles))
        for i, (secs, summary) in enumerate(results, 1):
            note = " (includes connecting)" if i == 1 else ""
            print(f"  poller cycle {i}: {secs:.2f} s, {total / secs:,.0f} meter reads/s, "
                  f"{summary}{note}")
        steady = results[1:] or results
        best_s = min(s for s, _ in steady)
        mean_s = sum(s for s, _ in steady) / len(steady)
        print(f"  poller: cycle {mean_s:.2f} s mean / {best_s:.2f} s best for {total} meters -> "
              f"{total / mean_s:,.0f} meter reads/s (targets: >= 1,000/s, cycle < 30 s)")

        base_gw = args.baseline_gateways or args.gateways
        secs, ok, requests = asyncio.run(bench_naive(addrs, args.meters, profile, base_gw))
        base_rate = ok / secs
        base_cycle = total / base_rate
        scaled = "" if base_gw == args.gateways else f" (measured on {base_gw} gateways, scaled)"
        print(f"  naive baseline: {requests} requests for {ok} meters in {secs:.2f} s -> "
              f"{base_rate:,.0f} meter reads/s, full cycle {base_cycle:.1f} s{scaled}")
        print(f"  ratio poller/baseline: {(total / mean_s) / base_rate:.1f}x meter reads/s")
    finally:
        proc.terminate()
        try:
            out, _ = proc.communicate(timeout=10)
            if out.strip():
                print(f"  simulators: {out.strip().splitlines()[-1]}")
        except subprocess.TimeoutExpired:
            proc.kill()
    return 0


if __name__ == "__main__":
    sys.exit(main())
