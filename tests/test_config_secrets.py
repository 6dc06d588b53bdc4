"""Each service reads only the secrets it uses, when it starts: `heatwatch collect` runs on
MQTT and store settings alone, though the file has an `[alerts]` section whose secrets are not
in its environment; `heatwatch alerts` refuses to start without them, in one line."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from tests.harness import ROOT, T0, Publisher, wait_for, write_config
from tests.records_fixture import write_records
from tests.services import Mosquitto

ALERTS = """
[alerts]
supervisor_channels = ["supervisor"]
[[alerts.crew]]
id = "east"
substations = ["S1"]
members = ["wang"]
channels = ["east-wecom"]
token = "${HW_TEST_UNSET_CREW_TOKEN}"
[[alerts.channel]]
name = "east-wecom"
kind = "wecom"
key = "${HW_TEST_UNSET_WECOM_KEY}"
[[alerts.channel]]
name = "supervisor"
kind = "dingtalk"
access_token = "${HW_TEST_UNSET_DINGTALK_TOKEN}"
"""

# what the collector container gets: a path, the code, nothing of the alerts'
ENV = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)}


def _config(tmp_path: Path, port: int) -> Path:
    return write_config(tmp_path / "heatwatch.toml", records=write_records(tmp_path / "rec"),
                        data_dir=tmp_path / "var", mqtt_port=port, extra=ALERTS)


def _rooms(db: Path) -> int:
    if not db.exists():
        return 0
    con = sqlite3.connect(db)
    try:
        return int(con.execute("SELECT count(*) FROM room").fetchone()[0])
    except sqlite3.OperationalError:  # the table comes with the first reading
        return 0
    finally:
        con.close()


@pytest.mark.services
def test_collect_runs_and_stores_without_the_alerts_secrets(tmp_path: Path,
                                                           mosquitto: Mosquitto) -> None:
    config = _config(tmp_path, mosquitto.port)
    log = tmp_path / "collect.log"
    proc = subprocess.Popen([sys.executable, "-m", "heatwatch.cli", "collect", "--config",
                             str(config)], stdout=log.open("wb"), stderr=subprocess.STDOUT,
                            env=ENV, cwd=tmp_path)
    try:
        wait_for(lambda: "connected to" in log.read_text() or proc.poll() is not None, 30,
                 "collector to connect")
        assert proc.poll() is None, log.read_text()
        pub = Publisher(mosquitto.port)
        pub.publish([("heat/room/r1", b'{"ts": %d, "temp_c": 19.5}' % T0)])
        pub.wait(30)
        pub.close()
        wait_for(lambda: _rooms(tmp_path / "var" / "readings.sqlite") == 1, 30,
                 "the reading to be stored")
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0, log.read_text()
    assert "HW_TEST_UNSET" not in log.read_text()


def test_alerts_refuses_to_start_without_its_secrets_in_one_line(tmp_path: Path) -> None:
    config = _config(tmp_path, 1883)
    p = subprocess.run([sys.executable, "-m", "heatwatch.cli", "alerts", "--once", "--config",
                        str(config)], capture_output=True, text=True, env=ENV, cwd=tmp_path,
                       timeout=60)
    assert p.returncode == 2, p
    assert "Traceback" not in p.stderr
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("heatwatch: error:"), p.stderr
    assert f"{config}: [alerts] channel 'east-wecom' key: environment variable " \
           "HW_TEST_UNSET_WECOM_KEY is not set" in lines[0]


def test_alerts_starts_once_its_secrets_are_set(tmp_path: Path) -> None:
    config = _config(tmp_path, 1883)
    env = {**ENV, "HW_TEST_UNSET_CREW_TOKEN": "t", "HW_TEST_UNSET_WECOM_KEY": "k",
           "HW_TEST_UNSET_DINGTALK_TOKEN": "d"}
    p = subprocess.run([sys.executable, "-m", "heatwatch.cli", "alerts", "--once", "--at",
                        "2025-11-26T08:00:00+08:00", "--config", str(config)],
                       capture_output=True, text=True, env=env, cwd=tmp_path, timeout=60)
    assert p.returncode == 0, p.stderr
    assert "0 open orders" in p.stdout


# --- placeholders and missing folders: refused at start, in one line ------------------------

DEPLOY_TOML = ROOT / "deploy" / "heatwatch.toml"


def one_line_error(argv: list[str], env: dict[str, str], cwd: Path) -> str:
    p = subprocess.run([sys.executable, "-m", "heatwatch.cli", *argv], capture_output=True,
                       text=True, env={**ENV, **env}, cwd=cwd, timeout=60)
    assert p.returncode == 2, p
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in p.stderr, p.stderr
    return lines[0]


@pytest.mark.parametrize("var", ["HEATWATCH_MQTT_PASSWORD", "HEATWATCH_STORE_INFLUXDB_PASSWORD"])
def test_a_change_me_password_is_refused_naming_the_setting(var: str, tmp_path: Path) -> None:
    config = _config(tmp_path, 1883)
    line = one_line_error(["collect", "--config", str(config)],
                          {var: "change-me-from-the-example"}, tmp_path)
    assert line.startswith(f"heatwatch: error: {var}: ["), line
    assert "change-me placeholder" in line


def test_a_change_me_password_file_is_refused_too(tmp_path: Path) -> None:
    secret = tmp_path / "mqtt_password"
    secret.write_text("change-me-mqtt-example\n")
    line = one_line_error(["collect", "--config", str(_config(tmp_path, 1883))],
                          {"HEATWATCH_MQTT_PASSWORD_FILE": str(secret)}, tmp_path)
    assert "HEATWATCH_MQTT_PASSWORD_FILE: [mqtt] password is still the change-me" in line


def test_alerts_refuses_a_change_me_secret(tmp_path: Path) -> None:
    env = {"HW_TEST_UNSET_CREW_TOKEN": "t", "HW_TEST_UNSET_WECOM_KEY": "change-me-wecom-north-key",
           "HW_TEST_UNSET_DINGTALK_TOKEN": "d"}
    line = one_line_error(["alerts", "--once", "--config", str(_config(tmp_path, 1883))], env,
                          tmp_path)
    assert "channel 'east-wecom' key: environment variable HW_TEST_UNSET_WECOM_KEY is still " \
           "the change-me placeholder" in line


def test_the_deploy_config_without_its_records_folder_is_one_line(tmp_path: Path) -> None:
    missing = tmp_path / "not-mounted"
    line = one_line_error(["records", "--config", str(DEPLOY_TOML)],
                          {"HEATWATCH_SITE_RECORDS_DIR": str(missing)}, tmp_path)
    assert f"{missing}: no records here" in line and "[site] records_dir" in line
    assert "sample" not in line


def test_the_deploy_configs_workflow_refuses_a_change_me_postgres_password(
        tmp_path: Path) -> None:
    """deploy/heatwatch.toml's workflow_url takes its password from the compose env: the
    example's placeholder stops the service before it connects, in one line."""
    records = write_records(tmp_path / "records")
    env = {"HEATWATCH_SITE_RECORDS_DIR": str(records), "WORKFLOW_PG_USER": "heatwatch",
           "WORKFLOW_PG_PASSWORD": "change-me-postgres", "HEATWATCH_SITE_DATA_DIR": str(tmp_path)}
    line = one_line_error(["orders", "--config", str(DEPLOY_TOML)], env, tmp_path)
    assert "[site] workflow_url: WORKFLOW_PG_PASSWORD is still the change-me" in line, line
    del env["WORKFLOW_PG_PASSWORD"]
    line = one_line_error(["orders", "--config", str(DEPLOY_TOML)], env, tmp_path)
    assert "environment variable WORKFLOW_PG_PASSWORD is not set" in line, line
