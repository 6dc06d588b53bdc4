"""Drivers for end-to-end tests: a QoS 1 publisher, a collector process, InfluxDB counts."""

from __future__ import annotations

import contextlib
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
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from collector.mqtt_collector import MqttCollector
from district.readings import Reading
from heatwatch import bootstrap
from heatwatch.commands.analyze import incidents_command
from heatwatch.config import Config, load_config
from storage.base import Store
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



def sample_config(tmp_path: Path, *, mqtt_port: int, influx_url: str, database: str,
                  client_id: str) -> Config:
    """The sample district's records, the test's broker and an InfluxDB database of its own."""
    return load_config(write_config(
        tmp_path / "heatwatch.toml", records=ROOT / "district" / "sample",
        data_dir=tmp_path / "var", mqtt_port=mqtt_port, influx_url=influx_url,
        database=database, client_id=client_id), env={})


@contextlib.contextmanager
def collecting(cfg: Config, client_id: str) -> Iterator[tuple[Store, Publisher]]:
    """The real collector running in this process on cfg's store, and a device publisher;
    both stopped (and the store closed) on the way out."""
    opened = bootstrap.open_store(cfg)
    collector = MqttCollector(cfg.mqtt, cfg.collector, bootstrap.registry(bootstrap.records(cfg)),
                              opened.store, bootstrap.open_deadletters(cfg))
    collector.start()
    assert collector.wait_connected()
    pub = Publisher(cfg.mqtt.port, client_id=client_id)
    try:
        yield opened.store, pub
    finally:
        pub.close()
        collector.stop()
        opened.store.close()


def reading_payload(r: Reading) -> tuple[str, bytes]:
    """A reading as its device publishes it: topic and JSON object."""
    doc = {"ts": r.ts_ms / 1000, **r.fields}
    return f"heat/{r.measurement}/{r.tags['device_id']}", json.dumps(doc).encode()


def wait_stored(url: str, db: str, readings: Sequence[Reading],
                fields: Mapping[str, str]) -> None:
    """Until InfluxDB holds every reading of each kind (counted by the kind's field)."""
    for kind, fld in fields.items():
        n = sum(r.measurement == kind for r in readings)

        def stored(k: str = kind, f: str = fld, n: int = n) -> bool:
            return influx_count(url, db, k, f) >= n

        wait_for(stored, 120, f"{kind} readings in InfluxDB")


def incident_keys(rows: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Incidents as (kind, subject, cause), sorted: what a scenario's expected.json lists."""
    return sorted(({"kind": r["kind"], "subject": r["subject"], "cause": r["cause"]}
                   for r in rows), key=lambda d: (d["kind"], d["subject"], d["cause"]))


def incidents_json(cfg: Config, capsys: pytest.CaptureFixture[str]) -> list[dict[str, Any]]:
    """What `heatwatch incidents --all --json` prints, parsed."""
    assert incidents_command(cfg, all_=True, json_=True) == 0
    out = capsys.readouterr().out
    rows: list[dict[str, Any]] = json.loads(out[out.index("["):])
    return rows

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
