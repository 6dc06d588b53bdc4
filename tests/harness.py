"""Drivers for end-to-end tests: a QoS 1 publisher, a collector process, InfluxDB counts."""

from __future__ import annotations

import csv
import http.client
import io
import json
import os
import signal
import subprocess
import sys
import time
import urllib.parse
from collections.abc import Callable, Iterable
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from tests.records_fixture import write_records

ROOT = Path(__file__).resolve().parent.parent
T0 = 1_764_115_200  # 2025-11-26T00:00:00Z, inside a heating season


def room_district(folder: Path, n_rooms: int) -> Path:
    """The small fixture district plus n room thermometers q0000.. in account A1."""
    from tests.records_fixture import DEVICES

    rows = "".join(f"q{i:04d},room,A1,,,bedroom,mqtt,,,,\n" for i in range(n_rooms))
    return write_records(folder, devices=DEVICES + rows)


def room_messages(n_rooms: int, n_steps: int, per_message: int = 1,
                  t0: int = T0) -> list[tuple[str, bytes]]:
    """n_rooms × n_steps distinct readings, grouped per_message into arrays."""
    out: list[tuple[str, bytes]] = []
    for i in range(n_rooms):
        topic = f"heat/room/q{i:04d}"
        docs = [{"ts": t0 + 60 * k, "temp_c": round(15 + (i % 70) / 10 + (k % 10) / 10, 1)}
                for k in range(n_steps)]
        for j in range(0, n_steps, per_message):
            chunk = docs[j:j + per_message]
            out.append((topic, json.dumps(chunk if per_message > 1 else chunk[0]).encode()))
    return out


def _acked(info: mqtt.MQTTMessageInfo) -> bool:
    # a message published while disconnected keeps rc=NO_CONN even after paho resends it
    # on reconnect and the broker acknowledges it; is_published() would raise on that rc
    return bool(info._published)


class Publisher:
    """A device-side QoS 1 publisher whose unacked messages survive a broker restart."""

    def __init__(self, port: int, client_id: str = "test-devices", username: str = "",
                 password: str = "") -> None:
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id,
                                  clean_session=False, protocol=mqtt.MQTTv311)
        if username:
            self.client.username_pw_set(username, password)
        self.client.max_inflight_messages_set(1000)
        self.client.max_queued_messages_set(0)
        self.client.reconnect_delay_set(1, 2)
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        self.infos: list[mqtt.MQTTMessageInfo] = []

    def publish(self, messages: Iterable[tuple[str, bytes]], rate_per_s: float | None = None,
                during: Callable[[int], None] | None = None) -> None:
        start = time.monotonic()
        for n, (topic, payload) in enumerate(messages):
            self.infos.append(self.client.publish(topic, payload, qos=1))
            if during:
                during(n)
            if rate_per_s:
                ahead = start + n / rate_per_s - time.monotonic()
                if ahead > 0:
                    time.sleep(ahead)

    def wait(self, timeout_s: float = 120) -> None:
        """Until the broker acknowledged every message."""
        deadline = time.monotonic() + timeout_s
        while not all(map(_acked, self.infos)):
            if time.monotonic() > deadline:
                raise TimeoutError(f"{sum(not _acked(i) for i in self.infos)} "
                                   "messages not acknowledged by the broker")
            time.sleep(0.05)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def influx_query(url: str, db: str, q: str) -> list[dict[str, str]]:
    u = urllib.parse.urlsplit(url)
    c = http.client.HTTPConnection(u.hostname or "127.0.0.1", u.port, timeout=30)
    c.request("GET", "/query?" + urllib.parse.urlencode({"db": db, "q": q, "epoch": "ms"}),
              headers={"Accept": "application/csv"})
    r = c.getresponse()
    body = r.read().decode()
    c.close()
    if r.status != 200:
        raise RuntimeError(f"{r.status}: {body}")
    return list(csv.DictReader(io.StringIO(body)))


def influx_count(url: str, db: str, measurement: str, field: str) -> int:
    rows = influx_query(url, db, f'SELECT count("{field}") FROM "{measurement}"')
    return int(rows[0]["count"]) if rows else 0


def wait_for(predicate: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        time.sleep(0.2)


def write_config(path: Path, *, records: Path, data_dir: Path, mqtt_port: int,
                 influx_url: str | None = None, database: str = "heatwatch",
                 client_id: str = "heatwatch-test", extra: str = "") -> Path:
    store = (f'backend = "influxdb"\n[store.influxdb]\nurl = "{influx_url}"\n'
             f'database = "{database}"\n[store.spool]\nretry_s = 0.2\n'
             if influx_url else 'backend = "sqlite"\n')
    path.write_text(f"""
[site]
records_dir = "{records}"
data_dir = "{data_dir}"
[mqtt]
host = "127.0.0.1"
port = {mqtt_port}
client_id = "{client_id}"
[collector]
health_interval_s = 1.0
{extra}
[store]
{store}""", encoding="utf-8")
    return path


class CollectorProcess:
    """`heatwatch collect` as its own process, as docker-compose runs it."""

    def __init__(self, config: Path, log: Path) -> None:
        self.config, self.log = config, log
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "heatwatch.cli", "collect", "--config", str(self.config)],
            stdout=self.log.open("ab"), stderr=subprocess.STDOUT, env=env, cwd=ROOT)

    def sigkill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def sigterm(self, timeout_s: float = 30) -> int:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout_s)

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None
