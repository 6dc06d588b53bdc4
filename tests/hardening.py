"""Helpers of the hardening tests (issue 26): a config file for real `heatwatch` processes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v, ensure_ascii=False)
    if isinstance(v, dict):
        return "{" + ", ".join(f"{k} = {toml_value(x)}" for k, x in v.items()) + "}"
    return "[" + ", ".join(toml_value(x) for x in v) + "]"


def write_config(path: Path, data_dir: Path, records_dir: Path, alerts: dict[str, Any]) -> Path:
    """A heatwatch.toml: this data and records folder, this [alerts] table."""
    lines = ["[site]", f"data_dir = {toml_value(str(data_dir))}",
             f"records_dir = {toml_value(str(records_dir))}", "", "[alerts]"]
    lines += [f"{k} = {toml_value(v)}" for k, v in alerts.items()]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


# a real `heatwatch` process that has imported everything, then waits for its go file
WAITING_CLI = """
import os, sys, time
import heatwatch.cli
go = sys.argv[1]
while not os.path.exists(go):
    time.sleep(0.001)
sys.exit(heatwatch.cli.main(sys.argv[2:]))
"""


def waiting_cli(go: Path, *args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen([sys.executable, "-c", WAITING_CLI, str(go), *args], text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT, env=env)
