"""The on-disk spool, and the spooled store riding out a killed InfluxDB."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from district.readings import Reading
from storage.base import StoreRejected, StoreUnavailable
from storage.influx import InfluxStore
from storage.spool import REJECTED_DIR, Spool, SpooledStore, SpoolFull

T0 = 1_768_003_200_000


def room(device: str, ts_ms: int, temp_c: float | int = 20.0) -> Reading:
    return Reading("room", {"device_id": device}, {"temp_c": temp_c}, ts_ms)


def test_spool_keeps_batches_across_reopen_in_order(tmp_path):
    spool = Spool(tmp_path, max_bytes=1 << 20)
    for body in (b"a 1\n", b"bb 2\n", b"ccc 3\n"):
        spool.append(body)

    reopened = Spool(tmp_path, max_bytes=1 << 20)

    assert reopened.depth_batches == 3
    assert reopened.depth_bytes == 4 + 5 + 6
    seen = []
    while (item := reopened.oldest()) is not None:
        seen.append(item[1])
        reopened.remove(item[0])
    assert seen == [b"a 1\n", b"bb 2\n", b"ccc 3\n"]
    assert reopened.depth_batches == 0 and reopened.depth_bytes == 0


def test_sequence_continues_after_reopen(tmp_path):
    first = Spool(tmp_path, max_bytes=1 << 20)
    first.append(b"old\n")
    later = Spool(tmp_path, max_bytes=1 << 20)
    later.append(b"new\n")

    seq_old, body_old = later.oldest() or (0, b"")
    later.remove(seq_old)

    assert body_old == b"old\n"
    assert (later.oldest() or (0, b""))[1] == b"new\n"


def test_half_written_temp_files_are_cleaned_on_open(tmp_path):
    spool = Spool(tmp_path, max_bytes=1 << 20)
    spool.append(b"good\n")
    crashed = tmp_path / "00000000000000000002.lp.tmp"
    crashed.write_bytes(b"half a ba")

    reopened = Spool(tmp_path, max_bytes=1 << 20)

    assert not crashed.exists()
    assert reopened.depth_batches == 1
    assert (reopened.oldest() or (0, b""))[1] == b"good\n"


def test_append_beyond_the_bound_raises_spool_full(tmp_path):
    spool = Spool(tmp_path, max_bytes=10)
    spool.append(b"12345")
    spool.append(b"67890")

    with pytest.raises(SpoolFull):
        spool.append(b"x")
    assert spool.depth_batches == 2
    assert not list(tmp_path.glob("*.tmp"))
    # the caller treats it like an unreachable store: it does not ack
    assert issubclass(SpoolFull, StoreUnavailable)


def test_rejected_batch_moves_aside(tmp_path):
    spool = Spool(tmp_path, max_bytes=1 << 20)
    seq = spool.append(b"poison\n")
    spool.append(b"fine\n")

    moved = spool.reject(seq)

    assert moved.parent == tmp_path / REJECTED_DIR and moved.read_bytes() == b"poison\n"
    assert (spool.oldest() or (0, b""))[1] == b"fine\n"
    assert Spool(tmp_path, max_bytes=1 << 20).depth_batches == 1


def test_oldest_age_follows_the_clock(tmp_path):
    now = [1000.0]
    spool = Spool(tmp_path, max_bytes=1 << 20, clock=lambda: now[0])
    assert spool.oldest_age_s == 0.0
    spool.append(b"a\n")
    now[0] += 5
    spool.append(b"b\n")
    now[0] += 2

    assert spool.oldest_age_s == 7.0


@pytest.fixture
def spooled(influxd, tmp_path) -> Iterator[tuple[SpooledStore, InfluxStore]]:
    influx = InfluxStore(influxd.url, "spooltest", timeout_s=2.0)
    store = SpooledStore(influx, tmp_path / "spool", max_bytes=1 << 24, retry_s=0.05)
    yield store, influx
    store.close()


def count(influx: InfluxStore) -> tuple[int, int]:
    """Points and distinct timestamps-per-device in the room measurement."""
    rows = influx.query_csv('SELECT count("temp_c") FROM "room"')
    points = int(rows[0]["count"]) if rows else 0
    frame = influx.read_window("room", 0, 2 * T0, fields=["temp_c"])
    return points, len({(d, t) for d, t in zip(frame.device_id, frame.ts_ms, strict=True)})


@pytest.mark.services
def test_spooled_store_rides_out_a_killed_influxd(spooled, influxd, caplog):
    store, influx = spooled
    caplog.set_level(logging.INFO, logger="heatwatch.spool")
    store.write([room(f"r{d}", T0 + i) for d in range(10) for i in range(100)])
    assert store.stats()["batches"] == 0

    influxd.kill()
    for b in range(1, 6):
        store.write([room(f"r{d}", T0 + 1000 * b + i) for d in range(10) for i in range(100)])
    assert store.stats()["batches"] == 5

    influxd.start()
    assert store.flush(timeout_s=30)

    assert count(influx) == (6000, 6000)
    assert store.stats()["drained"] == 5 and store.stats()["batches"] == 0
    messages = [r.getMessage() for r in caplog.records]
    assert any("spooling" in m for m in messages)
    assert any("drained" in m for m in messages)


@pytest.mark.services
def test_new_writes_queue_behind_spooled_ones(spooled, influxd):
    store, influx = spooled
    store.write([room("r1", T0, 1.0)])
    influxd.kill()
    store.write([room("r1", T0, 2.0)])
    influxd.start()
    # spool not yet drained or just drained: either way the later value must win
    store.write([room("r1", T0, 3.0)])
    assert store.flush(timeout_s=30)

    assert influx.read_window("room", T0, T0 + 1).fields["temp_c"].tolist() == [3.0]


@pytest.mark.services
def test_rejected_spooled_batch_is_set_aside_and_later_ones_drain(spooled, influxd, tmp_path):
    store, influx = spooled
    store.write([room("r1", T0, 20.0)])  # temp_c is a float field from here on
    influxd.kill()
    store.write([room("r2", T0, 21)])  # an integer: field type conflict, HTTP 400
    store.write([room("r3", T0 + i, 22.0) for i in range(50)])
    influxd.start()

    assert store.flush(timeout_s=30)

    assert store.stats()["rejected"] == 1
    assert len(list((tmp_path / "spool" / REJECTED_DIR).iterdir())) == 1
    frame = influx.read_window("room", T0, T0 + 100)
    assert sorted(set(frame.device_id.tolist())) == ["r1", "r3"]
    assert len(frame) == 51


@pytest.mark.services
def test_direct_write_rejection_reaches_the_caller(spooled):
    store, _ = spooled
    store.write([room("r1", T0, 20.0)])

    with pytest.raises(StoreRejected):
        store.write([room("r1", T0 + 1, 21)])
    assert store.stats()["batches"] == 0


@pytest.mark.services
def test_spool_left_over_from_a_previous_run_drains_on_open(influxd, tmp_path):
    influx = InfluxStore(influxd.url, "leftover")
    Spool(tmp_path / "spool", 1 << 20).append(influx.encode([room("r9", T0, 18.5)]))

    store = SpooledStore(influx, tmp_path / "spool", retry_s=0.05)
    try:
        assert store.flush(timeout_s=30)
        assert store.latest("room").fields["temp_c"].tolist() == [18.5]
    finally:
        store.close()
