"""One full analyzer cycle reading from a real InfluxDB: read vs kernel vs write-back time.

    .venv/bin/python -m bench.analyze_cycle [--rooms 10000 --meters 10000 --substations 50]
    .venv/bin/python -m bench.analyze_cycle --scale 10%   # 30%, 100%: of the city
    .venv/bin/python -m bench.analyze_cycle --scale 100% --load-only

Starts its own influxd (tests.services.Influxd) on loopback, writes a synthetic 48 h district
(rooms hourly, meters hourly, substations every 5 min, with a few faults), then times
`Runner.run_cycle` once (and a second, idempotent, cycle).

The district is loaded as raw line protocol straight to influxd's /write (several requests
in flight), hour by hour so memory stays flat; the lines are exactly those the Store would
write for `readings()` (tests/test_bench_loader.py checks it). `--store-loader` loads
through `InfluxStore.write` instead, as a baseline for the loader's rate.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import threading
import time
import zoneinfo
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import numpy as np

from analyzer.config import AnalyzerConfig
from analyzer.runner import Runner, Watermarks
from district.readings import Reading
from district.records import load_records
from storage.config import InfluxConfig
from storage.influx import InfluxStore
from tests.services import Influxd
from workflow.incidents import IncidentStore

T0_MS = 1_733_068_800_000  # 2024-12-02T00:00+08:00
H = 3_600_000

# DOMAIN.md, scale: one large city
CITY = {"rooms": 16_000, "meters": 500_000, "substations": 1_500}
LINES_PER_REQUEST = 5_000
REQUESTS_IN_FLIGHT = 3


def write_records(folder: Path, rooms: int, meters: int, subs: int) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    n_acc = max(rooms, meters)
    per_b = 100
    n_b = -(-n_acc // per_b)
    (folder / "substations.csv").write_text(
        "substation_id,name,design_outdoor_c\n"
        + "".join(f"S{s},s{s},-7\n" for s in range(subs)), encoding="utf-8")
    (folder / "buildings.csv").write_text(
        "building_id,substation_id,address\n"
        + "".join(f"B{b},S{b % subs},x\n" for b in range(n_b)), encoding="utf-8")
    (folder / "accounts.csv").write_text(
        "account_id,building_id,unit,area_m2,tariff,phone\n"
        + "".join(f"A{a},B{a // per_b},{a},90,metered,\n" for a in range(n_acc)),
        encoding="utf-8")
    dev = ["device_id,kind,account_id,building_id,substation_id,room_type,protocol,host,port,"
           "unit,profile\n"]
    dev += [f"SUB{s},substation,,,S{s},,mqtt,,,,\n" for s in range(subs)]
    dev += ["WX,weather,,,,,mqtt,,,,\n"]
    dev += [f"R{i},room,A{i},,,bedroom,mqtt,,,,\n" for i in range(rooms)]
    dev += [f"M{i},meter,A{i},,,,modbus,127.0.0.1,{15000 + i // 200},{1 + i % 200},"
            f"generic-heat-meter\n" for i in range(meters)]
    (folder / "devices.csv").write_text("".join(dev), encoding="utf-8")


def readings(rooms: int, meters: int, subs: int, hours: int) -> list[Reading]:
    rng = np.random.default_rng(1)
    out: list[Reading] = []
    for h in range(hours):
        ts = T0_MS + h * H
        out.append(Reading("weather", {"device_id": "WX"}, {"outdoor_c": -5.0}, ts))
        temp = np.round(20.5 + rng.normal(0, 0.3, rooms), 1)
        temp[:5] = 15.0  # five cold rooms
        for i in range(rooms):
            b = i // 100
            out.append(Reading("room", {"device_id": f"R{i}", "account_id": f"A{i}",
                                        "building_id": f"B{b}", "substation_id": f"S{b % subs}",
                                        "room_type": "bedroom"}, {"temp_c": float(temp[i])}, ts))
        for i in range(meters):
            b = i // 100
            flow = 0.3
            sup, ret = 55.0, 45.0
            vol = 1000 + flow * h
            energy = 5000 + flow * 10 * 1.16 * h
            if i == 7 and 10 <= h < 16:
                sup = 185.0  # one open sensor
            out.append(Reading("meter", {"device_id": f"M{i}", "account_id": f"A{i}",
                                         "building_id": f"B{b}", "substation_id": f"S{b % subs}"},
                               {"energy_kwh": round(energy, 2), "volume_m3": round(vol, 3),
                                "power_kw": 3.5, "flow_m3h": flow, "supply_c": sup,
                                "return_c": ret, "status": 0}, ts))
        for k in range(12):
            t5 = ts + k * 300_000
            for s in range(subs):
                pump = not (s == 1 and 10 <= h < 20)  # one 10 h pump trip
                out.append(Reading("substation", {"device_id": f"SUB{s}", "substation_id": f"S{s}"},
                                   {"supply_c": 55.0 if pump else 20.0,
                                    "return_c": 45.0 if pump else 19.5, "supply_mpa": 0.45,
                                    "return_mpa": 0.35, "flow_m3h": 120.0 if pump else 0.0,
                                    "makeup_m3h": 0.5, "pump_on": pump, "outdoor_c": -5.0}, t5))
    return out


def _room_prefix(i: int, subs: int) -> str:
    b = i // 100
    return (f"room,account_id=A{i},building_id=B{b},device_id=R{i},room_type=bedroom,"
            f"substation_id=S{b % subs} temp_c=")


def _meter_prefix(i: int, subs: int) -> bytes:
    b = i // 100
    return f"meter,account_id=A{i},building_id=B{b},device_id=M{i},substation_id=S{b % subs}"\
        .encode()


def _meter_fields(h: int, sup: float) -> str:
    flow = 0.3
    energy = round(5000 + flow * 10 * 1.16 * h, 2)
    vol = round(1000 + flow * h, 3)
    return (f"energy_kwh={energy!r},volume_m3={vol!r},power_kw=3.5,flow_m3h={flow!r},"
            f"supply_c={sup!r},return_c=45.0,status=0i")


def _joined(prefixes: list[bytes], suffix: bytes) -> bytes:
    return suffix.join(prefixes) + suffix if prefixes else b""


def line_chunks(rooms: int, meters: int, subs: int, hours: int,
                lines_per_chunk: int = 0) -> Iterator[tuple[bytes, int]]:
    """`readings()` as line-protocol bodies of at most lines_per_chunk lines, with their count.

    Built per hour from cached series prefixes: only the values that change are formatted,
    so the loader outruns influxd instead of the other way round.
    """
    lines_per_chunk = lines_per_chunk or LINES_PER_REQUEST
    rng = np.random.default_rng(1)
    room_prefixes = [_room_prefix(i, subs) for i in range(rooms)]
    meter_prefixes = [_meter_prefix(i, subs) for i in range(meters)]
    sub_prefixes = [f"substation,device_id=SUB{s},substation_id=S{s}".encode()
                    for s in range(subs)]
    sub_on = "supply_c=55.0,return_c=45.0,supply_mpa=0.45,return_mpa=0.35,flow_m3h=120.0," \
             "makeup_m3h=0.5,pump_on=true,outdoor_c=-5.0"
    sub_off = "supply_c=20.0,return_c=19.5,supply_mpa=0.45,return_mpa=0.35,flow_m3h=0.0," \
              "makeup_m3h=0.5,pump_on=false,outdoor_c=-5.0"
    for h in range(hours):
        ts = T0_MS + h * H
        temp = np.round(20.5 + rng.normal(0, 0.3, rooms), 1)
        temp[:5] = 15.0  # five cold rooms
        room_lines = [f"weather,device_id=WX outdoor_c=-5.0 {ts}"]
        room_lines += [p + repr(t) + f" {ts}" for p, t in zip(room_prefixes, temp.tolist(),
                                                             strict=True)]
        for i in range(0, len(room_lines), lines_per_chunk):
            text = room_lines[i:i + lines_per_chunk]
            yield ("\n".join(text) + "\n").encode(), len(text)
        plain = f" {_meter_fields(h, 55.0)} {ts}\n".encode()
        for i in range(0, meters, lines_per_chunk):
            part = meter_prefixes[i:i + lines_per_chunk]
            if i <= 7 < i + len(part) and 10 <= h < 16:
                # one open sensor on meter 7
                body = (_joined(part[:7 - i], plain) + part[7 - i]
                        + f" {_meter_fields(h, 185.0)} {ts}\n".encode()
                        + _joined(part[8 - i:], plain))
            else:
                body = _joined(part, plain)
            yield body, len(part)
        sub_lines: list[bytes] = []
        for k in range(12):
            t5 = ts + k * 300_000
            on, off = f" {sub_on} {t5}\n".encode(), f" {sub_off} {t5}\n".encode()
            for s, p in enumerate(sub_prefixes):
                sub_lines.append(p + (off if s == 1 and 10 <= h < 20 else on))  # one pump trip
        for i in range(0, len(sub_lines), lines_per_chunk):
            yield b"".join(sub_lines[i:i + lines_per_chunk]), len(sub_lines[i:i + lines_per_chunk])


class BenchInfluxd(Influxd):
    """The test influxd without the per-tag and per-database limits a city exceeds.

    InfluxDB 1.x refuses a 100,001st value of one tag (max-values-per-tag): 500k meters
    are 500k device ids.
    """

    def command(self) -> list[str]:
        cmd = super().command()
        conf = self.workdir / "influxdb.conf"
        conf.write_text(conf.read_text().replace(
            "[data]\n", "[data]\n  max-values-per-tag = 0\n  max-series-per-database = 0\n", 1))
        return cmd


def load_raw(store: InfluxStore, rooms: int, meters: int, subs: int, hours: int) -> int:
    """The district straight to /write, REQUESTS_IN_FLIGHT requests at a time; points sent."""
    total = 0
    built_s = 0.0
    slots = threading.BoundedSemaphore(REQUESTS_IN_FLIGHT * 2)
    pending: list[Future[None]] = []

    def post(body: bytes) -> None:
        try:
            store.write_encoded(body)
        finally:
            slots.release()

    with ThreadPoolExecutor(REQUESTS_IN_FLIGHT) as pool:
        chunks = line_chunks(rooms, meters, subs, hours)
        while True:
            t = time.perf_counter()
            item = next(chunks, None)
            built_s += time.perf_counter() - t
            if item is None:
                break
            body, n = item
            slots.acquire()
            pending.append(pool.submit(post, body))
            total += n
            if len(pending) > 256:
                for f in pending:
                    if f.done():
                        f.result()  # a refused or failed write stops the bench loudly
                pending = [f for f in pending if not f.done()]
        for f in pending:
            f.result()
    print(f"line protocol built at {total / max(built_s, 1e-9):,.0f} lines/s "
          f"({built_s:.1f} s of the load)")
    return total


def load_through_store(store: InfluxStore, rooms: int, meters: int, subs: int,
                       hours: int) -> int:
    """The old loader: Reading objects through InfluxStore.write (the baseline)."""
    data = readings(rooms, meters, subs, hours)
    for i in range(0, len(data), 50_000):
        store.write(data[i:i + 50_000])
    return len(data)


def _scaled(text: str) -> float:
    share = float(text.rstrip("%")) / (100 if text.endswith("%") else 1)
    if not 0 < share <= 1:
        raise argparse.ArgumentTypeError(f"--scale must be in (0, 100%], got {text}")
    return share


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--rooms", type=int, default=10_000)
    p.add_argument("--meters", type=int, default=10_000)
    p.add_argument("--substations", type=int, default=50)
    p.add_argument("--hours", type=int, default=48)
    p.add_argument("--scale", type=_scaled, default=None,
                   help="a share of the city (16k rooms, 500k meters, 1,500 substations): "
                        "10%%, 30%%, 100%%; overrides --rooms/--meters/--substations")
    p.add_argument("--load-only", action="store_true", help="load, report the rate, stop")
    p.add_argument("--store-loader", action="store_true",
                   help="load through InfluxStore.write (the old loader) as a baseline")
    a = p.parse_args()
    if a.scale is not None:
        a.rooms, a.meters, a.substations = (max(1, round(CITY[k] * a.scale))
                                            for k in ("rooms", "meters", "substations"))
    tmp = Path(tempfile.mkdtemp(prefix="analyze-cycle-"))
    write_records(tmp / "records", a.rooms, a.meters, a.substations)
    rec = load_records(tmp / "records")
    influxd = BenchInfluxd(tmp / "influxd")
    influxd.start()
    try:
        store = InfluxStore.from_config(InfluxConfig(url=influxd.url, database="bench"))
        t = time.perf_counter()
        load = load_through_store if a.store_loader else load_raw
        n = load(store, a.rooms, a.meters, a.substations, a.hours)
        dt = time.perf_counter() - t
        how = "InfluxStore.write" if a.store_loader else "raw line protocol"
        print(f"loaded {n:,} points ({a.rooms:,} rooms, {a.meters:,} meters, "
              f"{a.substations:,} substations, {a.hours} h) in {dt:.1f} s: "
              f"{n / dt:,.0f} points/s ({how})")
        if a.load_only:
            store.close()
            return
        wf = IncidentStore(tmp / "workflow.sqlite")
        runner = Runner(store, rec, wf, AnalyzerConfig(), zoneinfo.ZoneInfo("Asia/Shanghai"),
                        Watermarks(tmp / "workflow.sqlite"))
        at = T0_MS + a.hours * H
        for label in ("first cycle", "second cycle (idempotent)"):
            t = time.perf_counter()
            res = runner.run_cycle(at)
            wall = time.perf_counter() - t
            ts = res.evaluation.timings_s
            print(f"{label}: {a.rooms:,} rooms, {a.meters:,} meters, {a.substations} substations, "
                  f"{a.hours} h: read {ts['read']:.2f} s, kernels {ts['kernels']:.2f} s, "
                  f"write-back {ts['write']:.2f} s ({len(res.evaluation.derived):,} points, "
                  f"reconcile included), total {wall:.2f} s; "
                  f"{len(res.evaluation.incidents)} incidents, {len(res.events)} events")
        store.close()
        wf.close()
    finally:
        influxd.kill()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
