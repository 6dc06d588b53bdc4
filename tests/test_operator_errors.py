"""Operator mistakes on the real `heatwatch` command (issue 10, item 4): each is one line on
stderr naming its cause and exit 2, never a traceback; a closed pipe is quiet; a read-only
command creates no store."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import _need
from tests.services import Influxd
from tests.test_dispute import build

ROOT = Path(__file__).resolve().parent.parent
ACCOUNT = "B02-0103"  # has a meter and readings in the 2024 season of the scenario


def command() -> list[str]:
    """The installed console script, as an operator runs it."""
    script = Path(sys.executable).parent / "heatwatch"
    return [str(script)] if script.exists() else [sys.executable, "-m", "heatwatch.cli"]


def heatwatch(args: list[str], cwd: Path, stdout: int | None = subprocess.PIPE
              ) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*command(), *args], stdout=stdout, stderr=subprocess.PIPE, text=True,
                          cwd=cwd, timeout=120,
                          env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin",
                               "HOME": str(cwd)})


def one_line(p: subprocess.CompletedProcess[str], *needles: str) -> str:
    assert "Traceback" not in p.stderr, p.stderr
    assert p.returncode == 2, (p.returncode, p.stderr)
    lines = p.stderr.splitlines()
    assert len(lines) == 1, p.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]
    assert not p.stdout
    return lines[0]


@dataclass
class Site:
    config: Path
    data_dir: Path


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Site:
    """A data dir with readings and incidents from a real scenario run (SQLite)."""
    tmp = tmp_path_factory.mktemp("site")
    data = tmp / "data"
    build("sensor_open_185c_meter_fault_non_human", data)
    cfg = tmp / "heatwatch.toml"
    cfg.write_text(f'[site]\ndata_dir = "{data}"\n')
    return Site(cfg, data)


def dispute(*extra: str) -> list[str]:
    return ["dispute", ACCOUNT, "--season", "2024", *extra]


# (args, what the line must name); all run against the scenario's data
MISTAKES = [
    (dispute("--error-pct", "nan"), ["--error-pct", "finite", "nan"]),
    (dispute("--error-pct", "inf"), ["--error-pct", "finite", "inf"]),
    (dispute("--error-pct=-inf"), ["--error-pct", "finite", "-inf"]),
    (dispute("--error-pct", "250"), ["--error-pct", "at most 100", "250"]),
    (dispute("--error-pct", "-100"), ["--error-pct", "above -100"]),
    (dispute("--error-pct", "abc"), ["--error-pct", "invalid float value: 'abc'"]),
    (dispute("--error-pct", "3", "--dtheta-k", "nan"), ["--dtheta-k", "finite"]),
    (dispute("--error-pct", "3", "--billed-kwh", "inf"), ["--billed-kwh", "finite"]),
    (["billing", ACCOUNT, "--season", "2023"],
     ["no readings for account 'B02-0103'", "season 2023", "2023-11-15"]),
    (["billing", "NOPE-1", "--season", "2024"], ["unknown account 'NOPE-1'"]),
    (["orders", "show", "O-NOPE"], ["no order 'O-NOPE'"]),
]


@pytest.mark.parametrize(("args", "needles"), MISTAKES, ids=[" ".join(a) for a, _ in MISTAKES])
def test_mistake_is_one_line(site: Site, args: list[str], needles: list[str]) -> None:
    one_line(heatwatch([*args, "--config", str(site.config)], site.data_dir), *needles)


def test_the_same_dispute_with_good_numbers_works(site: Site) -> None:
    p = heatwatch([*dispute("--error-pct", "6", "--billed-kwh", "3000", "--json"), "--config",
                   str(site.config)], site.data_dir)
    assert p.returncode == 0, p.stderr
    assert '"corrected_kwh": "2830"' in p.stdout


# -- a first command, without --config and without data ---------------------------------------

FIRST = [
    (["incidents"], "workflow database at ./var/workflow.sqlite"),
    (["incidents", "--all", "--json"], "workflow database at ./var/workflow.sqlite"),
    (["orders"], "workflow database at ./var/workflow.sqlite"),
    (["orders", "show", "O-1"], "workflow database at ./var/workflow.sqlite"),
    (["orders", "accept", "O-1"], "workflow database at ./var/workflow.sqlite"),
    (["notices", "--json"], "workflow database at ./var/workflow.sqlite"),
    (["kpi"], "workflow database at ./var/workflow.sqlite"),
    (["deadletters"], "dead-letter database at ./var/deadletter.sqlite"),
    (["billing", ACCOUNT, "--season", "2024"], "readings database at ./var/readings.sqlite"),
    (dispute(), "readings database at ./var/readings.sqlite"),
    (["refunds", "--season", "2024"], "readings database at ./var/readings.sqlite"),
]


@pytest.mark.parametrize(("args", "where"), FIRST, ids=[" ".join(a) for a, _ in FIRST])
def test_first_command_says_where_it_looked(tmp_path: Path, args: list[str], where: str) -> None:
    one_line(heatwatch(args, tmp_path), "no " + where, "(no --config given; using defaults)")
    assert list(tmp_path.iterdir()) == [], "a read-only command created a store"


def test_with_a_config_it_names_the_config(tmp_path: Path) -> None:
    cfg = tmp_path / "site.toml"
    cfg.write_text(f'[site]\ndata_dir = "{tmp_path / "data"}"\n')
    one_line(heatwatch(["notices", "--config", str(cfg)], tmp_path),
             f"no workflow database at {tmp_path / 'data' / 'workflow.sqlite'}",
             f"config {cfg}")
    assert not (tmp_path / "data").exists()


# -- InfluxDB down ------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def stopped_influxd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Influxd]:
    """A real influxd that ran and was stopped: its URL now refuses connections."""
    _need("influxd")
    i = Influxd(tmp_path_factory.mktemp("influxd"))
    i.start()
    i.stop()
    yield i
    i.kill()


STORE_READERS = [
    ["billing", ACCOUNT, "--season", "2024"],
    dispute(),
    dispute("--error-pct", "3", "--json"),
    ["analyze", "--once", "--at", "2024-12-05T09:30:00+08:00"],
]


@pytest.mark.services
@pytest.mark.parametrize("args", STORE_READERS, ids=[" ".join(a) for a in STORE_READERS])
def test_store_down_is_one_line_naming_the_url(tmp_path: Path, stopped_influxd: Influxd,
                                               args: list[str]) -> None:
    cfg = tmp_path / "influx.toml"
    cfg.write_text(f'[site]\ndata_dir = "{tmp_path / "data"}"\n[store]\nbackend = "influxdb"\n'
                   f'[store.influxdb]\nurl = "{stopped_influxd.url}"\n')
    line = one_line(heatwatch([*args, "--config", str(cfg)], tmp_path),
                    f"influxdb at {stopped_influxd.url}", "Connection refused")
    assert "ConnectionRefusedError(" not in line


# -- a closed pipe (`heatwatch notices --json | head`) -----------------------------------------

PIPED = [
    ["records"],
    ["notices", "--json"],
    ["incidents", "--all", "--json"],
    ["orders", "--json"],
    dispute("--json"),
    ["billing", ACCOUNT, "--season", "2024"],
]


@pytest.mark.parametrize("args", PIPED, ids=[" ".join(a) for a in PIPED])
def test_closed_pipe_is_quiet(site: Site, args: list[str]) -> None:
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader is gone before the first byte: every write is EPIPE
    try:
        p = heatwatch([*args, "--config", str(site.config)], site.data_dir, stdout=write_end)
    finally:
        os.close(write_end)
    assert (p.returncode, p.stderr) == (0, "")


@pytest.mark.parametrize("args", PIPED[:3], ids=[" ".join(a) for a in PIPED[:3]])
def test_open_pipe_gets_the_output(site: Site, args: list[str]) -> None:
    p = heatwatch([*args, "--config", str(site.config)], site.data_dir)
    assert p.returncode == 0 and p.stdout.strip() and not p.stderr.strip(), p.stderr
