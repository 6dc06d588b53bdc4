"""Two collectors in one MQTT share group (real processes, real mosquitto and influxd) store
exactly the readings one collector stores: each message once, nothing lost, nothing doubled."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.harness import (
    CollectorProcess,
    Publisher,
    influx_count,
    influx_query,
    room_district,
    room_messages,
    wait_for,
    write_config,
)
from tests.services import Influxd, Mosquitto

pytestmark = pytest.mark.services

N_ROOMS, N_STEPS = 50, 40  # 2,000 messages; every third an array of 3 readings


def _messages() -> list[tuple[str, bytes]]:
    return (room_messages(N_ROOMS, N_STEPS // 2)
            + room_messages(N_ROOMS, N_STEPS // 2, per_message=4, t0=1_764_200_000))


def _wait_connected(log: Path) -> None:
    wait_for(lambda: "connected to" in log.read_text(), 30, f"{log.stem} connected")


def _run(tmp: Path, mosquitto: Mosquitto, influxd: Influxd, database: str,
         collectors: list[tuple[str, str]]) -> None:
    """Start the collectors (client id, share group), publish, wait for all, stop them."""
    records = room_district(tmp / "records", N_ROOMS)
    procs = []
    for client_id, group in collectors:
        config = write_config(tmp / f"{client_id}.toml", records=records,
                              data_dir=tmp / f"var-{client_id}", mqtt_port=mosquitto.port,
                              influx_url=influxd.url, database=database, client_id=client_id)
        if group:
            config.write_text(config.read_text().replace(
                f'client_id = "{client_id}"\n',
                f'client_id = "{client_id}"\nshare_group = "{group}"\n'))
        proc = CollectorProcess(config, tmp / f"{client_id}.log")
        proc.start()
        _wait_connected(tmp / f"{client_id}.log")
        procs.append(proc)
    pub = Publisher(mosquitto.port, client_id=f"devices-{database}")
    pub.publish(_messages(), rate_per_s=2000)
    pub.wait()
    pub.close()
    want = N_ROOMS * N_STEPS
    wait_for(lambda: influx_count(influxd.url, database, "room", "temp_c") >= want, 60,
             f"every reading in {database}")
    for proc in procs:
        assert proc.sigterm() == 0


def _stored(influxd: Influxd, database: str) -> list[tuple[str, str, str]]:
    rows = influx_query(influxd.url, database, "SELECT temp_c, device_id FROM room")
    return sorted((r["device_id"], r["time"], r["temp_c"]) for r in rows)


def _taken(influxd: Influxd, database: str) -> dict[str, int]:
    """Readings each collector took, from its last health point (written as it stops)."""
    tags = influx_query(influxd.url, database,
                        "SHOW TAG VALUES FROM heatwatch_collector WITH KEY = collector")
    return {t["value"]: int(float(influx_query(
        influxd.url, database, "SELECT last(readings_total) FROM heatwatch_collector "
        f"WHERE collector = '{t['value']}'")[0]["last"])) for t in tags}


def test_two_collectors_in_a_share_group_store_what_one_stores(
    tmp_path: Path, mosquitto: Mosquitto, influxd: Influxd
) -> None:
    _run(tmp_path / "one", mosquitto, influxd, "one", [("solo", "")])
    _run(tmp_path / "two", mosquitto, influxd, "two",
         [("member-a", "collectors"), ("member-b", "collectors")])
    want = N_ROOMS * N_STEPS
    one, two = _stored(influxd, "one"), _stored(influxd, "two")
    assert len(one) == want
    assert two == one  # the same readings, nothing lost
    taken = _taken(influxd, "two")
    # the broker gave each message to one member: both worked, none twice
    assert set(taken) == {"member-a", "member-b"}
    assert all(n > 0 for n in taken.values())
    assert sum(taken.values()) == want
    assert _taken(influxd, "one") == {"solo": want}
