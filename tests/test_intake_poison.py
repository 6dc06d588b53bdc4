"""Inputs that used to stop intake, as regression tests on real mosquitto, InfluxDB and SQLite:
each fails only itself, and the next valid reading is stored."""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
import time
import urllib.parse
from collections.abc import Iterator
from pathlib import Path

import pytest

from collector.mqtt_collector import EXIT_WRITER_DIED, MqttCollector
from collector.payload_lines import parse_plain
from district.readings import Reading
from heatwatch import bootstrap
from heatwatch.cli import main
from heatwatch.config import Config, load_config
from storage.base import Store, StoreRejected
from storage.lineprotocol import LineEncoder
from tests.harness import (
    T0,
    CollectorProcess,
    Publisher,
    influx_count,
    influx_query,
    wait_for,
    write_config,
)
from tests.records_fixture import write_records
from tests.services import Influxd, Mosquitto, free_port

pytestmark = pytest.mark.services

METER = {"energy_kwh": 1234.5, "volume_m3": 56.789, "power_kw": 4.2, "flow_m3h": 0.36,
         "supply_c": 55.1, "return_c": 45.0, "status": 0}
HUGE = b'{"ts":1765000000,"temp_c":1' + b"0" * 400 + b"}"  # the 428-byte message of issue 10
POISON: dict[str, tuple[str, bytes]] = {
    "huge float": ("heat/room/r1", HUGE),
    "status 2**63": ("heat/meter/m1", json.dumps({"ts": T0, **METER, "status": 2**63}).encode()),
    "huge ts": ("heat/room/r1", b'{"ts":1' + b"0" * 400 + b',"temp_c":20}'),
    "deep nesting": ("heat/room/r1", b"[" * 100_000 + b"]" * 100_000),
    "invalid UTF-8": ("heat/room/r1", b'{"ts":1764115200,"temp_c":\xff\xfe}'),
    "unknown kind": ("heat/boiler/x", json.dumps({"ts": T0, "temp_c": 20}).encode()),
    "huge element": ("heat/room/r2", b'[{"ts":1764115200,"temp_c":20},{"ts":1764115260,'
                                     b'"temp_c":-1' + b"9" * 400 + b"}]"),
}
CAUSES = {"huge float": "out_of_range", "status 2**63": "out_of_range", "huge ts": "bad_ts",
          "deep nesting": "bad_json", "invalid UTF-8": "bad_json",
          "unknown kind": "unknown_kind", "huge element": "out_of_range"}


def _config(tmp_path: Path, mosquitto_port: int, influxd: Influxd | None, extra: str = "",
            client_id: str = "heatwatch-test", database: str = "heatwatch") -> Config:
    return load_config(write_config(
        tmp_path / "heatwatch.toml", records=write_records(tmp_path / "records"),
        data_dir=tmp_path / "var", mqtt_port=mosquitto_port,
        influx_url=influxd.url if influxd else None, client_id=client_id, extra=extra,
        database=database))


class Running:
    """An in-process collector on the config's store, with what a test needs of it."""

    def __init__(self, cfg: Config) -> None:
        self.cfg = cfg
        self.opened = bootstrap.open_store(cfg)
        self.deadletters = bootstrap.open_deadletters(cfg)
        self.fatal: list[BaseException] = []
        self.collector = MqttCollector(
            cfg.mqtt, cfg.collector, bootstrap.registry(bootstrap.records(cfg)),
            self.opened.store, self.deadletters, spool_stats=self.opened.spool_stats,
            health_sink=self.opened.health_sink, on_fatal=self.fatal.append)

    @property
    def store(self) -> Store:
        return self.opened.store

    def start(self) -> Running:
        self.collector.start()
        assert self.collector.wait_connected()
        return self

    def stop(self) -> None:
        self.collector.stop()
        self.opened.store.close()
        self.deadletters.close()


@pytest.fixture(params=["influxdb", "sqlite"])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def running(tmp_path: Path, mosquitto: Mosquitto, influxd_shared: Influxd, backend: str,
            request: pytest.FixtureRequest) -> Iterator[Running]:
    cfg = _config(tmp_path, mosquitto.port, influxd_shared if backend == "influxdb" else None)
    if backend == "influxdb":
        cfg.store.influxdb.database = "poison_" + request.node.name.split("[")[0][-40:]
    r = Running(cfg).start()
    yield r
    r.stop()


def _health_points(store: Store) -> int:
    end_ms = round((time.time() + 86_400) * 1000)
    return len(store.read_window("heatwatch_collector", 0, end_ms, ["readings_total"],
                                 ("collector",)))


def test_poison_messages_fail_only_themselves(running: Running) -> None:
    c = running.collector
    pub = Publisher(running.cfg.mqtt.port)
    pub.publish(POISON.values())
    # other services' subtree (alerts' work orders): acked, neither stored nor dead-lettered
    pub.publish([("heat/orders/crew1", b'{"order": 1}')])
    pub.wait()
    wait_for(lambda: c.stats.messages >= len(POISON) + 1, 30, "every poison message")
    health_before = _health_points(running.store)
    # the same messages again, as a broker redelivers after a restart: no effect either
    pub.publish(POISON.values())
    pub.publish([("heat/room/r1", json.dumps({"ts": T0 + 600, "temp_c": 19.5}).encode())])
    pub.wait()
    wait_for(lambda: c.stats.messages >= 2 * len(POISON) + 2, 30, "the valid reading")
    wait_for(lambda: _health_points(running.store) > health_before + 1, 30,
             "health to keep being written")
    pub.close()
    assert c.failed is None and running.fatal == []
    assert c.stats.acked == c.stats.messages == 2 * len(POISON) + 2
    frame = running.store.read_window("room", T0 * 1000, (T0 + 3600) * 1000, ["temp_c"])
    # the good element of the mixed array, and the valid reading after everything
    assert sorted(frame.fields["temp_c"].tolist()) == [19.5, 20.0]
    counts = running.deadletters.counts()
    want: dict[str, int] = {}
    for name in POISON:
        want[CAUSES[name]] = want.get(CAUSES[name], 0) + 2
    assert counts == want
    assert c.stats.ignored == 1
    # each dead letter keeps its topic and its own payload (an array element as its own JSON)
    by_cause = {d.payload: d for d in running.deadletters.recent(100)}
    assert by_cause[HUGE].topic == "heat/room/r1"
    assert b"heat/boiler/x" not in by_cause and any(
        d.topic == "heat/boiler/x" for d in running.deadletters.recent(100))
    element = [d for d in running.deadletters.recent(100) if d.topic == "heat/room/r2"][0]
    assert json.loads(element.payload)["ts"] == 1764115260
    # the dead letters show the full cause detail, not cut at 60 characters
    status = running.deadletters.recent(1, "out_of_range")
    assert status and "does not fit" in status[0].detail


def _publish_through(r: Running, mosquitto: Mosquitto, msgs: list[tuple[str, bytes]]) -> None:
    """Publish, wait until the running collector took every message, stop it; all acked."""
    pub = Publisher(mosquitto.port)
    pub.publish(msgs)
    pub.wait()
    wait_for(lambda: r.collector.stats.messages >= len(msgs), 30, "every message")
    pub.close()
    r.stop()
    assert r.collector.stats.acked == len(msgs)


def test_a_refused_line_inside_a_plain_array_is_pinned_to_its_element(
    tmp_path: Path, mosquitto: Mosquitto, influxd_shared: Influxd
) -> None:
    """A plain array's lines travel as one block; when InfluxDB refuses some of them, the
    block is cut into lines and each refused element is dead-lettered as its own JSON."""
    db = "block_rejection"
    cfg = _config(tmp_path, mosquitto.port, influxd_shared, database=db)
    store = bootstrap.open_store(cfg, spool=False).store
    store.write([Reading("meter", {"device_id": "old"}, {"status": 0.0}, T0 * 1000 - 1000)])
    month_ago = T0 - 30 * 86_400  # another shard, where status is not yet a float
    meters = [{"ts": T0, **METER}, {"ts": month_ago, **METER}, {"ts": T0 + 3600, **METER}]
    rooms = [{"ts": T0 + 60 * i, "temp_c": 20.5} for i in range(5)]
    msgs = [("heat/room/r1", json.dumps(rooms).encode()),
            ("heat/meter/m1", json.dumps(meters).encode())]
    registry = bootstrap.registry(bootstrap.records(cfg))
    assert all(parse_plain(t, p, registry, LineEncoder()) for t, p in msgs)  # the block path
    r = Running(cfg).start()
    _publish_through(r, mosquitto, msgs)
    assert influx_count(influxd_shared.url, db, "room", "temp_c") == 5
    assert influx_count(influxd_shared.url, db, "meter", "energy_kwh") == 1
    letters = bootstrap.open_deadletters(cfg)
    refused = sorted(json.loads(d.payload)["ts"] for d in letters.recent(10))
    assert {d.cause for d in letters.recent(10)} == {"store_rejected"}
    letters.close()
    assert refused == [T0, T0 + 3600]
    assert r.collector.stats.readings == 6


def test_partial_rejection_stores_the_rest_and_replay_stores_it_after_the_fix(
    tmp_path: Path, mosquitto: Mosquitto, influxd_shared: Influxd,
    capsys: pytest.CaptureFixture[str]
) -> None:
    db = "partial_rejection"
    cfg = _config(tmp_path, mosquitto.port, influxd_shared, database=db)
    # an old tool wrote meter.status as a float: InfluxDB now refuses our int status
    store = bootstrap.open_store(cfg, spool=False).store
    store.write([Reading("meter", {"device_id": "old"}, {"status": 0.0}, T0 * 1000 - 1000)])
    r = Running(cfg).start()
    n = 20
    meter_payload = json.dumps({"ts": T0, **METER}).encode()
    msgs = [("heat/room/r1", json.dumps({"ts": T0 + 60 * i, "temp_c": 20.0}).encode())
            for i in range(n // 2)]
    msgs.append(("heat/meter/m1", meter_payload))
    msgs += [("heat/room/r2", json.dumps({"ts": T0 + 60 * i, "temp_c": 21.0}).encode())
             for i in range(n // 2)]
    _publish_through(r, mosquitto, msgs)
    assert influx_count(influxd_shared.url, db, "room", "temp_c") == n
    letters = bootstrap.open_deadletters(cfg)
    (d,) = letters.recent(10)
    letters.close()
    assert (d.cause, d.topic, d.payload) == ("store_rejected", "heat/meter/m1", meter_payload)
    assert "field type conflict" in d.detail

    # replay before the fix: refused again, kept
    config = str(tmp_path / "heatwatch.toml")
    assert main(["deadletters", "replay", "--cause", "store_rejected", "--config", config]) == 0
    assert "still refused: store_rejected 1" in capsys.readouterr().out
    # the fix: drop the old tool's measurement; then the replay stores the reading
    _influx(influxd_shared, "DROP MEASUREMENT meter", db)

    def fixed() -> bool:
        # InfluxDB 1.6 may take a moment to forget the dropped field's type
        try:
            store.write([Reading("meter", {"device_id": "probe"}, {"status": 1}, T0 * 1000)])
        except StoreRejected:
            return False
        return True

    wait_for(fixed, 30, "the field type conflict to be gone")
    _influx(influxd_shared, "DROP SERIES FROM meter WHERE device_id = 'probe'", db)
    assert main(["deadletters", "replay", "--cause", "store_rejected", "--config", config]) == 0
    out = capsys.readouterr().out
    assert "replayed 1 of 1 store_rejected dead letters: 1 readings stored" in out
    rows = influx_query(influxd_shared.url, db, "SELECT status, energy_kwh FROM meter "
                        "WHERE device_id = 'm1'")
    assert [(int(x["status"]), float(x["energy_kwh"])) for x in rows] == [(0, 1234.5)]
    letters = bootstrap.open_deadletters(cfg)
    assert letters.counts() == {}
    letters.close()
    store.close()


def test_replay_after_the_records_learn_a_device(tmp_path: Path, mosquitto: Mosquitto,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    cfg = _config(tmp_path, mosquitto.port, None)
    r = Running(cfg).start()
    pub = Publisher(mosquitto.port)
    payload = json.dumps([{"ts": T0, "temp_c": 18.5}, {"ts": T0 + 60, "temp_c": 18.7}]).encode()
    pub.publish([("heat/room/newroom", payload)])
    pub.wait()
    wait_for(lambda: r.collector.stats.messages >= 1, 30, "the message")
    pub.close()
    r.stop()
    config = str(tmp_path / "heatwatch.toml")
    assert main(["deadletters", "--config", config]) == 0
    out = capsys.readouterr().out
    assert "unknown_device" in out and "(Asia/Shanghai)" in out and "+08:00" in out
    assert "room 'newroom' is not in the records" in out
    from tests.records_fixture import DEVICES
    write_records(tmp_path / "records", devices=DEVICES + "newroom,room,A1,,,other,mqtt,,,,\n")
    assert main(["deadletters", "replay", "--cause", "unknown_device", "--config", config]) == 0
    assert "2 readings stored" in capsys.readouterr().out
    store = bootstrap.open_store(cfg).store
    frame = store.read_window("room", T0 * 1000, (T0 + 120) * 1000, ["temp_c"])
    assert frame.fields["temp_c"].tolist() == [18.5, 18.7]
    store.close()
    assert main(["deadletters", "--config", config]) == 0
    assert "no dead letters" in capsys.readouterr().out
    assert main(["deadletters", "replay", "--config", config]) == 2
    assert "needs --cause" in capsys.readouterr().err


def _influx(influxd: Influxd, q: str, db: str = "") -> None:
    import http.client
    c = http.client.HTTPConnection("127.0.0.1", influxd.port, timeout=30)
    c.request("POST", "/query?" + urllib.parse.urlencode({"q": q, "db": db}))
    resp = c.getresponse()
    body = resp.read()
    c.close()
    assert resp.status == 200 and b"error" not in body, body


def test_a_dead_writer_takes_the_process_down_loudly(tmp_path: Path,
                                                     mosquitto: Mosquitto) -> None:
    config = write_config(tmp_path / "heatwatch.toml", records=write_records(tmp_path / "rec"),
                          data_dir=tmp_path / "var", mqtt_port=mosquitto.port)
    log = tmp_path / "collector.log"
    proc = CollectorProcess(config, log)
    proc.start()
    wait_for(lambda: "connected to" in log.read_text(), 30, "collector to connect")
    # another process holds the dead-letter store: committing a rejection fails
    lock = sqlite3.connect(tmp_path / "var" / "deadletter.sqlite", timeout=1)
    lock.execute("BEGIN EXCLUSIVE")
    pub = Publisher(mosquitto.port)
    pub.publish([("heat/room/r1", b"{oops")])
    pub.wait()
    assert proc.proc is not None
    assert proc.proc.wait(60) == EXIT_WRITER_DIED
    lock.rollback()
    lock.close()
    text = log.read_text()
    assert "collector writer died (OperationalError: database is locked)" in text
    assert "exits with status 70" in text
    # restarted (as compose or systemd would), it takes the unacked message and goes on
    proc.start()
    wait_for(lambda: bootstrap.open_deadletters(load_config(config)).counts().get("bad_json")
             == 1, 30, "the redelivered message dead-lettered")
    assert proc.sigterm() == 0
    pub.close()


def test_connect_failure_is_logged_with_its_cause(tmp_path: Path,
                                                  caplog: pytest.LogCaptureFixture) -> None:
    port = free_port()  # nothing listens there
    r = Running(_config(tmp_path, port, None))
    with caplog.at_level(logging.INFO, "heatwatch.collector"):
        r.collector.start()
        wait_for(lambda: "cannot connect" in caplog.text, 20, "a connect error in the log")
        r.collector.write_health()
        r.stop()
    assert f"cannot connect to broker 127.0.0.1:{port}: ConnectionRefusedError" in caplog.text
    assert "NOT CONNECTED" in caplog.text


@pytest.mark.parametrize("protocol", ["5", "3.1.1"])
def test_client_id_takeover_is_named(tmp_path: Path, mosquitto: Mosquitto, protocol: str,
                                     caplog: pytest.LogCaptureFixture) -> None:
    extra = ""
    runs = []
    with caplog.at_level(logging.INFO, "heatwatch.collector"):
        for name in ("a", "b"):
            cfg = _config(tmp_path / name, mosquitto.port, None, extra)
            cfg.mqtt.protocol = "5" if protocol == "5" else "3.1.1"
            runs.append(Running(cfg))
            runs[-1].collector.start()
        wait_for(lambda: "same client id" in caplog.text, 40, "the takeover to be named")
        for r in runs:
            r.stop()
    assert "'heatwatch-test'" in caplog.text


def test_health_is_written_during_a_stall(tmp_path: Path, mosquitto: Mosquitto,
                                          influxd: Influxd) -> None:
    # a spool with room for one batch, drained only every 30 s: the second batch stalls
    cfg = _config(tmp_path, mosquitto.port, influxd)
    cfg.store.spool.max_bytes = 150
    cfg.store.spool.retry_s = 30.0
    r = Running(cfg).start()
    influxd.kill()
    pub = Publisher(mosquitto.port)
    pub.publish([("heat/room/r1", json.dumps({"ts": T0, "temp_c": 20.0}).encode())])
    pub.wait()
    wait_for(lambda: r.collector.stats.messages >= 1, 30, "the first batch (spooled)")
    pub.publish([("heat/room/r1", json.dumps({"ts": T0 + 60, "temp_c": 20.1}).encode())])
    pub.wait()
    wait_for(lambda: r.collector.health_fields(1.0)["stalled_s"] > 0, 30, "the stall")
    influxd.start()

    def stalled_health() -> bool:
        try:
            rows = influx_query(influxd.url, "heatwatch", "SELECT stalled_s, connected FROM "
                                "heatwatch_collector WHERE stalled_s > 0")
        except RuntimeError:
            return False
        return any(float(x["connected"]) == 1 for x in rows)

    # the spool is still full (its drainer waits), yet health reaches InfluxDB
    wait_for(stalled_health, 20, "a health point with stalled_s > 0")
    assert r.collector.stats.messages == 1  # still stalled on the second batch
    pub.close()
    t = threading.Thread(target=r.stop)
    t.start()
    t.join(60)
    assert not t.is_alive()  # stopping while stalled leaves the batch unacked, for the broker


@pytest.mark.parametrize("backend", ["influxdb", "sqlite"])
def test_a_store_refusal_is_split_down_to_the_refused_reading(
    tmp_path: Path, influxd_shared: Influxd, backend: str
) -> None:
    """Past the parser (which refuses it first): a value the store cannot hold fails only
    its own reading on either backend; N good readings + 1 refused → N stored."""
    from collector.batches import split_write
    from storage.influx import InfluxStore
    from storage.sqlite import SqliteStore

    store: Store = (InfluxStore(influxd_shared.url, "split_write") if backend == "influxdb"
                    else SqliteStore(tmp_path / "readings.sqlite"))
    n = 37
    readings = [Reading("meter", {"device_id": f"m{i}"}, {**METER, "status": 0},
                        T0 * 1000 + i) for i in range(n)]
    readings.insert(23, Reading("meter", {"device_id": "bad"}, {**METER, "status": 2**63},
                                T0 * 1000))
    refused = split_write(store.write, readings)
    assert [i for i, _ in refused] == [23]
    frame = store.read_window("meter", T0 * 1000, T0 * 1000 + n, ["status"])
    assert len(frame) == n and "bad" not in frame.device_id.tolist()
    store.close()
