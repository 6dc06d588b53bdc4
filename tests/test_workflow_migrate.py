"""Migrations (issue 23): a workflow file made before migrations existed is migrated with its
data; a database from a newer heatwatch is refused in one line; both backends have the same
versions.

tests/data/workflow-before-migrations.sql is `iterdump()` of a workflow.sqlite that main's
code (before this change) wrote: an alerts service with a leak, a cold room and an outage,
stepped twice, its messages failing (so the outbox holds pending rows with attempts).
"""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

from tests.services import Postgres
from workflow.db import Database, WorkflowError
from workflow.migrate import MIGRATIONS, migrations
from workflow.orders import Deadline
from workflow.unit import WorkflowDb

BEFORE = Path(__file__).parent / "data" / "workflow-before-migrations.sql"
TABLES = ("incident", "incident_event", "alert_order", "order_deadline", "order_audit",
          "outbox", "alert_cursor", "alert_counter")


def _old_file(path: Path) -> dict[str, list[tuple[object, ...]]]:
    """The old file, and its rows per table (deadlines in rowid order, with their rowid)."""
    raw = sqlite3.connect(path)
    raw.executescript(BEFORE.read_text(encoding="utf-8"))
    rows = {t: sorted(raw.execute(f"SELECT * FROM {t}").fetchall(), key=repr) for t in TABLES
            if t != "order_deadline"}
    rows["order_deadline"] = raw.execute("SELECT rowid, order_id, step, start_ms, due_ms, "
                                         "done_ms, warned_ms, breached_ms FROM order_deadline "
                                         "ORDER BY rowid").fetchall()
    tables = {r[0] for r in raw.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    raw.close()
    assert "schema_version" not in tables and "alert_order" in tables
    return rows


def test_a_file_made_before_migrations_is_migrated_and_keeps_its_data(tmp_path: Path) -> None:
    path = tmp_path / "workflow.sqlite"
    before = _old_file(path)
    assert len(before["alert_order"]) == 3 and len(before["outbox"]) > 0
    db = WorkflowDb(path)
    raw = sqlite3.connect(path)
    try:
        versions = [v for (v,) in raw.execute("SELECT version FROM schema_version ORDER BY 1")]
        assert versions == [m.version for m in migrations("sqlite")]
        for t in TABLES:
            if t != "order_deadline":
                assert sorted(raw.execute(f"SELECT * FROM {t}").fetchall(), key=repr) == before[t]
        # 0002: each deadline keeps its place in the order it was added, as its seq
        assert raw.execute("SELECT seq, order_id, step, start_ms, due_ms, done_ms, warned_ms, "
                           "breached_ms FROM order_deadline ORDER BY seq").fetchall() \
            == before["order_deadline"]
    finally:
        raw.close()
    # the repositories read the migrated rows; a new deadline comes after the old ones
    assert len(db.orders.find(include_closed=True)) == 3
    last = int(str(before["order_deadline"][-1][0]))
    with db.unit() as u:
        u.deadlines.add(Deadline("WO000009", "on_site", 0, 1))
    assert [(seq, r.deadline.order_id) for seq, r in db.deadlines.added_since(last)] \
        == [(last + 1, "WO000009")]
    db.close()
    # opening it again applies nothing
    assert Database(path).reader.one("SELECT COUNT(*) FROM schema_version") == (len(versions),)


def test_a_newer_database_is_refused_in_one_line(tmp_path: Path) -> None:
    path = tmp_path / "var" / "workflow.sqlite"
    WorkflowDb(path).close()
    raw = sqlite3.connect(path)
    raw.execute("INSERT INTO schema_version (version, name, applied_ms) VALUES (999, 'x', 0)")
    raw.commit()
    raw.close()
    with pytest.raises(WorkflowError, match="schema version 999, newer than"):
        WorkflowDb(path)
    conf = tmp_path / "hw.toml"
    conf.write_text(f'[site]\ndata_dir = "{tmp_path / "var"}"\n', encoding="utf-8")
    done = subprocess.run([sys.executable, "-m", "heatwatch.cli", "orders", "--config", str(conf)],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert done.stderr.strip().count("\n") == 0 and "newer than this heatwatch" in done.stderr


def test_both_backends_have_the_same_migrations() -> None:
    names = {d.name: [m.name for m in migrations(d.name)] for d in MIGRATIONS.iterdir()
             if d.is_dir()}
    assert set(names) == {"sqlite", "postgresql"}
    assert names["sqlite"] == names["postgresql"] and len(names["sqlite"]) >= 2


def test_postgresql_migrates_an_older_database_with_its_data(postgres: Postgres) -> None:
    """A database left at version 1 (before 0002) gets 0002, its deadlines numbered."""
    url = postgres.new_database()
    (first,) = [m for m in migrations("postgresql") if m.version == 1]
    with psycopg.connect(url, autocommit=True) as c:
        c.execute(first.sql)
        c.execute("CREATE TABLE schema_version (version INTEGER PRIMARY KEY, name TEXT NOT "
                  "NULL, applied_ms BIGINT NOT NULL)")
        c.execute("INSERT INTO schema_version VALUES (1, '0001_initial', 0)")
        c.execute("INSERT INTO order_deadline (order_id, step, start_ms, due_ms) VALUES "
                  "('WO000001', 'contact', 0, 10), ('WO000001', 'on_site', 0, 20)")
    db = WorkflowDb(url)
    got = [(seq, r.deadline.step) for seq, r in db.deadlines.added_since(0)]
    assert got == [(1, "contact"), (2, "on_site")]
    assert db._db.reader.rows("SELECT version FROM schema_version ORDER BY 1") == [(1,), (2,)]
    db.close()
