"""The README's InfluxDB backup and restore, run as written against a real influxd 1.6:
points written, `influxd backup -portable`, a fresh influxd set up as the container's first
start does, its database dropped, `influxd restore -portable`, and the same answers."""

from __future__ import annotations

import json
import re
import subprocess
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from heatwatch.config import load_config
from tests.services import Influxd, binary, have

pytestmark = pytest.mark.services

ROOT = Path(__file__).resolve().parent.parent
DEPLOY_TOML = ROOT / "deploy" / "heatwatch.toml"
INFLUX_INIT = ROOT / "deploy" / "influxdb" / "10-heatwatch-retention.iql"
QUERIES = ('SELECT count("temp_c"), mean("temp_c") FROM "room" GROUP BY "device"',
           'SELECT * FROM "room" WHERE "device" = \'r7\' ORDER BY time',
           "SHOW RETENTION POLICIES")


def query(db: Influxd, q: str, database: str | None = None) -> list[dict[str, Any]]:
    params = {"q": q, **({"db": database} if database else {})}
    body = urllib.parse.urlencode(params).encode()
    with urllib.request.urlopen(db.url + "/query", body, timeout=30) as r:
        results: list[dict[str, Any]] = json.loads(r.read())["results"]
    for result in results:
        assert "error" not in result, (q, result)
    return results


def write(db: Influxd, database: str, lines: list[str]) -> None:
    url = f"{db.url}/write?db={database}&precision=s"
    with urllib.request.urlopen(url, "\n".join(lines).encode(), timeout=30) as r:
        assert r.status == 204


def first_start(db: Influxd, database: str) -> None:
    """What the influxdb container does on an empty volume: INFLUXDB_DB, then the init file."""
    query(db, f'CREATE DATABASE "{database}"')
    query(db, INFLUX_INIT.read_text(encoding="utf-8"))


def settled(db: Influxd, database: str, timeout_s: float = 60.0) -> None:
    """A restored shard opens a moment after `influxd restore` returns ("shard is disabled"
    until then); wait for it, as an operator would see it come up."""
    deadline = time.monotonic() + timeout_s
    while True:
        body = urllib.parse.urlencode({"q": QUERIES[0], "db": database}).encode()
        with urllib.request.urlopen(db.url + "/query", body, timeout=30) as r:
            result = json.loads(r.read())["results"][0]
        if "shard is disabled" not in result.get("error", "") or time.monotonic() > deadline:
            return
        time.sleep(0.2)


def readme_commands(verb: str) -> list[str]:
    """The README's `influxd backup|restore` lines, as written."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    return re.findall(rf"influxd {verb} -portable [^\n`']*", text)


def influxd_tool(args: list[str], db: Influxd) -> None:
    # inside the container influxd's RPC listens on its default 127.0.0.1:8088; here on a free port
    done = subprocess.run([binary("influxd"), *args[:2], "-host", f"127.0.0.1:{db.rpc_port}",
                           *args[2:]], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr


def test_readme_backup_and_restore_give_the_same_answers(tmp_path: Path) -> None:
    if not have("influxd"):
        pytest.skip("influxd is not installed")
    database = load_config(DEPLOY_TOML, env={}).store.influxdb.database
    (backup_line,) = readme_commands("backup")
    (restore_line,) = readme_commands("restore")
    assert f"-database {database}" in backup_line and f"-db {database}" in restore_line
    source = Influxd(tmp_path / "source")
    source.start()
    try:
        first_start(source, database)
        t0 = 1_764_115_200  # 2025-11-26T00:00:00Z
        write(source, database, [f'room,device=r{i % 10} temp_c={18 + (i % 7) * 0.5} {t0 + i * 600}'
                                 for i in range(2000)])
        before = [query(source, q, database) for q in QUERIES]
        assert before[0][0]["series"] and len(before[0][0]["series"]) == 10
        backup_dir = tmp_path / "influx-backup"
        influxd_tool(["backup", "-portable", "-database", database, str(backup_dir)], source)
    finally:
        source.stop()
    assert any(backup_dir.glob("*.manifest"))
    fresh = Influxd(tmp_path / "fresh")
    fresh.start()
    try:
        first_start(fresh, database)
        assert "series" not in query(fresh, QUERIES[0], database)[0]
        query(fresh, f'DROP DATABASE "{database}"')  # the README's step before the restore
        influxd_tool(["restore", "-portable", "-db", database, str(backup_dir)], fresh)
        settled(fresh, database)
        after = [query(fresh, q, database) for q in QUERIES]
    finally:
        fresh.stop()
    assert after == before
