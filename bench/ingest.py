"""End-to-end ingest: MQTT QoS 1 → collector → InfluxDB, against two baselines.

Runs a real mosquitto and influxd on loopback (started here), a publisher in its own
process, and measures in the same run:
  raw     mosquitto QoS 1 with no collector (a subscriber that only counts)
  bridge  one HTTP /write per message, as hand-written and Node-RED bridges do
  (a)     the collector, one reading per message
  (b)     the collector, arrays of 100 readings per message
Usage: .venv/bin/python bench/ingest.py [--messages 60000] [--arrays 1000]
"""

from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing as mp
import os
import resource
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import paho.mqtt.client as mqtt  # noqa: E402
from paho.mqtt.enums import CallbackAPIVersion  # noqa: E402

from bench.devices import RawPublisher  # noqa: E402
from collector.mqtt_collector import MqttCollector  # noqa: E402
from collector.payloads import parse_message  # noqa: E402
from heatwatch import bootstrap  # noqa: E402
from heatwatch.config import load_config  # noqa: E402
from storage.lineprotocol import LineEncoder  # noqa: E402
from tests.harness import influx_count, room_district, write_config  # noqa: E402
from tests.services import Influxd, Mosquitto  # noqa: E402

N_DEVICES = 100
T0 = int(time.time()) - 7 * 86400


def payloads(n_messages: int, per_message: int, offset: int) -> list[tuple[str, bytes]]:
    out = []
    for m in range(n_messages):
        dev = m % N_DEVICES
        k = offset + m // N_DEVICES
        docs = [{"ts": T0 + (k * per_message + j), "temp_c": 18 + (j % 40) / 10}
                for j in range(per_message)]
        out.append((f"heat/room/q{dev:04d}",
                    json.dumps(docs if per_message > 1 else docs[0]).encode()))
    return out


def publisher(port: int, n_messages: int, per_message: int, offset: int, go: Any,
              cpu: Any = None, slot: int = 0, raw: bool = False) -> None:
    """Publish; with cpu (a shared array), its CPU seconds from go to the last PUBACK.
    raw: bench/devices.py's light publisher instead of paho (packets built before go)."""
    msgs = payloads(n_messages, per_message, offset)
    client_id = f"bench-pub-{offset}"
    if raw:
        dev = RawPublisher(port, client_id)
        packets = dev.packets(msgs)
        go.wait()
        cpu0 = time.process_time()
        dev.send(packets)
        if cpu is not None:
            cpu[slot] = time.process_time() - cpu0
        dev.close()
        return
    c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id,
                    protocol=mqtt.MQTTv311)
    c.max_inflight_messages_set(1000)
    c.max_queued_messages_set(0)
    c.connect("127.0.0.1", port)
    c.loop_start()
    go.wait()
    cpu0 = time.process_time()
    infos = [c.publish(t, p, qos=1) for t, p in msgs]
    for i in infos:
        i.wait_for_publish(300)
    if cpu is not None:
        cpu[slot] = time.process_time() - cpu0
    c.disconnect()
    c.loop_stop()


PUBLISHERS = 2


class _Procs:
    def __init__(self, procs: list[Any], cpu: Any) -> None:
        self.procs = procs
        self.cpu = cpu

    def cpu_s(self) -> float:
        """The publishers' CPU seconds from go to their last PUBACK (after join)."""
        return float(sum(self.cpu))

    def join(self) -> None:
        for p in self.procs:
            p.join()


def run_publisher(port: int, n: int, per: int, offset: int,
                  raw: bool = False) -> tuple[Any, Any]:
    """PUBLISHERS device processes sharing n messages, released together by one event
    (raw: the light publisher of bench/devices.py, else paho)."""
    ctx = mp.get_context("spawn")
    go = ctx.Event()
    cpu = ctx.Array("d", PUBLISHERS, lock=False)
    share = n // PUBLISHERS
    procs = [ctx.Process(target=publisher,
                         args=(port, share + (n % PUBLISHERS if k == 0 else 0), per,
                               offset + k * 1_000_000_000 // (per * 1000), go, cpu, k, raw))
             for k in range(PUBLISHERS)]
    for p in procs:
        p.start()
    time.sleep(1.5)  # connected and payloads built before the clock starts
    return _Procs(procs, cpu), go


def wait_until(pred: Callable[[], bool], timeout_s: float = 600,
               every_s: float = 0.005) -> None:
    deadline = time.monotonic() + timeout_s
    while not pred():
        if time.monotonic() > deadline:
            raise TimeoutError
        time.sleep(every_s)


def _subscriber_rate(mq: Mosquitto, client_id: str, handle: Callable[[Any], None], n: int,
                     offset: int) -> float:
    """Messages/s through a plain paho QoS 1 subscriber that calls `handle` per message."""
    got = [0]
    done = threading.Event()

    def on_message(c: Any, u: Any, m: Any) -> None:
        handle(m)
        got[0] += 1
        if got[0] >= n:
            done.set()

    sub = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
    sub.on_message = on_message
    sub.connect("127.0.0.1", mq.port)
    sub.subscribe("heat/#", 1)
    sub.loop_start()
    time.sleep(0.3)
    p, go = run_publisher(mq.port, n, 1, offset)
    t = time.perf_counter()
    go.set()
    done.wait(600)
    dt = time.perf_counter() - t
    p.join()
    sub.disconnect()
    sub.loop_stop()
    return n / dt


def bench_raw(mq: Mosquitto, n: int) -> float:
    """The broker's QoS 1 rate to a subscriber that only counts."""
    return _subscriber_rate(mq, "bench-raw", lambda m: None, n, 10_000_000)


def bench_bridge(mq: Mosquitto, influx: Influxd, cfg: Any, n: int) -> float:
    """A hand-written bridge: one HTTP /write per message, as Node-RED flows do."""
    reg = bootstrap.registry(bootstrap.records(cfg))
    enc = LineEncoder()
    conn = http.client.HTTPConnection("127.0.0.1", influx.port)
    conn.request("POST", "/query?q=CREATE+DATABASE+bridge")
    conn.getresponse().read()

    def write_one(m: Any) -> None:
        readings, _ = parse_message(m.topic, m.payload, reg)
        conn.request("POST", "/write?db=bridge&precision=ms", body=enc.encode(readings))
        conn.getresponse().read()

    return _subscriber_rate(mq, "bench-bridge", write_one, n, 20_000_000)


def bench_collector(mq: Mosquitto, influx: Influxd, cfg: Any, n_messages: int, per: int,
                    offset: int) -> tuple[float, int, float]:
    """Readings/s, batches, and this process's CPU seconds per 100k readings (the
    collector's threads; publishers, mosquitto and influxd run in other processes)."""
    opened = bootstrap.open_store(cfg)
    col = MqttCollector(cfg.mqtt, cfg.collector, bootstrap.registry(bootstrap.records(cfg)),
                        opened.store, bootstrap.open_deadletters(cfg))
    col.start()
    col.wait_connected()
    time.sleep(0.3)
    want = n_messages * per
    p, go = run_publisher(mq.port, n_messages, per, offset)
    t = time.perf_counter()
    cpu = time.process_time()
    go.set()
    wait_until(lambda: col.stats.readings >= want and col.stats.acked >= n_messages)
    dt = time.perf_counter() - t
    cpu = time.process_time() - cpu
    p.join()
    col.stop()
    opened.store.close()
    return want / dt, col.stats.batches, cpu / want * 100_000


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--messages", type=int, default=60_000, help="single-reading messages")
    ap.add_argument("--arrays", type=int, default=1_000, help="messages of 100 readings")
    ap.add_argument("--bridge", type=int, default=5_000, help="messages for the bridge")
    ap.add_argument("--publishers", type=int, default=2, help="publisher processes")
    args = ap.parse_args()
    global PUBLISHERS
    PUBLISHERS = args.publishers
    with tempfile.TemporaryDirectory() as tmp:
        tmpd = Path(tmp)
        mq, influx = Mosquitto(tmpd / "mq"), Influxd(tmpd / "influx")
        mq.start()
        influx.start()
        config = write_config(tmpd / "c.toml", records=room_district(tmpd / "rec", N_DEVICES),
                              data_dir=tmpd / "var", mqtt_port=mq.port, influx_url=influx.url,
                              client_id="bench-collector")
        cfg = load_config(config)
        cfg.collector.health_interval_s = 3600
        print(f"mosquitto QoS 1, influxd 1.6.7, {N_DEVICES} devices, loopback, "
              f"{mp.cpu_count()} cores, {PUBLISHERS} publisher processes (paho), "
              f"load average {os.getloadavg()[0]:.1f}")
        raw = bench_raw(mq, args.messages)
        print(f"raw mosquitto QoS 1 (no collector):        {raw:10,.0f} msg/s")
        a, a_batches, a_cpu = bench_collector(mq, influx, cfg, args.messages, 1, 0)
        print(f"(a) collector, 1 reading/message:          {a:10,.0f} readings/s "
              f"({a / raw:.0%} of raw; {a_batches} batches; "
              f"{a_cpu:.2f} CPU s per 100k readings)")
        b, b_batches, b_cpu = bench_collector(mq, influx, cfg, args.arrays, 100, 1_000_000)
        print(f"(b) collector, arrays of 100:              {b:10,.0f} readings/s "
              f"({b_batches} batches; {b_cpu:.2f} CPU s per 100k readings)")
        bridge = bench_bridge(mq, influx, cfg, args.bridge)
        print(f"baseline bridge, one HTTP write/message:   {bridge:10,.0f} readings/s "
              f"(collector (a) is {a / bridge:.1f}x)")
        stored = influx_count(influx.url, "heatwatch", "room", "temp_c")
        print(f"stored in InfluxDB: {stored:,} (expected {args.messages + args.arrays * 100:,})")
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"peak RSS of this process (collector + bench harness): {rss:.0f} MiB")
        mq.kill()
        influx.kill()


if __name__ == "__main__":
    main()
