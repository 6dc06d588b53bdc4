"""heatwatch's collector against its peer, Node-RED, side by side on the same broker and influxd.

    .venv/bin/python -m bench.nodered [--prefix DIR] [--arrays 3000] [--messages 30000]

Installs Node-RED 5 and node-red-contrib-influxdb into a temporary npm prefix (or reuses
`--prefix DIR`), with Node >= 22.9 from npm's `node@22` package, then runs, on one mosquitto
and one influxd started here, the same messages through:
  heatwatch  `heatwatch collect` as its own process (QoS 1, ack after a durable write)
  Node-RED   `mqtt in` (QoS 1) -> a function batching 1,000 points -> `influxdb batch`
and prints the table of issue 11: readings/s for arrays of 100 and for one reading per
message, CPU seconds per 100k readings both ways, peak RSS, and the readings each loses
when influxd is SIGKILLed for 20 s (both subscribed at once, the same messages).
Each phase runs --rounds times, heatwatch and Node-RED in turn, after influxd has settled
(compactions of the run before done); the table shows each figure's median. The arrays
phase also prints each process's CPU per 100k readings (ingester, influxd, mosquitto,
publishers, the bench's poller): on a 2-core machine they all share the cores. A run is
done when influxd's shard counters (writePointsOk) reach the readings sent, confirmed by
one count(); --count-polls polls count() instead, which scans every stored point and so
loads influxd more and more as the run goes. A heatwatch run's persistent session is
dropped after it, so the broker does not queue later runs' messages for it. --same-tags
adds a fair variant: the peer storing every tag heatwatch stores (the contract's tag set),
beside the table.
Not part of CI. Publishers and rate helpers are bench/ingest.py's.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from bench.ingest import run_publisher, wait_until
from district.records import load_records
from heatwatch.bootstrap import registry
from tests.harness import (
    CollectorProcess,
    Publisher,
    influx_count,
    room_district,
    room_messages,
    write_config,
)
from tests.services import Influxd, Mosquitto, free_port

PACKAGES = ("node@22", "node-red@5", "node-red-contrib-influxdb")
N_DEVICES = 200
CLK_TCK = os.sysconf("SC_CLK_TCK")

# The peer's flow: batches of 1,000 points, flushed every 200 ms when messages stop.
BATCHER = """
const items = Array.isArray(msg.payload) ? msg.payload : [msg.payload];
const dev = msg.topic.split("/")[2];
const buf = context.get("buf");
for (const r of items) {
  buf.push({measurement: "room", tags: TAGS(dev),
            fields: {temp_c: r.temp_c}, timestamp: Math.round(r.ts * 1000)});
}
if (buf.length >= 1000) {
  context.set("buf", []);
  return {payload: buf};
}
return null;
"""
BATCHER_START = """
context.set("buf", []);
context.set("timer", setInterval(() => {
  const buf = context.get("buf");
  if (buf.length) { context.set("buf", []); node.send({payload: buf}); }
}, 200));
"""
BATCHER_STOP = 'clearInterval(context.get("timer"));'


def install(prefix: Path) -> Path:
    """Node-RED and Node 22 under prefix (npm install); the node binary."""
    node = prefix / "node_modules" / ".bin" / "node"
    red = prefix / "node_modules" / "node-red" / "red.js"
    if not (node.exists() and red.exists()
            and (prefix / "node_modules" / "node-red-contrib-influxdb").exists()):
        print(f"npm install --prefix {prefix} {' '.join(PACKAGES)} ...", flush=True)
        subprocess.run(["npm", "install", "--prefix", str(prefix), "--no-audit", "--no-fund",
                        "--loglevel=error", *PACKAGES], check=True)
    version = subprocess.run([str(node), "--version"], capture_output=True, text=True,
                             check=True).stdout.strip()
    major, minor = (int(x) for x in version.lstrip("v").split(".")[:2])
    if (major, minor) < (22, 9):
        sys.exit(f"bench.nodered: node {version} from node@22 is older than 22.9")
    return node


# the peer's tags: the device id only (as measured in issue 11), or, for the fair variant,
# every tag heatwatch stores (its records' account, building, substation and room type)
DEVICE_ONLY = "const TAGS = (dev) => ({device_id: dev});\n"


def same_tags(records: Path) -> str:
    """The batcher's TAGS for the fair variant: heatwatch's own tags of each device."""
    tags = {d: dict(r.tags) for d, r in registry(load_records(records)).items()
            if r.kind == "room"}
    return (f"const ALL = {json.dumps(tags)};\n"
            "const TAGS = (dev) => Object.fromEntries("
            "Object.entries(ALL[dev]).filter(([k, v]) => v !== ''));\n")


def flows(mqtt_port: int, influx_port: int, database: str,
          client_id: str, tags: str = DEVICE_ONLY) -> list[dict[str, object]]:
    return [
        {"id": "tab", "type": "tab", "label": "bench"},
        {"id": "broker", "type": "mqtt-broker", "name": "mosquitto", "broker": "127.0.0.1",
         "port": str(mqtt_port), "clientid": client_id, "autoConnect": True, "usetls": False,
         "protocolVersion": "4", "keepalive": "60", "cleansession": True},
        {"id": "influx", "type": "influxdb", "hostname": "127.0.0.1", "port": str(influx_port),
         "protocol": "http", "database": database, "name": "influxd", "usetls": False,
         "influxdbVersion": "1.x"},
        {"id": "in", "type": "mqtt in", "z": "tab", "name": "", "topic": "heat/room/+",
         "qos": "1", "datatype": "json", "broker": "broker", "nl": False, "rap": True,
         "rh": 0, "inputs": 0, "x": 100, "y": 100, "wires": [["batch"]]},
        {"id": "batch", "type": "function", "z": "tab", "name": "batch 1000",
         "func": tags + BATCHER, "outputs": 1, "timeout": 0, "noerr": 0,
         "initialize": BATCHER_START,
         "finalize": BATCHER_STOP, "libs": [], "x": 300, "y": 100, "wires": [["write"]]},
        {"id": "write", "type": "influxdb batch", "z": "tab", "influxdb": "influx",
         "precision": "ms", "retentionPolicy": "", "name": "", "x": 500, "y": 100,
         "wires": []},
    ]


class NodeRed:
    """One Node-RED process running the peer flow against one database."""

    def __init__(self, node: Path, prefix: Path, workdir: Path, mqtt_port: int,
                 influx_port: int, database: str, tags: str = DEVICE_ONLY) -> None:
        self.node, self.prefix, self.workdir = node, prefix, workdir
        workdir.mkdir(parents=True, exist_ok=True)
        (workdir / "flows.json").write_text(json.dumps(
            flows(mqtt_port, influx_port, database, f"nodered-{database}", tags)))
        (workdir / "settings.js").write_text(
            f"module.exports = {{uiPort: {free_port()}, uiHost: '127.0.0.1', "
            "flowFile: 'flows.json', httpAdminRoot: false, httpNodeRoot: false, "
            "credentialSecret: false, "
            "logging: {console: {level: 'info', metrics: false, audit: false}}};\n")
        self.log = workdir / "node-red.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        red = self.prefix / "node_modules" / "node-red" / "red.js"
        self.proc = subprocess.Popen(
            [str(self.node), str(red), "--userDir", str(self.workdir), "--settings",
             str(self.workdir / "settings.js")],
            stdout=self.log.open("ab"), stderr=subprocess.STDOUT, cwd=self.workdir)
        wait_until(lambda: "Connected to broker" in self.log.read_text(errors="replace"), 120)

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def peak_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def create_database(influx: Influxd, name: str) -> None:
    c = http.client.HTTPConnection("127.0.0.1", influx.port, timeout=10)
    c.request("POST", "/query?" + urllib.parse.urlencode({"q": f'CREATE DATABASE "{name}"'}))
    c.getresponse().read()
    c.close()


@dataclass
class Run:
    readings_per_s: float
    cpu_per_100k_s: float
    peak_rss_mib: float
    # CPU s per 100k readings of every process taking part, the ingester's included
    breakdown: dict[str, float]
    polls: int

    def __str__(self) -> str:
        parts = ", ".join(f"{k} {v:.2f}" for k, v in self.breakdown.items())
        return (f"{self.readings_per_s:,.0f} readings/s, {self.cpu_per_100k_s:.2f} CPU s "
                f"per 100k readings, peak RSS {self.peak_rss_mib:.0f} MiB; CPU s per 100k "
                f"readings by process: {parts} ({self.polls} count polls)")


POLL_S = 0.02


def settle(pids: list[int], idle_core: float = 0.05, timeout_s: float = 60) -> None:
    """Until these processes use under idle_core of a core (influxd compacting what the run
    before wrote, Node-RED starting): a run does not pay for the one before it."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        before = sum(cpu_s(p) for p in pids)
        time.sleep(0.5)
        if sum(cpu_s(p) for p in pids) - before < idle_core * 0.5:
            return
# True: poll count() every POLL_S (each poll scans every stored point, loading influxd more
# as the run goes); False: poll influxd's shard counters, then confirm with one count()
COUNT_POLLS = False
# the devices: bench/devices.py's light publisher (a few µs of CPU a message), or paho's
# (about 110 µs: on 2 cores the load generator then takes a fifth of the machine from both)
PAHO_PUBLISHERS = False


def points_written(influx: Influxd, database: str) -> int:
    """Points influxd's shards of this database stored (writePointsOk; after the WAL write):
    a few counters read, not a scan of the data."""
    c = http.client.HTTPConnection("127.0.0.1", influx.port, timeout=10)
    c.request("GET", "/query?" + urllib.parse.urlencode({"q": "SHOW STATS FOR 'shard'"}))
    doc = json.loads(c.getresponse().read())
    c.close()
    total = 0
    for series in doc["results"][0].get("series", []):
        if series["tags"].get("database") == database:
            total += int(series["values"][0][series["columns"].index("writePointsOk")])
    return total


def measure(pid: int, influx: Influxd, database: str, mq: Mosquitto, n_messages: int,
            per: int, offset: int) -> Run:
    """Publish n_messages of per readings; time and CPU until all are in influxd."""
    want = n_messages * per
    assert influx.proc is not None and mq.proc is not None
    others = {"influxd": influx.proc.pid, "mosquitto": mq.proc.pid}
    settle([pid, *others.values()])
    p, go = run_publisher(mq.port, n_messages, per, offset, raw=not PAHO_PUBLISHERS)
    before = {name: cpu_s(q) for name, q in others.items()}
    cpu0, own0 = cpu_s(pid), time.process_time()
    polls = [0]

    def stored() -> bool:
        polls[0] += 1
        return influx_count(influx.url, database, "room", "temp_c") >= want

    t = time.perf_counter()
    go.set()
    if not COUNT_POLLS:
        # the counters also count other points (heatwatch's arrivals log): confirm by count
        wait_until(lambda: points_written(influx, database) >= want, 900, POLL_S)
    end = time.perf_counter()
    if not stored():
        wait_until(stored, 900, POLL_S)
        end = time.perf_counter()
    dt = end - t
    cpu = cpu_s(pid) - cpu0
    used = {name: cpu_s(q) - before[name] for name, q in others.items()}
    own = time.process_time() - own0
    p.join()
    per_100k = 100_000 / want
    breakdown = {"ingester": cpu * per_100k,
                 **{name: v * per_100k for name, v in used.items()},
                 "publishers": p.cpu_s() * per_100k, "bench poller": own * per_100k}
    return Run(want / dt, cpu * per_100k, peak_rss_mib(pid), breakdown, polls[0])


def heatwatch_run(tmp: Path, records: Path, mq: Mosquitto, influx: Influxd, label: str,
                  n: int, per: int, offset: int) -> Run:
    config = write_config(tmp / f"{label}.toml", records=records, data_dir=tmp / f"var-{label}",
                          mqtt_port=mq.port, influx_url=influx.url, database=label,
                          client_id=f"hw-{label}")
    config.write_text(config.read_text().replace("health_interval_s = 1.0",
                                                 "health_interval_s = 60.0"))
    proc = CollectorProcess(config, tmp / f"{label}.log")
    proc.start()
    wait_until(lambda: "connected to" in (tmp / f"{label}.log").read_text(), 60)
    time.sleep(0.5)
    assert proc.proc is not None
    try:
        return measure(proc.proc.pid, influx, label, mq, n, per, offset)
    finally:
        proc.sigterm()
        drop_session(mq, f"hw-{label}")


def drop_session(mq: Mosquitto, client_id: str) -> None:
    """Forget a stopped collector's persistent session: else the broker queues every later
    message of the bench for it, and each later run (either side's) pays for that."""
    c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
    c.connect("127.0.0.1", mq.port, clean_start=True)  # session expiry 0: gone at disconnect
    c.loop_start()
    wait_until(c.is_connected, 10)
    c.disconnect()
    c.loop_stop()


def nodered_run(node: Path, prefix: Path, tmp: Path, mq: Mosquitto, influx: Influxd,
                label: str, n: int, per: int, offset: int, tags: str = DEVICE_ONLY) -> Run:
    create_database(influx, label)
    red = NodeRed(node, prefix, tmp / label, mq.port, influx.port, label, tags)
    red.start()
    time.sleep(0.5)
    try:
        return measure(red.pid, influx, label, mq, n, per, offset)
    finally:
        red.stop()


def outage(node: Path, prefix: Path, tmp: Path, records: Path, mq: Mosquitto,
           influx: Influxd) -> tuple[int, int, int]:
    """Both subscribed at once; influxd SIGKILLed for 20 s mid-stream; what each stored."""
    create_database(influx, "nr_kill")
    red = NodeRed(node, prefix, tmp / "nr_kill", mq.port, influx.port, "nr_kill")
    red.start()
    config = write_config(tmp / "hw_kill.toml", records=records, data_dir=tmp / "var-hw_kill",
                          mqtt_port=mq.port, influx_url=influx.url, database="hw_kill",
                          client_id="hw-kill")
    hw = CollectorProcess(config, tmp / "hw_kill.log")
    hw.start()
    wait_until(lambda: "connected to" in (tmp / "hw_kill.log").read_text(), 60)
    messages = room_messages(N_DEVICES, 100, per_message=5)  # 20,000 readings
    want = N_DEVICES * 100
    killed: list[float] = []

    def kill(i: int) -> None:
        if i == len(messages) // 4:
            influx.kill()
            killed.append(time.monotonic())

    pub = Publisher(mq.port, client_id="bench-kill-devices")
    try:
        pub.publish(messages, rate_per_s=400, during=kill)
        pub.wait(300)
        time.sleep(max(0.0, killed[0] + 20 - time.monotonic()))
        influx.start()
        with contextlib.suppress(TimeoutError):
            wait_until(lambda: influx_count(influx.url, "hw_kill", "room", "temp_c") >= want,
                       120)
        time.sleep(3)  # the peer's last batch
        return (want, influx_count(influx.url, "hw_kill", "room", "temp_c"),
                influx_count(influx.url, "nr_kill", "room", "temp_c"))
    finally:
        pub.close()
        hw.sigterm()
        red.stop()


def print_breakdown(hw: Run, nr: Run) -> None:
    """The arrays phase's CPU per 100k readings, process by process, both sides."""
    print("\n| CPU s per 100k readings (arrays) | heatwatch | Node-RED |\n|---|---|---|")
    for name in hw.breakdown:
        print(f"| {name} | {hw.breakdown[name]:.2f} | {nr.breakdown[name]:.2f} |")
    print(f"| all | {sum(hw.breakdown.values()):.2f} | {sum(nr.breakdown.values()):.2f} |",
          flush=True)


def median_run(runs: list[Run]) -> Run:
    """Each figure's median over the rounds (the machine is shared: one round can be slow)."""
    def med(get: Callable[[Run], float]) -> float:
        return statistics.median(get(r) for r in runs)

    return Run(med(lambda r: r.readings_per_s), med(lambda r: r.cpu_per_100k_s),
               max(r.peak_rss_mib for r in runs),
               {k: statistics.median(r.breakdown[k] for r in runs) for k in runs[0].breakdown},
               sum(r.polls for r in runs))


@dataclass
class Bench:
    node: Path
    prefix: Path
    tmp: Path
    records: Path
    mq: Mosquitto
    influx: Influxd
    rounds: int

    def phase(self, name: str, n: int, per: int, offset: int,
              tags: str | None = None) -> tuple[Run, Run]:
        """heatwatch and the peer in turn, rounds times; the medians of each side."""
        hw: list[Run] = []
        nr: list[Run] = []
        for i in range(self.rounds):
            if tags is None:
                hw.append(heatwatch_run(self.tmp, self.records, self.mq, self.influx,
                                        f"hw_{name}_{i}", n, per, offset))
                print(f"heatwatch {name} {i + 1}/{self.rounds}: {hw[-1]}", flush=True)
            nr.append(nodered_run(self.node, self.prefix, self.tmp, self.mq, self.influx,
                                  f"nr_{name}_{i}", n, per, offset, tags or DEVICE_ONLY))
            print(f"Node-RED {name} {i + 1}/{self.rounds}: {nr[-1]}", flush=True)
        return (median_run(hw) if hw else nr[0]), median_run(nr)


def print_table(hw_a: Run, nr_a: Run, hw_1: Run, nr_1: Run) -> None:
    rows = [
        ("arrays of 100, readings/s", hw_a.readings_per_s, nr_a.readings_per_s, "{:,.0f}"),
        ("1 reading/message, readings/s", hw_1.readings_per_s, nr_1.readings_per_s,
         "{:,.0f}"),
        ("CPU s per 100k readings (single)", hw_1.cpu_per_100k_s, nr_1.cpu_per_100k_s,
         "{:.2f}"),
        ("CPU s per 100k readings (arrays)", hw_a.cpu_per_100k_s, nr_a.cpu_per_100k_s,
         "{:.2f}"),
        ("peak RSS, MiB", max(hw_a.peak_rss_mib, hw_1.peak_rss_mib),
         max(nr_a.peak_rss_mib, nr_1.peak_rss_mib), "{:.0f}"),
    ]
    print("\n| | heatwatch | Node-RED | ratio |\n|---|---|---|---|")
    for name, h, r, fmt in rows:
        print(f"| {name} | {fmt.format(h)} | {fmt.format(r)} | {h / r:.2f} |")


def arguments() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--prefix", type=Path, help="npm prefix to install into or reuse "
                    "(default: a temporary one, removed at the end)")
    ap.add_argument("--arrays", type=int, default=3_000, help="messages of 100 readings")
    ap.add_argument("--messages", type=int, default=30_000, help="messages of 1 reading")
    ap.add_argument("--rounds", type=int, default=3,
                    help="rounds of each phase, heatwatch and Node-RED in turn; the table "
                    "shows each figure's median")
    ap.add_argument("--no-outage", action="store_true", help="skip the influxd SIGKILL run")
    ap.add_argument("--arrays-only", action="store_true",
                    help="only the arrays of 100 (no single-reading or outage runs)")
    ap.add_argument("--same-tags", action="store_true",
                    help="also run the peer storing every tag heatwatch stores (a fair variant "
                    "of the arrays phase, printed beside the table)")
    ap.add_argument("--poll-ms", type=float, default=POLL_S * 1000,
                    help="how often completion is polled")
    ap.add_argument("--count-polls", action="store_true",
                    help="poll count() instead of influxd's shard counters (the old way, with "
                    "--poll-ms 5): each count() scans the stored points and loads influxd "
                    "more and more as the run goes")
    ap.add_argument("--paho-publishers", action="store_true",
                    help="publish with paho clients (as up to stop 17) instead of the light "
                    "raw-socket publisher of bench/devices.py")
    return ap.parse_args()


def main() -> None:
    global POLL_S, COUNT_POLLS, PAHO_PUBLISHERS
    args = arguments()
    PAHO_PUBLISHERS = args.paho_publishers
    POLL_S = args.poll_ms / 1000
    COUNT_POLLS = args.count_polls
    tmp = Path(tempfile.mkdtemp(prefix="bench-nodered-"))
    prefix = args.prefix or tmp / "npm"
    mq = Mosquitto(tmp / "mq")
    influx = Influxd(tmp / "influx")
    try:
        node = install(prefix)
        mq.start()
        influx.start()
        b = Bench(node, prefix, tmp, room_district(tmp / "records", N_DEVICES), mq, influx,
                  args.rounds)
        version = subprocess.run([str(node), "--version"], capture_output=True,
                                 text=True).stdout.strip()
        print(f"mosquitto QoS 1, influxd 1.6.7, node {version}, {os.cpu_count()} cores, "
              f"load average {os.getloadavg()[0]:.1f}; publishers: "
              f"{'paho' if PAHO_PUBLISHERS else 'raw socket (bench/devices.py)'}", flush=True)
        hw_a, nr_a = b.phase("arrays", args.arrays, 100, 1_000_000)
        print(f"\narrays of 100 (medians): heatwatch {hw_a.readings_per_s:,.0f} readings/s, "
              f"Node-RED {nr_a.readings_per_s:,.0f} (ratio "
              f"{hw_a.readings_per_s / nr_a.readings_per_s:.2f})")
        print_breakdown(hw_a, nr_a)
        if args.same_tags:
            _, nr_t = b.phase("arrays_tags", args.arrays, 100, 1_000_000,
                              same_tags(b.records))
            ratio = hw_a.readings_per_s / nr_t.readings_per_s
            print(f"\nfair variant, arrays of 100, the peer storing heatwatch's tags: "
                  f"heatwatch {hw_a.readings_per_s:,.0f} readings/s, Node-RED "
                  f"{nr_t.readings_per_s:,.0f} (ratio {ratio:.2f}); CPU s per 100k readings "
                  f"{hw_a.cpu_per_100k_s:.2f} vs {nr_t.cpu_per_100k_s:.2f}")
            print_breakdown(hw_a, nr_t)
        if args.arrays_only:
            return
        hw_1, nr_1 = b.phase("single", args.messages, 1, 0)
        lost = None if args.no_outage else outage(node, prefix, tmp, b.records, mq, influx)
        print_table(hw_a, nr_a, hw_1, nr_1)
        if lost:
            want, hw_n, nr_n = lost
            print(f"| influxd SIGKILLed for 20 s: readings lost | {want - hw_n:,} of {want:,} "
                  f"| {want - nr_n:,} of {want:,} | — |")
        print(f"load average at the end {os.getloadavg()[0]:.1f}")
    finally:
        mq.kill()
        influx.kill()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
