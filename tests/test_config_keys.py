"""Every config key with a bad value is one line on stderr naming the file and the key, and
exit 2 (issue 10 item 4): table-driven over every key the loader knows, in process, and the
named mistakes through the real `heatwatch` command."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from heatwatch.cli import main
from heatwatch.config import ConfigError, load_config, toml_shape
from tests.records_fixture import ACCOUNTS, DEVICES, write_records

ROOT = Path(__file__).resolve().parent.parent


def _keys(shape: dict[str, Any], table: str = "") -> Iterator[tuple[str, str]]:
    for key, sub in shape.items():
        if sub is None:
            yield table, key
        else:
            yield from _keys(sub, f"{table}.{key}" if table else key)


EVERY_KEY = sorted(_keys(toml_shape()))


def _toml(table: str, key: str, value: str) -> str:
    return f"[{table}]\n{key} = {value}\n"


def test_the_table_covers_every_section() -> None:
    tables = {t.split(".")[0] for t, _ in EVERY_KEY}
    assert tables == {"site", "store", "mqtt", "collector", "modbus", "simulator", "analyzer",
                      "alerts", "desk"}
    assert len(EVERY_KEY) > 120


# an inline table is the wrong type for every key: none of them is a table of free keys
@pytest.mark.parametrize(("table", "key"), EVERY_KEY, ids=[f"{t}.{k}" for t, k in EVERY_KEY])
def test_every_key_with_a_wrong_type_is_one_line_naming_it(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], table: str, key: str) -> None:
    p = tmp_path / "c.toml"
    p.write_text(_toml(table, key, "{ wrong = 1 }"), encoding="utf-8")
    assert main(["records", "--config", str(p)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    assert err.startswith(f"heatwatch: error: {p}: [{table}] {key}"), err


# ranges, URLs, ports and lists: (toml, what the line must say after the file name)
RANGES = [
    ('[store.influxdb]\nurl = "ftp://influxdb:8086"\n', "[store.influxdb] url: "),
    ('[store.influxdb]\nurl = "http://influxdb:99999"\n', "[store.influxdb] url: "),
    ('[store.influxdb]\nretention = "forever"\n', "[store.influxdb] retention: "),
    ("[store.influxdb]\ntimeout_s = 0\n", "[store.influxdb] timeout_s: "),
    ("[store.spool]\nmax_bytes = -1\n", "[store.spool] max_bytes: "),
    ('[store]\nbackend = "postgres"\n', "[store] backend: "),
    ("[mqtt]\nport = 99999\n", "[mqtt] port: "),
    ("[mqtt]\nport = 0\n", "[mqtt] port: "),
    ("[mqtt]\nkeepalive_s = -5\n", "[mqtt] keepalive_s: "),
    ("[mqtt]\nqos = 3\n", "[mqtt] qos: "),
    ('[mqtt]\nprotocol = "4"\n', "[mqtt] protocol: "),
    ("[mqtt]\nreceive_maximum = 70000\n", "[mqtt] receive_maximum: "),
    ('[mqtt]\nhost = ""\n', "[mqtt] host: "),
    ("[collector]\nbatch_size = 0\n", "[collector] batch_size: "),
    ("[collector]\nwrites_in_flight = 0\n", "[collector] writes_in_flight: "),
    ('[mqtt]\nshare_group = "a/b"\n', "[mqtt] "),
    ("[collector]\nhealth_interval_s = -1.0\n", "[collector] health_interval_s: "),
    ("[modbus]\nmax_read_registers = 126\n", "[modbus] max_read_registers: "),
    ("[modbus]\nbackoff_s = 90.0\n", "[modbus] backoff_s "),
    ("[simulator]\nspeed = -1.0\n", "[simulator] speed: "),
    ('[site]\ntimezone = "Mars/Olympus"\n', "[site] timezone: "),
    ("[analyzer]\ninterval_s = 0\n", "[analyzer] interval_s: "),
    ("[analyzer]\nmax_catchup_h = 1.0\n", "[analyzer] max_catchup_h: "),
    ('[analyzer.rooms]\nrefund_bands_k = "abc"\n', "[analyzer.rooms] refund_bands_k: "),
    ('[analyzer.rooms]\nrefund_bands_k = [2.0, "x", inf]\n', "[analyzer.rooms] refund_bands_k[1]"),
    ("[analyzer.rooms]\nrefund_bands_k = [6.0, 2.0, inf]\n", "[analyzer.rooms] refund_bands_k: "),
    ("[analyzer.rooms]\nrefund_shares = [0.1, 0.5, 1.5]\n", "[analyzer.rooms] refund_shares"),
    ("[analyzer.rooms]\ntarget_rate = 1.2\n", "[analyzer.rooms] target_rate: "),
    ('[analyzer.season]\nstart = "13-01"\n', "[analyzer.season] start: "),
    ("[analyzer.outages]\nmultiplier = 0\n", "[analyzer.outages] multiplier: "),
    ("[analyzer.outages]\nmultiplier = nan\n", "[analyzer.outages] multiplier: "),
    ("[analyzer.outages]\nstep_s = 7\n", "[analyzer.outages] step_s: "),
    ("[analyzer.outages]\nescalation_h = [12.0, 8.0]\n", "[analyzer.outages] escalation_h: "),
    ("[analyzer.tariff]\nenergy_cny_kwh = -0.16\n", "[analyzer.tariff] energy_cny_kwh: "),
    ("[analyzer.signals]\nsilent_group_rooms = 1\n", "[analyzer.signals] silent_group_rooms: "),
    ("[analyzer.signals]\nweather_silent_h = -1.0\n", "[analyzer.signals] weather_silent_h: "),
    ("[analyzer.meters]\ninterval_s = 3600\n", "[analyzer.meters] unknown key 'interval_s'"),
    ("[alerts]\nsupervisor_channels = 5\n", "[alerts] supervisor_channels: "),
    ('[alerts]\nsupervisor_channels = ["nope"]\n', "[alerts] [alerts] supervisor_channels: "),
    ("[alerts]\nseries_every_s = 0.0\n", "[alerts] [alerts] series_every_s "),
    ("[alerts.limits]\nescalation_share = 1.5\n", "[alerts] [alerts.limits] escalation_share"),
    ("[alerts.http]\nport = 70000\n", "[alerts.http] port: "),
    ("[alerts.delivery]\nbatch = 0\n", "[alerts.delivery] batch: "),
    ('[[alerts.channel]]\nname = "m"\nkind = "mqtt"\nport = 99999\n',
     "[alerts] channel 'm': port must be 1..65535"),
    ('[[alerts.channel]]\nname = "x"\nkind = "pigeon"\n', "[alerts] channel 'x': kind must be"),
    ("[mqtt]\nhots = 'x'\n", "[mqtt] unknown key 'hots'"),
    ("[nope]\nx = 1\n", "unknown key 'nope'"),
]


@pytest.mark.parametrize(("text", "says"), RANGES, ids=[s for _, s in RANGES])
def test_out_of_range_values_are_one_line_naming_the_key(tmp_path: Path, text: str,
                                                         says: str) -> None:
    p = tmp_path / "c.toml"
    p.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as e:
        load_config(p, env={})
    assert str(e.value).startswith(f"{p}: {says}") and "\n" not in str(e.value), str(e.value)


def test_environment_overrides_are_checked_and_named() -> None:
    with pytest.raises(ConfigError, match=r"^HEATWATCH_MQTT_PORT: \[mqtt\] port: "):
        load_config(None, env={"HEATWATCH_MQTT_PORT": "99999"})
    with pytest.raises(ConfigError, match=r"^HEATWATCH_ANALYZER_ROOMS_MIN_C: "
                                          r"\[analyzer.rooms\] min_c: "):
        load_config(None, env={"HEATWATCH_ANALYZER_ROOMS_MIN_C": "warm"})
    cfg = load_config(None, env={"HEATWATCH_ANALYZER_OUTAGES_MULTIPLIER": "2",
                                 "HEATWATCH_ANALYZER_ROOMS_REFUND_BANDS_K": "[1.0, 5.0, inf]",
                                 "HEATWATCH_MQTT_PROTOCOL": "3.1.1"})
    assert str(cfg.analyzer.rules().compensation.multiplier) == "2"
    assert [b.max_below_k for b in cfg.analyzer.rules().refund.bands] == [1.0, 5.0,
                                                                          float("inf")]
    assert cfg.mqtt.protocol == "3.1.1"


def heatwatch(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "heatwatch.cli", *args], capture_output=True,
                          text=True, cwd=cwd, timeout=60, env={"PYTHONPATH": str(ROOT),
                                                               "PATH": "/usr/bin:/bin"})


# the mistakes issue 10 names, through the real command: (config or records, what it says)
NAMED = [
    ('[store.influxdb]\nurl = "ftp://influxdb:8086"\n', None, "[store.influxdb] url: "),
    ("[mqtt]\nport = 99999\n", None, "[mqtt] port: "),
    ("[store.spool]\nmax_bytes = -1\n", None, "[store.spool] max_bytes: "),
    ("[mqtt]\nkeepalive_s = -5\n", None, "[mqtt] keepalive_s: "),
    ("[alerts]\nsupervisor_channels = 5\n", None, "[alerts] supervisor_channels: "),
    ('[analyzer.rooms]\nrefund_bands_k = "abc"\n', None, "[analyzer.rooms] refund_bands_k: "),
    ("", {"accounts": ACCOUNTS + "A3,B1,1-103,1e300,area,\n"}, "accounts.csv:4: area_m2 1e+300"),
    ("", {"accounts": ACCOUNTS + "A3,B1,1-103,-5,area,\n",
          "devices": DEVICES + "r3,room,A3,,,bedroom,mqtt,,,,\n"}, "accounts.csv:4: area_m2 -5"),
    ("", {"devices": DEVICES.splitlines()[0] + "\n"}, "devices.csv:2: no devices"),
]


@pytest.mark.parametrize(("text", "records", "says"), NAMED, ids=[s for _, _, s in NAMED])
@pytest.mark.parametrize("command", ["records", "collect"])
def test_named_mistakes_through_the_command(tmp_path: Path, text: str,
                                            records: dict[str, str] | None, says: str,
                                            command: str) -> None:
    rec = write_records(tmp_path / "rec", **(records or {}))
    p = tmp_path / "c.toml"
    p.write_text(f'[site]\nrecords_dir = "{rec}"\ndata_dir = "{tmp_path / "var"}"\n{text}',
                 encoding="utf-8")
    done = heatwatch(command, "--config", str(p), cwd=tmp_path)
    assert done.returncode == 2, done
    assert "Traceback" not in done.stderr
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr  # one line: no false "unknown account" after it
    where = str(p) if text else str(rec)
    assert lines[0].startswith("heatwatch: ") and where in lines[0] and says in lines[0], lines
