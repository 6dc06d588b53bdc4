"""User mistakes get one clear line and a non-zero exit, never a traceback."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from tests.records_fixture import ACCOUNTS, write_records
from tests.services import Mosquitto

ROOT = Path(__file__).resolve().parent.parent


def heatwatch(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "heatwatch.cli", *args], capture_output=True,
                          text=True, cwd=cwd, timeout=60, env={"PYTHONPATH": str(ROOT),
                                                               "PATH": "/usr/bin:/bin"})


def _one_line_error(p: subprocess.CompletedProcess[str], needle: str) -> None:
    assert p.returncode == 2, p
    assert "Traceback" not in p.stderr
    lines = [ln for ln in p.stderr.splitlines() if ln.startswith("heatwatch:")]
    assert lines and needle in lines[0], p.stderr


def test_missing_config_file(tmp_path: Path) -> None:
    _one_line_error(heatwatch("records", "--config", str(tmp_path / "nope.toml")),
                    "config file not found")


def test_bad_records_name_file_and_line(tmp_path: Path) -> None:
    rec = write_records(tmp_path / "rec", accounts=ACCOUNTS + "A3,B1,1-103,-5,area,\n")
    cfg = tmp_path / "c.toml"
    cfg.write_text(f'[site]\nrecords_dir = "{rec}"\n')
    for command in ("records", "collect"):
        _one_line_error(heatwatch(command, "--config", str(cfg)), "accounts.csv:4")


def test_good_records_summary(tmp_path: Path) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text(f'[site]\nrecords_dir = "{write_records(tmp_path / "rec")}"\n')
    p = heatwatch("records", "--config", str(cfg))
    assert p.returncode == 0 and "1 substations, 1 buildings, 2 accounts, 5 devices" in p.stdout


@pytest.mark.parametrize(("args", "needle"), [
    (["frobnicate"], "invalid choice: 'frobnicate'"),
    (["deadletters", "--limit", "x"], "argument --limit: invalid int value: 'x'"),
    (["billing", "A1"], "--season"),
])
def test_usage_errors_are_one_line(args: list[str], needle: str) -> None:
    p = heatwatch(*args)
    assert p.returncode == 2 and "Traceback" not in p.stderr, p
    (line,) = p.stderr.splitlines()
    assert needle in line and line.startswith("heatwatch") and "--help" in line


@pytest.mark.services
def test_simulate_publishes_to_a_real_broker(tmp_path: Path, mosquitto: Mosquitto) -> None:
    got: list[str] = []
    sub = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="cli-test-sub")
    sub.on_message = lambda c, u, m: got.append(m.topic)
    sub.connect("127.0.0.1", mosquitto.port)
    sub.subscribe("heat/#", 1)
    sub.loop_start()
    time.sleep(0.3)
    env = {"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin",
           "HEATWATCH_MQTT_PORT": str(mosquitto.port), "HEATWATCH_SIMULATOR_FREE_PORTS": "true"}
    p = subprocess.run([sys.executable, "-m", "heatwatch.cli", "simulate", "--scenario", "short",
                        "--speed", "36000"], capture_output=True, text=True, timeout=120,
                       cwd=tmp_path, env=env)
    time.sleep(0.5)
    sub.loop_stop()
    assert p.returncode == 0, p.stderr[-2000:]
    assert "scenario short" in p.stdout
    kinds = {t.split("/")[1] for t in got}
    assert kinds == {"room", "substation", "weather"}


def test_unknown_scenario_is_one_line(tmp_path: Path) -> None:
    _one_line_error(heatwatch("simulate", "--scenario", str(tmp_path / "nope.toml")),
                    "scenario file not found")


def test_dispute_for_an_unknown_account_is_one_line(tmp_path: Path) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text(f'[site]\nrecords_dir = "{write_records(tmp_path / "rec")}"\n'
                   f'data_dir = "{tmp_path / "var"}"\n')
    _one_line_error(heatwatch("dispute", "NOBODY", "--season", "2024", "--config", str(cfg)),
                    "unknown account 'NOBODY'")
