"""Hypothesis over whole MQTT messages, in process and through a real mosquitto, on InfluxDB
and on SQLite: after any sequence of hostile messages a valid reading is stored, health keeps
being written, and nothing is acked that is not stored or dead-lettered."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from collector.mqtt_collector import MqttCollector
from collector.payloads import parse_message
from district.readings import KINDS, Reading
from heatwatch import bootstrap
from heatwatch.config import Config, load_config
from storage.base import Store
from tests.harness import T0, Publisher, wait_for, write_config
from tests.records_fixture import write_records
from tests.services import Influxd, Mosquitto, free_port

pytestmark = pytest.mark.services

TOPICS = {"room": ["heat/room/r1", "heat/room/r2"], "meter": ["heat/meter/m1"],
          "substation": ["heat/substation/s1"], "weather": ["heat/weather/w1"]}
TS_RANGE = (946_684_800, 4_102_444_799)

# what a device can publish at all: mosquitto disconnects a client whose topic holds a
# control character or a non-character (the records refuse such ids too)
level = st.text(st.characters(blacklist_categories=("Cs", "Cc", "Cn"),
                              blacklist_characters="/+#"), max_size=8)
json_value = st.recursive(
    st.none() | st.booleans() | st.floats() | st.integers() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner,
                                                                 max_size=4),
    max_leaves=10)
number = st.one_of(
    st.floats(), st.floats(-100, 200), st.integers(-(10**30), 10**30),
    st.sampled_from([2**63, 2**63 - 1, -(2**63) - 1, 2**64]),
    st.integers(300, 800).map(lambda n: 10**n), st.integers(300, 800).map(lambda n: -(10**n)),
)
ts = st.one_of(st.integers(*TS_RANGE), st.floats(*TS_RANGE), number, json_value,
               st.sampled_from(["2025-11-26T08:00:00+08:00", "2025-11-26T08:00:00", "now"]))


@st.composite
def reading_doc(draw: st.DrawFn, kind: str) -> dict[str, Any]:
    """An object that is often a valid reading of `kind`, and often nearly one."""
    schema = KINDS[kind]
    doc: dict[str, Any] = {}
    if draw(st.integers(0, 9)):
        doc["ts"] = draw(ts)
    for name, ftype in {**schema.required, **schema.optional}.items():
        if name in schema.required and draw(st.integers(0, 12)) == 0:
            continue
        if name in schema.optional and draw(st.booleans()):
            continue
        good = (st.booleans() if ftype.value == "bool"
                else st.integers(0, 255) if ftype.value == "int" else st.floats(-50, 200))
        doc[name] = draw(good if draw(st.integers(0, 3)) else number | json_value)
    return doc


@st.composite
def message(draw: st.DrawFn) -> tuple[str, bytes]:
    choice = draw(st.integers(0, 9))
    if choice <= 4:  # a device of the records, near-valid JSON
        kind = draw(st.sampled_from(sorted(KINDS)))
        topic = draw(st.sampled_from(TOPICS[kind]))
        doc = draw(reading_doc(kind) | st.lists(reading_doc(kind), min_size=0, max_size=5))
        return topic, json.dumps(doc).encode()
    topic = draw(st.one_of(
        st.sampled_from([t for ts_ in TOPICS.values() for t in ts_]),
        st.sampled_from(["heat/boiler/x", "heat/orders/crew1", "heat", "heat/room",
                         "heat/room/r1/extra", "heat/room/ghost", "heat/meter/r1", "heat//"]),
        st.builds(lambda a, b: f"heat/{a}/{b}", level, level),
        st.builds(lambda a: f"other/{a}", level),
    ))
    payload = draw(st.one_of(
        json_value.map(lambda v: json.dumps(v).encode()),
        st.integers(1, 120_000).map(lambda n: b"[" * n + b"]" * n),  # deep nesting
        st.binary(max_size=64),  # mostly invalid UTF-8
        st.integers(300, 1000).map(lambda n: b'{"ts":1765000000,"temp_c":1' + b"0" * n + b"}"),
        st.sampled_from([b"", b"null", b"[]", b"{}", b'{"ts":1765000000,"temp_c":NaN}',
                         b"\xef\xbb\xbf{\"ts\":1765000000,\"temp_c\":1}"]),
    ))
    return topic, payload


messages = st.lists(message(), max_size=8)


class Harness:
    """A collector on one backend; the ledger of what each message must have become."""

    def __init__(self, tmp_path: Path, backend: str, influxd: Influxd | None,
                 mqtt_port: int, database: str) -> None:
        self.cfg: Config = load_config(write_config(
            tmp_path / "h.toml", records=write_records(tmp_path / "records"),
            data_dir=tmp_path / "var", mqtt_port=mqtt_port,
            influx_url=influxd.url if backend == "influxdb" and influxd else None,
            database=database))
        self.opened = bootstrap.open_store(self.cfg)
        self.registry = bootstrap.registry(bootstrap.records(self.cfg))
        self.deadletters = bootstrap.open_deadletters(self.cfg)
        self.fatal: list[BaseException] = []
        self.collector = MqttCollector(
            self.cfg.mqtt, self.cfg.collector, self.registry, self.opened.store,
            self.deadletters, spool_stats=self.opened.spool_stats,
            health_sink=self.opened.health_sink, on_fatal=self.fatal.append)
        self.sent = 0  # messages the collector must take
        self.valid_ts = T0

    @property
    def store(self) -> Store:
        return self.opened.store

    def expect(self, msgs: list[tuple[str, bytes]], via_broker: bool
               ) -> tuple[list[Reading], int]:
        """What the messages must become: readings in the store, and dead letters."""
        good: list[Reading] = []
        bad = 0
        for topic, payload in msgs:
            if via_broker and topic != "heat" and not topic.startswith("heat/"):
                continue  # not under our subscription: never received
            self.sent += 1
            parts = topic.split("/")
            ignored = self.cfg.collector.ignore_kinds
            if len(parts) > 1 and parts[0] == "heat" and parts[1] in ignored:
                continue
            g, b = parse_message(topic, payload, self.registry, "heat",
                                 self.cfg.mqtt.max_payload_bytes)
            good += g
            bad += len(b)
        return good, bad

    def dead(self) -> int:
        return sum(self.deadletters.counts().values())

    def has(self, r: Reading) -> bool:
        frame = self.store.read_window(r.measurement, r.ts_ms, r.ts_ms + 1, None,
                                       ("device_id",))
        return str(r.tags["device_id"]) in frame.tags["device_id"].tolist()

    def valid(self) -> tuple[str, bytes]:
        self.valid_ts += 60
        return "heat/room/r1", json.dumps({"ts": self.valid_ts, "temp_c": 20.25}).encode()

    def check_after(self, good: list[Reading], dead_before: int, bad: int) -> None:
        c = self.collector
        assert self.fatal == [] and c.failed is None
        # acked only after a durable write: here every message taken was acked
        assert c.stats.acked == c.stats.messages or c.stats.acked == 0
        # a reading the parser took is stored, or refused by the store as a dead letter of
        # its own: InfluxDB refuses points older than the retention policy (1830 d)
        missing = [r for r in good if not self.has(r)]
        oldest_ms = (time.time() - 1830 * 86_400) * 1000
        assert all(self.cfg.store.backend == "influxdb" and r.ts_ms < oldest_ms + 86_400_000
                   for r in missing), missing
        assert self.dead() - dead_before == bad + len(missing)
        frame = self.store.read_window("room", self.valid_ts * 1000, self.valid_ts * 1000 + 1,
                                       ["temp_c"])
        assert frame.fields["temp_c"].tolist() == [20.25]

    def health_points(self) -> int:
        end_ms = round((time.time() + 86_400) * 1000)
        return len(self.store.read_window("heatwatch_collector", 0, end_ms,
                                          ["readings_total"], ("collector",)))

    def close(self) -> None:
        self.collector.stop()
        self.opened.store.close()
        self.deadletters.close()


@pytest.fixture(params=["influxdb", "sqlite"])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def in_process(tmp_path: Path, influxd_shared: Influxd, backend: str) -> Iterator[Harness]:
    h = Harness(tmp_path, backend, influxd_shared, free_port(), f"fuzz_inproc_{backend}")
    yield h
    h.close()


def test_hostile_messages_in_process(in_process: Harness) -> None:
    h = in_process

    @settings(max_examples=40, deadline=None, derandomize=True,
              suppress_health_check=list(HealthCheck))
    @given(msgs=messages)
    def run(msgs: list[tuple[str, bytes]]) -> None:
        dead_before = h.dead()
        good, bad = h.expect(msgs, via_broker=False)
        h.collector.process(msgs)
        h.collector.process([h.valid()])
        h.check_after(good, dead_before, bad)
        before = h.health_points()
        h.collector.write_health()
        assert h.health_points() == before + 1

    run()


@pytest.fixture
def through_broker(tmp_path: Path, mosquitto: Mosquitto, influxd_shared: Influxd,
                   backend: str) -> Iterator[Harness]:
    h = Harness(tmp_path, backend, influxd_shared, mosquitto.port, f"fuzz_broker_{backend}")
    h.collector.start()
    assert h.collector.wait_connected()
    yield h
    h.close()


def test_hostile_messages_through_mosquitto(through_broker: Harness) -> None:
    h = through_broker
    pub = Publisher(h.cfg.mqtt.port, client_id="fuzz-devices")
    health_at_start = h.health_points()
    started = time.monotonic()

    @settings(max_examples=15, deadline=None, derandomize=True,
              suppress_health_check=list(HealthCheck))
    @given(msgs=messages)
    def run(msgs: list[tuple[str, bytes]]) -> None:
        dead_before = h.dead()
        good, bad = h.expect(msgs, via_broker=True)
        valid = h.valid()
        h.sent += 1
        pub.publish([*msgs, valid])
        pub.wait()
        wait_for(lambda: h.collector.stats.messages >= h.sent, 30, "every message taken")
        h.check_after(good, dead_before, bad)
        assert h.collector.stats.acked == h.collector.stats.messages == h.sent

    run()
    pub.close()
    # health kept being written all along (every second here)
    wait_for(lambda: h.health_points() - health_at_start >= (time.monotonic() - started) / 3,
             30, "health points")
