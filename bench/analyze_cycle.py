"""Analyzer cycles reading from a real InfluxDB, the old full-window cycle and the incremental
one (issue 11) side by side: the steady substation cycle, the room cycle, the hourly meter cycle,
the first cycle (the state's build) and each side's peak RSS (each side in its own process).

    .venv/bin/python -m bench.analyze_cycle [--rooms 10000 --meters 10000 --substations 50]
    .venv/bin/python -m bench.analyze_cycle --scale 10%   # 30%, 100%: of the city
    .venv/bin/python -m bench.analyze_cycle --scale 10%,30%,100% --old-up-to 10%  # the curve
    .venv/bin/python -m bench.analyze_cycle --scale 100% --load-only

Starts its own influxd (tests.services.Influxd) on loopback, writes a synthetic 48 h district
(rooms hourly, meters hourly, substations every 5 min, with a few faults). The old side runs
one full cycle an hour later; the new side builds its state, then the next hour lands (through
the arrivals log) and each kind's cycle runs at its time.

The district is loaded as raw line protocol straight to influxd's /write (several requests
in flight), series by series (each series' 48 h together, which costs influxd far less CPU per
line than hour by hour) so memory stays flat; the lines are exactly those the Store would
write for `readings()` (tests/test_bench_loader.py checks it). `--store-loader` loads
through `InfluxStore.write` instead, as a baseline for the loader's rate. The load reports
lines/s (InfluxDB's points), field values/s and influxd's CPU per line: on this machine
influxd, not the loader, sets the rate.
"""

from __future__ import annotations

import argparse
import http.client
import multiprocessing
import os
import resource
import shutil
import tempfile
import threading
import time
import urllib.parse
import zoneinfo
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from analyzer.config import AnalyzerConfig
from analyzer.runner import Runner, Watermarks
from analyzer.state import WindowState
from district.readings import Reading
from district.records import load_records
from storage.arrivals import ArrivalsLog
from storage.config import InfluxConfig
from storage.influx import InfluxStore
from tests.services import Influxd
from workflow.incidents import IncidentStore

T0_MS = 1_733_068_800_000  # 2024-12-02T00:00+08:00
H = 3_600_000

# docs/rules.md, scale: one large city
CITY = {"rooms": 16_000, "meters": 500_000, "substations": 1_500}
LINES_PER_REQUEST = 10_000
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


def _series(prefix: bytes, suffixes: list[bytes]) -> bytes:
    """One series' lines: its prefix before each ` fields time\n` suffix (one join in C)."""
    return prefix + prefix.join(suffixes) if suffixes else b""


def _packed(blocks: Iterator[tuple[bytes, int]], lines_per_chunk: int
            ) -> Iterator[tuple[bytes, int]]:
    """Series blocks packed into bodies of at most lines_per_chunk lines (a longer block is
    cut), so each request carries whole runs of a few series rather than one point of many."""
    buf: list[bytes] = []
    n = 0
    for block, k in blocks:
        if k > lines_per_chunk:
            lines = block.splitlines(keepends=True)
            for i in range(0, k, lines_per_chunk):
                yield b"".join(lines[i:i + lines_per_chunk]), len(lines[i:i + lines_per_chunk])
            continue
        if n + k > lines_per_chunk:
            yield b"".join(buf), n
            buf, n = [], 0
        buf.append(block)
        n += k
    if buf:
        yield b"".join(buf), n


def line_chunks(rooms: int, meters: int, subs: int, hours: int,
                lines_per_chunk: int = 0, first_hour: int = 0) -> Iterator[tuple[bytes, int]]:
    """`readings()` from first_hour on, as line-protocol bodies of at most lines_per_chunk
    lines (each of one measurement), with their count.

    Ordered by series, then time: influxd takes a run of one series' points for far less CPU
    than the same points spread over many series (its cache and WAL group a request by series).
    Built from cached series prefixes and per-hour suffixes: only the values that change are
    formatted, so the loader outruns influxd instead of the other way round.
    """
    lines_per_chunk = lines_per_chunk or LINES_PER_REQUEST
    span = range(first_hour, hours)
    ts = [T0_MS + h * H for h in span]
    rng = np.random.default_rng(1)
    temp = np.empty((hours, rooms))
    for h in range(hours):
        temp[h] = np.round(20.5 + rng.normal(0, 0.3, rooms), 1)
        temp[h, :5] = 15.0  # five cold rooms
    temps = temp[first_hour:].T.tolist()
    yield from _packed(iter([(b"".join(b"weather,device_id=WX outdoor_c=-5.0 %d\n" % t
                                       for t in ts), len(ts))]), lines_per_chunk)
    yield from _packed((("".join(f"{_room_prefix(i, subs)}{x!r} {t}\n"
                                 for x, t in zip(temps[i], ts, strict=True)).encode(), len(ts))
                        for i in range(rooms)), lines_per_chunk)
    plain = [f" {_meter_fields(h, 55.0)} {t}\n".encode() for h, t in zip(span, ts, strict=True)]
    # one open sensor on meter 7
    open_7 = [f" {_meter_fields(h, 185.0 if 10 <= h < 16 else 55.0)} {t}\n".encode()
              for h, t in zip(span, ts, strict=True)]
    yield from _packed(((_series(_meter_prefix(i, subs), open_7 if i == 7 else plain), len(ts))
                        for i in range(meters)), lines_per_chunk)
    sub_on = "supply_c=55.0,return_c=45.0,supply_mpa=0.45,return_mpa=0.35,flow_m3h=120.0," \
             "makeup_m3h=0.5,pump_on=true,outdoor_c=-5.0"
    sub_off = "supply_c=20.0,return_c=19.5,supply_mpa=0.45,return_mpa=0.35,flow_m3h=0.0," \
              "makeup_m3h=0.5,pump_on=false,outdoor_c=-5.0"
    slots = [(h, t + k * 300_000) for h, t in zip(span, ts, strict=True) for k in range(12)]
    on = [f" {sub_on} {t5}\n".encode() for _, t5 in slots]
    trip = [f" {sub_off if 10 <= h < 20 else sub_on} {t5}\n".encode()  # one 10 h pump trip
            for h, t5 in slots]
    yield from _packed(((_series(f"substation,device_id=SUB{s},substation_id=S{s}".encode(),
                                 trip if s == 1 else on), len(slots))
                        for s in range(subs)), lines_per_chunk)


def values_per_hour(rooms: int, meters: int, subs: int) -> int:
    """Field values `readings()` holds per hour: 1 per room and the weather, 7 per meter,
    8 per substation reading (12 an hour)."""
    return rooms + 1 + 7 * meters + 8 * 12 * subs


class BenchInfluxd(Influxd):
    """The test influxd without the per-tag, per-database and cache limits a city exceeds.

    InfluxDB 1.x refuses a 100,001st value of one tag (max-values-per-tag): 500k meters
    are 500k device ids.
    """

    def command(self) -> list[str]:
        cmd = super().command()
        conf = self.workdir / "influxdb.conf"
        conf.write_text(conf.read_text().replace(
            "[data]\n", "[data]\n  max-values-per-tag = 0\n  max-series-per-database = 0\n"
            # the loader outruns the cache's snapshots for a while: do not refuse writes
            '  cache-max-memory-size = "8g"\n', 1))
        return cmd


def load_raw(store: InfluxStore, rooms: int, meters: int, subs: int, hours: int,
             in_flight: int = REQUESTS_IN_FLIGHT) -> int:
    """The district straight to influxd's /write, `in_flight` requests at a time (a thread
    and a keep-alive connection each); lines sent."""
    store.query_csv("SHOW DATABASES")  # creates the database and its retention policy
    url = urllib.parse.urlsplit(store.url)
    path = "/write?" + urllib.parse.urlencode({"db": store.database,
                                               "rp": store.retention_policy, "precision": "ms"})
    local = threading.local()

    def post(body: bytes) -> None:
        conn = getattr(local, "conn", None)
        if conn is None:
            conn = local.conn = http.client.HTTPConnection(url.hostname or "127.0.0.1",
                                                           url.port or 8086, timeout=600)
        conn.request("POST", path, body, {"Content-Type": "text/plain; charset=utf-8"})
        resp = conn.getresponse()
        text = resp.read()
        if resp.status != 204:  # a refused or failed write stops the bench loudly
            raise SystemExit(f"influxd /write: HTTP {resp.status}: {text[:300]!r}")

    total = 0
    built_s = 0.0
    pending: deque[Future[None]] = deque()
    with ThreadPoolExecutor(in_flight) as pool:
        chunks = line_chunks(rooms, meters, subs, hours)
        while True:
            t = time.perf_counter()
            item = next(chunks, None)
            built_s += time.perf_counter() - t
            if item is None:
                break
            body, n = item
            pending.append(pool.submit(post, body))
            total += n
            while len(pending) > 2 * in_flight:  # bounded memory: a few bodies ahead
                pending.popleft().result()
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


def _in_child(fn: Callable[[Path, str, argparse.Namespace, Any], None], tmp: Path, url: str,
              a: argparse.Namespace) -> dict[str, float]:
    """Run one side in a forked process, so each reports its own peak RSS."""
    ctx = multiprocessing.get_context("fork")
    q: Any = ctx.Queue()
    proc = ctx.Process(target=fn, args=(tmp, url, a, q))
    proc.start()
    out = dict(q.get())
    proc.join()
    if proc.exitcode != 0:
        raise SystemExit(f"bench side {fn.__name__} failed ({proc.exitcode})")
    return out


def _cpu_s(proc: Influxd) -> float:
    """CPU seconds a service process has used so far (user and system, from /proc)."""
    assert proc.proc is not None
    try:
        stat = Path(f"/proc/{proc.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    return (int(stat[11]) + int(stat[12])) / os.sysconf("SC_CLK_TCK")


def _rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _runner(tmp: Path, url: str, name: str, at_ms: int) -> Runner:
    rec = load_records(tmp / "records")
    store = ArrivalsLog(InfluxStore.from_config(InfluxConfig(url=url, database="bench")))
    path = tmp / f"{name}.sqlite"
    marks = Watermarks(path)
    marks.set("cycle", at_ms - 300_000)  # a running analyzer: no catch-up in the figure
    return Runner(store, rec, IncidentStore(path), AnalyzerConfig(),
                  zoneinfo.ZoneInfo("Asia/Shanghai"), marks)


def _old_cycle(tmp: Path, url: str, a: argparse.Namespace, q: Any) -> None:
    """The old analyzer: every cycle reads the whole window (as of the meter cycle's time)."""
    at = T0_MS + (a.hours + 1) * H + 5 * 60_000
    runner = _runner(tmp, url, "old", at)
    t = time.perf_counter()
    res = runner.run_cycle(at)
    full = time.perf_counter() - t
    ts = res.evaluation.timings_s
    print(f"old full cycle: read {ts['read']:.2f} s, kernels {ts['kernels']:.2f} s, write "
          f"{ts['write']:.2f} s; {len(res.evaluation.incidents)} incidents")
    q.put({"full": full, "rss_mib": _rss_mib()})


def _new_cycles(tmp: Path, url: str, a: argparse.Namespace, q: Any) -> None:
    """The incremental analyzer: build the state once, then the next hour lands piece by piece
    (through the arrivals log) and each kind's cycle runs at its time."""
    at = T0_MS + a.hours * H
    runner = _runner(tmp, url, "new", at)
    runner.state = WindowState(runner.reader, tmp / "state")
    store: Any = runner.store
    t = time.perf_counter()
    runner.run_cycle(at)
    out = {"build": time.perf_counter() - t}
    # the next hour's data, by kind, as the collectors would store it
    parts: dict[str, list[bytes]] = {"substation": [], "last": [], "room": [], "meter": []}
    last = b" %d\n" % (at + H - 300_000)
    for body, _ in line_chunks(a.rooms, a.meters, a.substations, a.hours + 1,
                               first_hour=a.hours):
        kind = "room" if body.startswith((b"room", b"weather")) else \
            "meter" if body.startswith(b"meter") else "substation"
        if kind == "substation":
            lines = body.splitlines(keepends=True)
            parts["last"].append(b"".join(x for x in lines if x.endswith(last)))
            body = b"".join(x for x in lines if not x.endswith(last))
        parts[kind].append(body)
    # steady: the substations' last 5 minutes land, their hour is re-read (the arrivals log)
    plan = [("substation", at + H + 60_000, "substation"),
            ("last", at + H + 120_000, "substation"),
            ("room", at + H + 180_000, "room"), ("meter", at + H + 300_000, "meter")]
    for write, when, kind in plan:
        if write is not None:
            for body in parts[write]:
                store.write_encoded(body)
        t = time.perf_counter()
        res = runner.run_kind(when, kind)
        took = time.perf_counter() - t
        if write != "substation":  # the first substation cycle reads the hour it missed
            out[kind] = took
            out[kind + "_read"] = res.evaluation.timings_s["read"]
        print(f"incremental {kind} cycle at +{(when - at) // 60_000} min: read "
              f"{res.evaluation.timings_s['read']:.2f} s, kernels "
              f"{res.evaluation.timings_s['kernels']:.2f} s, write "
              f"{res.evaluation.timings_s['write']:.2f} s "
              f"({runner.writeback.points_written:,} of "
              f"{sum(len(g) for g in res.evaluation.derived):,} derived points changed), "
              f"total {took:.2f} s", flush=True)
    out["rss_mib"] = _rss_mib()
    q.put(out)


def _scaled(text: str) -> list[float]:
    shares = []
    for part in text.split(","):
        share = float(part.rstrip("%")) / (100 if part.endswith("%") else 1)
        if not 0 < share <= 1:
            raise argparse.ArgumentTypeError(f"--scale must be in (0, 100%], got {part}")
        shares.append(share)
    return shares


def _load(tmp: Path, influxd: BenchInfluxd, a: argparse.Namespace) -> dict[str, float]:
    """Load the district; its rates."""
    store = InfluxStore.from_config(InfluxConfig(url=influxd.url, database="bench"))
    cpu0 = _cpu_s(influxd)
    t = time.perf_counter()
    if a.store_loader:
        n = load_through_store(store, a.rooms, a.meters, a.substations, a.hours)
    else:
        n = load_raw(store, a.rooms, a.meters, a.substations, a.hours, a.in_flight)
    dt = time.perf_counter() - t
    store.close()
    cpu = _cpu_s(influxd) - cpu0
    values = values_per_hour(a.rooms, a.meters, a.substations) * a.hours
    how = "InfluxStore.write" if a.store_loader else \
        f"raw line protocol, {a.in_flight} requests in flight"
    load = os.getloadavg()[0]
    print(f"loaded {n:,} lines = points ({values:,} field values; {a.rooms:,} rooms, "
          f"{a.meters:,} meters, {a.substations:,} substations, {a.hours} h) in {dt:.1f} s: "
          f"{n / dt:,.0f} lines/s, {values / dt:,.0f} values/s ({how}); influxd used "
          f"{cpu:.1f} CPU s ({n / max(cpu, 1e-9):,.0f} lines per CPU s); load average "
          f"{load:.2f}", flush=True)
    return {"lines_s": n / dt, "values_s": values / dt, "load_s": dt, "load_avg": load}


def run_size(a: argparse.Namespace, with_old: bool) -> dict[str, float]:
    """One district size on its own influxd: load, then each side in its own process."""
    tmp = Path(tempfile.mkdtemp(prefix="analyze-cycle-"))
    write_records(tmp / "records", a.rooms, a.meters, a.substations)
    influxd = BenchInfluxd(tmp / "influxd")
    influxd.start()
    try:
        out = _load(tmp, influxd, a)
        if a.load_only:
            return out
        old = _in_child(_old_cycle, tmp, influxd.url, a) if with_old else None
        new = _in_child(_new_cycles, tmp, influxd.url, a)
        out.update(new)
        out["cycle_load_avg"] = os.getloadavg()[0]
        print(f"\n{a.rooms:,} rooms, {a.meters:,} meters, {a.substations:,} substations, "
              f"{a.hours} h look-back (old: one full-window cycle for every kind); load average "
              f"{out['cycle_load_avg']:.2f}")
        print(f"{'':34}{'old full-window':>18}{'incremental':>14}")

        def old_s(key: str) -> str:
            return f"{old[key]:>16.2f} s" if old else f"{'(skipped)':>18}"

        for key, what in (("substation", "steady substation cycle"),
                          ("room", "room cycle"), ("meter", "hourly meter cycle")):
            print(f"{what:34}{old_s('full')}{new[key]:>12.2f} s"
                  f"   (incremental read {new[key + '_read']:.2f} s)")
        print(f"{'first cycle / state build':34}{old_s('full')}{new['build']:>12.2f} s")
        rss = f"{old['rss_mib']:>14,.0f} MiB" if old else f"{'(skipped)':>18}"
        print(f"{'peak RSS':34}{rss}{new['rss_mib']:>10,.0f} MiB", flush=True)
        return out
    finally:
        influxd.kill()
        shutil.rmtree(tmp, ignore_errors=True)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--rooms", type=int, default=10_000)
    p.add_argument("--meters", type=int, default=10_000)
    p.add_argument("--substations", type=int, default=50)
    p.add_argument("--hours", type=int, default=48)
    p.add_argument("--scale", type=_scaled, default=None,
                   help="shares of the city (16k rooms, 500k meters, 1,500 substations), "
                        "comma-separated: 10%%,30%%,100%% runs each and prints the scaling "
                        "curve; overrides --rooms/--meters/--substations")
    p.add_argument("--old-up-to", type=_scaled, default=[1.0],
                   help="run the old full-window baseline only up to this share (it reads the "
                        "whole window: at a city's size that alone takes many minutes)")
    p.add_argument("--load-only", action="store_true", help="load, report the rate, stop")
    p.add_argument("--in-flight", type=int, default=REQUESTS_IN_FLIGHT,
                   help="concurrent /write requests of the raw loader")
    p.add_argument("--store-loader", action="store_true",
                   help="load through InfluxStore.write (the old loader) as a baseline")
    a = p.parse_args()
    if a.scale is None:
        run_size(a, True)
        return
    curve = []
    for share in a.scale:
        a.rooms, a.meters, a.substations = (max(1, round(CITY[k] * share))
                                            for k in ("rooms", "meters", "substations"))
        with_old = share <= a.old_up_to[0] + 1e-9
        print(f"\n== {share:.0%} of the city"
              + ("" if with_old else " (old full-window baseline skipped: --old-up-to)"),
              flush=True)
        curve.append((share, run_size(a, with_old)))
    print(f"\nscaling curve ({a.hours} h look-back; incremental cycles; goals: substation "
          "<= 2 s, room <= 10 s, meter <= 60 s, RSS <= 4 GB at 100%)")
    print(f"{'size':>6}{'load lines/s':>14}{'values/s':>12}{'substation':>12}{'room':>8}"
          f"{'meter':>8}{'build':>9}{'peak RSS':>11}{'load avg':>10}")
    for share, r in curve:
        if a.load_only:
            print(f"{share:>6.0%}{r['lines_s']:>14,.0f}{r['values_s']:>12,.0f}"
                  f"{'':>48}{r['load_avg']:>10.2f}")
            continue
        print(f"{share:>6.0%}{r['lines_s']:>14,.0f}{r['values_s']:>12,.0f}"
              f"{r['substation']:>10.2f} s{r['room']:>6.2f} s{r['meter']:>6.2f} s"
              f"{r['build']:>7.1f} s{r['rss_mib']:>7,.0f} MiB{r['cycle_load_avg']:>10.2f}")


if __name__ == "__main__":
    main()
