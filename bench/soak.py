"""Soak: mixed valid and hostile MQTT traffic for many minutes, with crashes, nothing lost.

Runs a real mosquitto and influxd on loopback and `heatwatch collect` as its own process
(as compose runs it). A publisher process sends valid room readings (arrays of 10) at
--rate readings/s plus hostile messages (huge numbers, int64 overflow, deep nesting,
invalid UTF-8, unknown kinds and devices, bad JSON, oversize, NaN, mixed arrays). Meanwhile
influxd is SIGKILLed twice (down 20 s each) and the collector SIGKILLed twice (down 5 s).
At the end it waits for the spool to drain and reports: valid readings published, stored
(distinct points in InfluxDB), lost (published - stored; must be 0), hostile elements
published, dead letters (a message dead-lettered but not yet acked when the collector was
killed is redelivered and dead-lettered again), and the collector's RSS: after the first
minute (the baseline) and the peak over the run.
Usage: .venv/bin/python -m bench.soak [--minutes 30] [--rate 5000] [--rooms 500]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import paho.mqtt.client as mqtt  # noqa: E402
from paho.mqtt.enums import CallbackAPIVersion  # noqa: E402

from collector.deadletter import DeadLetters  # noqa: E402
from tests.harness import CollectorProcess, influx_count, room_district, write_config  # noqa: E402
from tests.services import Influxd, Mosquitto  # noqa: E402

PER_MESSAGE = 10
HOSTILE_PER_S = 20
T0 = int(time.time()) - 3 * 86400  # inside the 1830-day retention, before now

METER_BAD = {"ts": T0, "energy_kwh": 1.0, "volume_m3": 1.0, "power_kw": 1.0, "flow_m3h": 1.0,
             "supply_c": 55.0, "return_c": 45.0, "status": 2**63}
# (topic, payload, dead-lettered elements); the mixed array is built per use
HOSTILE: list[tuple[str, bytes, int]] = [
    ("heat/room/r1", b'{"ts":1765000000,"temp_c":1' + b"0" * 400 + b"}", 1),
    ("heat/meter/m1", json.dumps(METER_BAD).encode(), 1),
    ("heat/room/r1", b"[" * 50_000 + b"]" * 50_000, 1),
    ("heat/room/r1", b'{"ts":1765000000,"temp_c":\xff\xfe}', 1),
    ("heat/boiler/x", b'{"ts":1765000000,"temp_c":20}', 1),
    ("heat/room/ghost", b'{"ts":1765000000,"temp_c":20}', 1),
    ("heat/room/r1", b"{oops", 1),
    ("heat/room/r1", b"[" + b" " * 300_000 + b"]", 1),
    ("heat/room/r1", b'{"ts":1765000000,"temp_c":NaN}', 1),
    ("heat/room/r1/extra", b'{"ts":1765000000,"temp_c":20}', 1),
]


def publish(port: int, seconds: float, rate: int, rooms: int, out: Any) -> None:
    """The devices: valid arrays at `rate` readings/s and HOSTILE_PER_S hostile messages/s."""
    c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="soak-devices",
                    protocol=mqtt.MQTTv311, clean_session=False)
    c.max_inflight_messages_set(2000)
    c.max_queued_messages_set(0)
    c.connect("127.0.0.1", port)
    c.loop_start()
    msgs_per_s = rate / PER_MESSAGE
    valid = hostile_elems = hostile_msgs = 0
    mixed_ts = T0
    step = [0] * rooms  # per device: the next array's index
    start = time.monotonic()
    n = h = 0
    infos = []
    while (elapsed := time.monotonic() - start) < seconds:
        while n < elapsed * msgs_per_s:
            dev = n % rooms
            k = step[dev]
            step[dev] += 1
            docs = [{"ts": T0 + k * PER_MESSAGE + j, "temp_c": 18 + (j % 40) / 10}
                    for j in range(PER_MESSAGE)]
            infos.append(c.publish(f"heat/room/q{dev:04d}", json.dumps(docs).encode(), qos=1))
            valid += PER_MESSAGE
            n += 1
        while h < elapsed * HOSTILE_PER_S:
            if h % (len(HOSTILE) + 1) == len(HOSTILE):
                # an array with one good and one bad element: the good one is kept
                mixed_ts += 1
                payload = json.dumps([{"ts": mixed_ts, "temp_c": 20.5},
                                      {"ts": mixed_ts, "temp_c": "warm"}]).encode()
                infos.append(c.publish("heat/room/r1", payload, qos=1))
                valid += 1
                hostile_elems += 1
            else:
                topic, payload, dead = HOSTILE[h % (len(HOSTILE) + 1)]
                infos.append(c.publish(topic, payload, qos=1))
                hostile_elems += dead
            hostile_msgs += 1
            h += 1
        time.sleep(0.01)
        if len(infos) > 50_000:
            infos = [i for i in infos if not _acked(i)]
    deadline = time.monotonic() + 600
    while not all(map(_acked, infos)) and time.monotonic() < deadline:
        time.sleep(0.1)
    c.disconnect()
    c.loop_stop()
    out.put({"valid": valid, "valid_messages": n, "hostile_elements": hostile_elems,
             "hostile_messages": hostile_msgs, "seconds": time.monotonic() - start})


def _acked(info: mqtt.MQTTMessageInfo) -> bool:
    # is_published() raises for a message first sent while disconnected (see tests/harness)
    return bool(info._published)


def rss_kb(pid: int, field: str = "VmRSS") -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def wait_stored(influx: Influxd, want: int) -> None:
    """Until InfluxDB holds `want` room points, or nothing new arrives for two minutes."""
    last, still = -1, time.monotonic()
    while True:
        stored = influx_count(influx.url, "heatwatch", "room", "temp_c")
        if stored >= want:
            return
        if stored != last:
            last, still = stored, time.monotonic()
        elif time.monotonic() - still > 120:
            return  # what is missing now is lost
        time.sleep(2)


def report(args: argparse.Namespace, published: dict[str, Any], stored: int,
           counts: dict[str, int], baseline_kb: int, peak_kb: int, status: int,
           tmp: Path) -> None:
    want = published["valid"]
    print()
    print(f"soak: {args.minutes:g} min, {args.rate} valid readings/s in arrays of "
          f"{PER_MESSAGE} + {HOSTILE_PER_S} hostile messages/s; influxd killed twice "
          "(20 s down), collector killed twice (5 s down)")
    print(f"  valid readings published   {want:>12,}")
    print(f"  stored in InfluxDB         {stored:>12,}")
    print(f"  lost                       {want - stored:>12,}")
    print(f"  hostile messages published {published['hostile_messages']:>12,} "
          f"({published['hostile_elements']:,} refused elements)")
    print(f"  dead letters               {sum(counts.values()):>12,}  "
          + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
    print(f"  collector RSS after 1 min  {baseline_kb / 1024:>10.0f} MB (baseline)")
    print(f"  collector peak RSS         {peak_kb / 1024:>10.0f} MB")
    print(f"  collector exit on SIGTERM  {status:>12}")
    print(f"  logs and data: {tmp}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--minutes", type=float, default=30.0)
    ap.add_argument("--rate", type=int, default=5000, help="valid readings per second")
    ap.add_argument("--rooms", type=int, default=500)
    args = ap.parse_args()
    seconds = args.minutes * 60

    tmp = Path(tempfile.mkdtemp(prefix="heatwatch-soak-"))
    mq = Mosquitto(tmp / "mosquitto")
    influx = Influxd(tmp / "influxd")
    mq.start()
    influx.start()
    config = write_config(tmp / "heatwatch.toml", records=room_district(tmp / "records",
                                                                        args.rooms),
                          data_dir=tmp / "var", mqtt_port=mq.port, influx_url=influx.url)
    collector = CollectorProcess(config, tmp / "collector.log")
    collector.start()
    deadline = time.monotonic() + 30
    while "connected to" not in (tmp / "collector.log").read_text():
        if time.monotonic() > deadline:
            raise SystemExit(f"collector did not connect; see {tmp / 'collector.log'}")
        time.sleep(0.2)

    ctx = mp.get_context("spawn")
    out = ctx.Queue()
    pub = ctx.Process(target=publish, args=(mq.port, seconds, args.rate, args.rooms, out))
    pub.start()
    started = time.monotonic()
    events: list[str] = []
    peak_kb = [0]
    baseline_kb = [0]
    sampling = threading.Event()

    def sample() -> None:
        while not sampling.is_set():
            if collector.proc is not None:
                kb = max(rss_kb(collector.proc.pid), rss_kb(collector.proc.pid, "VmHWM"))
                peak_kb[0] = max(peak_kb[0], kb)
                if not baseline_kb[0] and time.monotonic() - started >= 60:
                    baseline_kb[0] = rss_kb(collector.proc.pid)
            time.sleep(1.0)

    threading.Thread(target=sample, daemon=True).start()

    def at(fraction: float) -> None:
        wait = started + fraction * seconds - time.monotonic()
        if wait > 0:
            time.sleep(wait)

    def log(what: str) -> None:
        line = f"{time.monotonic() - started:7.1f} s  {what}"
        events.append(line)
        print(line, flush=True)

    for fraction, what in ((0.2, "influxd"), (0.4, "collector"), (0.6, "influxd"),
                           (0.8, "collector")):
        at(fraction)
        if what == "influxd":
            influx.kill()
            log("influxd SIGKILLed")
            time.sleep(20)
            influx.start()
            log("influxd restarted")
        else:
            if collector.proc is not None:
                peak_kb[0] = max(peak_kb[0], rss_kb(collector.proc.pid, "VmHWM"))
            collector.sigkill()
            log("collector SIGKILLed")
            time.sleep(5)
            collector.start()
            log("collector restarted")

    published = out.get(timeout=seconds + 900)
    pub.join()
    log(f"publisher done: {published['valid']} valid readings in "
        f"{published['seconds']:.0f} s, all acknowledged by the broker")
    want = published["valid"]
    wait_stored(influx, want)
    log("stored count settled")
    if collector.proc is not None:
        peak_kb[0] = max(peak_kb[0], rss_kb(collector.proc.pid, "VmHWM"))
    status = collector.sigterm(60)
    sampling.set()
    stored = influx_count(influx.url, "heatwatch", "room", "temp_c")
    letters = DeadLetters(tmp / "var" / "deadletter.sqlite")
    counts = letters.counts()
    letters.close()
    mq.kill()
    influx.kill()

    report(args, published, stored, counts, baseline_kb[0], peak_kb[0], status, tmp)

if __name__ == "__main__":
    main()
