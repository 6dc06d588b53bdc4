"""Several writes in flight on real mosquitto and influxd: acks in the order taken, none
before its batch (and every earlier one) is durable, none after an earlier write failed."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from collector.mqtt_collector import MqttCollector
from heatwatch import bootstrap
from heatwatch.config import load_config
from storage.influx import InfluxStore
from tests.harness import (
    Publisher,
    influx_count,
    room_district,
    room_messages,
    wait_for,
    write_config,
)
from tests.services import Influxd, Mosquitto

pytestmark = pytest.mark.services

N_ROOMS, N_STEPS = 10, 6  # 60 messages of one reading; batches of 10 readings


class HeldFirstWrite(InfluxStore):
    """The real InfluxDB, with the first batch's write held until released (or failed)."""

    def __init__(self, url: str, fail: bool) -> None:
        super().__init__(url, "heatwatch")
        self.fail = fail
        self.release = threading.Event()
        self.calls = 0
        self.done = 0
        self._lock = threading.Lock()

    def write_lines(self, lines: Sequence[str]) -> None:
        with self._lock:
            first = self.calls == 0
            self.calls += 1
        if first:
            self.release.wait(60)
            if self.fail:
                raise RuntimeError("the disk under the first batch failed")
        super().write_lines(lines)
        with self._lock:
            self.done += 1


def _collector(tmp_path: Path, mosquitto: Mosquitto, store: InfluxStore,
               died: list[BaseException]) -> tuple[MqttCollector, list[int]]:
    path = write_config(
        tmp_path / "heatwatch.toml", records=room_district(tmp_path / "records", N_ROOMS),
        data_dir=tmp_path / "var", mqtt_port=mosquitto.port, influx_url=store.url,
        client_id="pipeline", extra="batch_size = 10\nwrites_in_flight = 4")
    path.write_text(path.read_text().replace("health_interval_s = 1.0",
                                             "health_interval_s = 3600.0"))
    cfg = load_config(path)
    c = MqttCollector(cfg.mqtt, cfg.collector, bootstrap.registry(bootstrap.records(cfg)),
                      store, bootstrap.open_deadletters(cfg), health_sink=lambda _: None,
                      on_fatal=died.append)
    acked: list[int] = []
    real_ack = c._client.ack_qos1

    def ack_qos1(mids: Sequence[int]) -> Any:
        acked.extend(mids)
        return real_ack(mids)

    c._client.ack_qos1 = ack_qos1  # type: ignore[method-assign]
    c.start()
    assert c.wait_connected()
    return c, acked


def _publish_all(mosquitto: Mosquitto) -> None:
    pub = Publisher(mosquitto.port)
    # one at a time, slowly enough that the collector takes several batches
    pub.publish(room_messages(N_ROOMS, N_STEPS), rate_per_s=300)
    pub.wait()
    pub.close()


def test_later_batches_wait_for_the_first_and_acks_keep_their_order(
    tmp_path: Path, mosquitto: Mosquitto, influxd: Influxd
) -> None:
    store = HeldFirstWrite(influxd.url, fail=False)
    died: list[BaseException] = []
    collector, acked = _collector(tmp_path, mosquitto, store, died)
    _publish_all(mosquitto)
    # later batches are stored while the first is still held...
    # (writes_in_flight = 4: the first held, three after it stored)
    wait_for(lambda: store.done >= 3, 30, "later batches written")
    # ...but nothing is acked: the first batch is not durable yet
    assert acked == [] and collector.stats.acked == 0
    store.release.set()
    wait_for(lambda: collector.stats.acked == N_ROOMS * N_STEPS, 30, "every message acked")
    collector.stop()
    assert len(acked) == N_ROOMS * N_STEPS
    assert acked == sorted(acked)  # the broker's ids in the order the messages came
    assert died == []
    assert influx_count(influxd.url, "heatwatch", "room", "temp_c") == N_ROOMS * N_STEPS


def test_a_failed_first_write_acks_nothing_after_it_and_the_broker_redelivers(
    tmp_path: Path, mosquitto: Mosquitto, influxd: Influxd
) -> None:
    store = HeldFirstWrite(influxd.url, fail=True)
    died: list[BaseException] = []
    collector, acked = _collector(tmp_path, mosquitto, store, died)
    _publish_all(mosquitto)
    wait_for(lambda: store.done >= 2, 30, "later batches written")
    store.release.set()  # the first write now fails: the writer dies
    wait_for(lambda: bool(died), 30, "the writer to die")
    assert isinstance(died[0], RuntimeError)
    # later batches were durable, but an earlier one was not: none of them is acked
    assert acked == [] and collector.stats.acked == 0
    collector.stop()
    # a restarted collector (same client id) gets every message again and stores them all
    again, _ = _collector(tmp_path / "again", mosquitto, InfluxStore(influxd.url, "heatwatch"),
                          died)
    want = N_ROOMS * N_STEPS
    wait_for(lambda: again.stats.acked >= want, 60, "redelivery")
    again.stop()
    assert influx_count(influxd.url, "heatwatch", "room", "temp_c") == want
