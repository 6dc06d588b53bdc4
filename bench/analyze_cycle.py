"""One full analyzer cycle reading from a real InfluxDB: read vs kernel vs write-back time.

    .venv/bin/python -m bench.analyze_cycle [--rooms 10000 --meters 10000 --substations 50]

Starts its own influxd (tests.services.Influxd) on loopback, writes a synthetic 48 h district
(rooms hourly, meters hourly, substations every 5 min, with a few faults), then times
`Runner.run_cycle` once (and a second, idempotent, cycle).
"""

from __future__ import annotations

import argparse
import tempfile
import time
import zoneinfo
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


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--rooms", type=int, default=10_000)
    p.add_argument("--meters", type=int, default=10_000)
    p.add_argument("--substations", type=int, default=50)
    p.add_argument("--hours", type=int, default=48)
    a = p.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="analyze-cycle-"))
    write_records(tmp / "records", a.rooms, a.meters, a.substations)
    rec = load_records(tmp / "records")
    influxd = Influxd(tmp / "influxd")
    influxd.start()
    try:
        store = InfluxStore.from_config(InfluxConfig(url=influxd.url, database="bench"))
        t = time.perf_counter()
        data = readings(a.rooms, a.meters, a.substations, a.hours)
        for i in range(0, len(data), 50_000):
            store.write(data[i:i + 50_000])
        print(f"loaded {len(data):,} points in {time.perf_counter() - t:.1f} s")
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


if __name__ == "__main__":
    main()
