"""Backups of the workflow on PostgreSQL (issue 23), as the README's production section gives
them: `pg_dump -Fc` of a working database, `pg_restore` into a fresh cluster, and the same
`orders --json`, `notices --json` and `refunds --json`; a wrong URL or password is one line."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import time
from pathlib import Path

import pytest

from tests.services import PG_PASSWORD, Postgres, pg_binary
from tests.test_alerts_support import raise_incident, write_records
from tests.test_workflow_pg_processes import heatwatch, site_config
from workflow.db import Database, StoreBusy
from workflow.incidents import IncidentStore

HOUR_MS = 3_600_000


def _outputs(conf: Path, season: int, at: str) -> dict[str, object]:
    got: dict[str, object] = {}
    for args in (["orders", "--all", "--json", "--at", at], ["notices", "--json"],
                 ["refunds", "--season", str(season), "--json"]):
        p = heatwatch(*args, "--config", str(conf))
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
        got[args[0]] = json.loads(out)
    got["refunds"].pop("as_of")  # type: ignore[attr-defined]  # the time it was asked
    return got


def test_a_dump_restored_into_a_fresh_postgresql_lists_the_same(
        tmp_path: Path, postgres: Postgres, postgres_own: Postgres) -> None:
    url = postgres.new_database()
    write_records(tmp_path / "records")
    conf = site_config(tmp_path, "site", url)
    now = int(time.time() * 1000)
    store = IncidentStore(url)
    raise_incident(store, "leak", "S1", now - HOUR_MS, now, substation_id="S1")
    for sid in ("S1", "S2"):  # outages past the notice instant: notices and compensation
        raise_incident(store, "outage", sid, now - 30 * HOUR_MS, now, substation_id=sid)
    raise_incident(store, "outage", "S1", now - 30 * HOUR_MS, now, closed_ms=now - HOUR_MS,
                   substation_id="S1")
    store.close()
    once = heatwatch("alerts", "--once", "--config", str(conf))
    assert once.wait(120) == 0, once.communicate()[1]
    season = dt.date.today().year - (1 if dt.date.today().month < 7 else 0)
    at = dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat()
    before = _outputs(conf, season, at)
    assert before["orders"] and before["notices"]

    # the README's commands: pg_dump -Fc ...; createdb ...; pg_restore --no-owner -d ...
    dump = tmp_path / "workflow.dump"
    env = {**os.environ, "PGPASSWORD": PG_PASSWORD}
    subprocess.run([pg_binary("pg_dump"), "-Fc", "-f", str(dump), "-d",
                    url.replace(f":{PG_PASSWORD}@", "@")], check=True, env=env, timeout=120)
    fresh = postgres_own.new_database("restored")
    subprocess.run([pg_binary("pg_restore"), "--no-owner", "--exit-on-error", "-d",
                    fresh.replace(f":{PG_PASSWORD}@", "@"), str(dump)], check=True, env=env,
                   timeout=120)
    restored = site_config(tmp_path, "site", fresh)  # the same site, the restored database
    after = _outputs(restored, season, at)
    assert after == before and before["orders"]


@pytest.mark.parametrize("wrong", ["password", "port", "database"])
def test_a_wrong_url_or_password_is_one_line(tmp_path: Path, postgres: Postgres,
                                             wrong: str) -> None:
    good = postgres.new_database()
    url = {"password": postgres.url(good.rsplit("/", 1)[1], password="not-it"),
           "port": good.replace(f":{postgres.port}/", ":1/"),
           "database": postgres.url("no_such_db")}[wrong]
    write_records(tmp_path / "records")
    conf = site_config(tmp_path, "site", url)
    p = heatwatch("orders", "--config", str(conf))
    out, err = p.communicate(timeout=60)
    assert p.returncode == 2 and out == ""
    assert err.count("\n") == 1 and err.startswith("heatwatch: error: workflow database"), err
    assert "not-it" not in err and PG_PASSWORD not in err  # the password is never shown


def test_statement_and_lock_timeouts_are_set_and_transient(postgres: Postgres) -> None:
    """A statement past `statement_timeout`, or a unit waiting for the writer lock past the
    busy timeout, is cancelled by PostgreSQL and is StoreBusy (the caller backs off)."""
    url = postgres.new_database()
    db = Database(url, busy_timeout_s=0.3, statement_timeout_s=0.3)
    with pytest.raises(StoreBusy, match="statement timeout"):
        db.reader.rows("SELECT pg_sleep(5)")
    assert "statement timeout" in db.health.reason  # noted for the health page
    db.close()
    other = Database(url, busy_timeout_s=0.3, statement_timeout_s=5)
    waiter = Database(url, busy_timeout_s=0.3, statement_timeout_s=5)
    with other.transaction() as held:
        held.run("INSERT INTO alert_cursor (name, seq) VALUES ('x', 1)")
        with pytest.raises(StoreBusy, match="lock timeout"), waiter.transaction():
            pass
    assert other.reader.rows("SELECT seq FROM alert_cursor") == [(1,)]  # the holder committed
    other.close()
    waiter.close()
