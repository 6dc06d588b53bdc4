"""The workflow on PostgreSQL with real processes at once (issue 23): two alerts services
deliver each message once, two analyzer shards write incidents together, two clerks act on
one order at the same moment and one of them is told."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.services import Postgres
from tests.test_alerts_delivery import _write_table
from tests.test_alerts_support import Receiver, alerts_table, raise_incident, write_records
from workflow.incidents import IncidentStore
from workflow.unit import WorkflowDb

ROOT = Path(__file__).resolve().parents[1]
HOUR_MS = 3_600_000


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


def site_config(tmp: Path, name: str, url: str, receiver: Receiver | None = None) -> Path:
    """A heatwatch config of its own (its own data dir: another machine) on one database."""
    table = alerts_table(receiver, delivery={"retry_base_s": 0.2, "retry_max_s": 0.5,
                                             "tick_s": 0.05, "timeout_s": 5.0},
                         http={"enabled": False})
    alerts = tmp / f"{name}-alerts.toml"
    _write_table(alerts, table)
    conf = tmp / f"{name}.toml"
    conf.write_text(f'[site]\nrecords_dir = "{tmp / "records"}"\n'
                    f'data_dir = "{tmp / name}"\nworkflow_url = "{url}"\n'
                    + alerts.read_text(encoding="utf-8"), encoding="utf-8")
    return conf


def heatwatch(*args: str, log: Path | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "heatwatch.cli", *args], cwd=ROOT,
                            stdout=subprocess.PIPE if log is None else subprocess.DEVNULL,
                            stderr=subprocess.PIPE if log is None else log.open("ab"),
                            text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})


def wait_for(cond: object, what: str, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not cond():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def stop(procs: list[subprocess.Popen[str]]) -> None:
    for p in procs:
        p.terminate()
    for p in procs:
        try:
            p.wait(20)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def test_two_alerts_services_deliver_each_notice_and_crew_message_once(
        tmp_path: Path, postgres: Postgres, receiver: Receiver) -> None:
    url = postgres.new_database()
    write_records(tmp_path / "records")
    now = int(time.time() * 1000)
    incidents = IncidentStore(url)
    for i in range(12):  # crew messages: one order each, to the crew's webhook
        raise_incident(incidents, "leak", "S1", now - i * 60_000, now, substation_id="S1")
    for sid in ("S1", "S2"):  # resident notices: outages past the notice instant
        raise_incident(incidents, "outage", sid, now - 30 * HOUR_MS, now, substation_id=sid)
    incidents.close()
    confs = [site_config(tmp_path, name, url, receiver) for name in ("a", "b")]
    procs = [heatwatch("alerts", "--config", str(c), log=tmp_path / f"{c.stem}.log")
             for c in confs]
    db = WorkflowDb(url)
    try:
        def all_sent() -> bool:
            rows = db.outbox.find()
            return len(rows) > 12 and all(r["status"] == "sent" for r in rows)

        wait_for(all_sent, "every outbox row sent")
        time.sleep(1.0)  # a double send would come now, if ever
    finally:
        stop(procs)
    keys = [r["dedup_key"] for r in db.outbox.find()]
    accepted = receiver.accepted()
    # exactly once, before any dedup: as many requests as messages, one per key
    assert len(accepted) == len(keys) == len(set(keys))
    assert set(receiver.dedup_counts()) == set(keys)
    orders = db.orders.find(include_closed=True)
    assert len(orders) == len({o.incident_key for o in orders}) >= 12
    notices = db.notices.find()
    assert len(notices) == len({(n["incident_key"], n["account_id"]) for n in notices}) > 0
    assert any(r["channel"] == "sms" for r in db.outbox.find())
    for c in confs:  # both services ran (each wrote its log) and neither died
        assert "Traceback" not in (tmp_path / f"{c.stem}.log").read_text(encoding="utf-8")
    db.close()


SHARD = """
import sys, time
from workflow.incidents import Incident, IncidentStore, incident_key
url, shard, cycles = sys.argv[1], sys.argv[2], int(sys.argv[3])
store = IncidentStore(url)
subjects = [f"{shard}-{i}" for i in range(20)]
for c in range(cycles):
    # each cycle: the shard's open incidents as found now (some close, some open again)
    found = [Incident(incident_key("outage", s, 1000), "outage", s, 1000, substation_id=s)
             for i, s in enumerate(subjects) if (i + c) % 3]
    store.reconcile(found, 2000 + c, ["outage"], scope={"outage": subjects})
store.close()
"""


def test_two_analyzer_shards_write_incidents_at_once(postgres: Postgres) -> None:
    url = postgres.new_database()
    WorkflowDb(url).close()
    cycles = 30
    procs = [subprocess.Popen([sys.executable, "-c", SHARD, url, shard, str(cycles)], cwd=ROOT,
                              stderr=subprocess.PIPE, text=True,
                              env={**os.environ, "PYTHONPATH": str(ROOT)})
             for shard in ("east", "west")]
    for p in procs:
        _, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
    store = IncidentStore(url)
    found = store.find(include_closed=True)
    assert len(found) == 40 and {i.subject.split("-")[0] for i in found} == {"east", "west"}
    last = cycles - 1
    assert {i.subject for i in store.find()} == {f"{s}-{i}" for s in ("east", "west")
                                                for i in range(20) if (i + last) % 3}
    events = store.events_after(0, 100_000)
    seqs = [e.seq for e in events]
    assert seqs == sorted(set(seqs))  # one numbering, no event twice
    # each shard's events alternate open/close per subject: never two opens in a row
    for s in {e.key for e in events}:
        kinds = [e.event for e in events if e.key == s and e.event in ("opened", "closed")]
        assert all(a != b for a, b in zip(kinds, kinds[1:], strict=False)), (s, kinds)
    store.close()


def test_two_clerks_on_one_order_at_the_same_moment_one_wins_the_other_is_told(
        tmp_path: Path, postgres: Postgres) -> None:
    url = postgres.new_database()
    write_records(tmp_path / "records")
    conf = site_config(tmp_path, "desk", url)
    now = int(time.time() * 1000)
    incidents = IncidentStore(url)
    for i in range(3):
        raise_incident(incidents, "leak", "S1", now - i * 60_000, now, substation_id="S1")
    incidents.close()
    once = heatwatch("alerts", "--once", "--config", str(conf))
    assert once.wait(60) == 0, once.communicate()[1]
    db = WorkflowDb(url)
    orders = db.orders.find()
    assert len(orders) == 3
    for order in orders:  # each order: both clerks accept it at once; exactly one wins
        procs = [heatwatch("orders", "accept", order.order_id, "--actor", who, "--config",
                           str(conf)) for who in ("wang", "li")]
        outs = [(p.wait(60), *p.communicate()) for p in procs]
        assert sorted(code for code, _, _ in outs) == [0, 2], outs
        (winner,) = [who for who, (code, _, _) in zip(("wang", "li"), outs, strict=True)
                     if code == 0]
        (told,) = [err for code, _, err in outs if code == 2]
        # the other is told, in one line, that the order is no longer there to accept
        assert told.count("\n") == 1 and told.startswith("heatwatch: error:"), told
        got = db.orders.get(order.order_id)
        assert got is not None and got.state == "accepted" and got.owner == winner
        history = db.orders.history(order.order_id)
        assert [h["action"] for h in history].count("accept") == 1
    shown = heatwatch("orders", "--json", "--config", str(conf))
    listed = json.loads(shown.communicate()[0])
    assert sorted(o["order_id"] for o in listed) == sorted(o.order_id for o in orders)
    db.close()


WRITER = """
import sys, time
from workflow.db import StoreBusy
from workflow.incidents import Incident, IncidentStore, incident_key
url, n, now = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
store = None
i = 0
while i < n:
    inc = Incident(incident_key("leak", "S1", now - i * 1000), "leak", "S1", now - i * 1000,
                   substation_id="S1")
    try:
        store = store or IncidentStore(url, busy_timeout_s=1.0)
        store.reconcile([inc], now, ["leak"], scope={"leak": []})
    except StoreBusy as e:
        print("busy", e, file=sys.stderr, flush=True)
        time.sleep(0.2)
        continue
    print(inc.key, flush=True)  # committed: the test counts on it
    i += 1
    time.sleep(0.1)
"""


def test_postgresql_killed_mid_cycle_and_restarted_loses_and_doubles_nothing(
        tmp_path: Path, postgres_own: Postgres, receiver: Receiver) -> None:
    """SIGKILL the database (postmaster and backends) while an analyzer writes incidents and
    two alerts services turn them into orders and messages; start it again on its port. The
    writers back off and go on: every committed incident has one order, every message is
    delivered, none twice after the receiver's dedup (a send in flight at the kill, whose
    `sent` mark was lost, is sent again with its key)."""
    pg = postgres_own
    url = pg.new_database()
    WorkflowDb(url).close()
    write_records(tmp_path / "records")
    confs = [site_config(tmp_path, name, url, receiver) for name in ("a", "b")]
    procs = [heatwatch("alerts", "--config", str(c), log=tmp_path / f"{c.stem}.log")
             for c in confs]
    n = 60
    writer = subprocess.Popen([sys.executable, "-c", WRITER, url, str(n),
                               str(int(time.time() * 1000))], cwd=ROOT, text=True,
                              stdout=subprocess.PIPE, stderr=(tmp_path / "writer.log").open("w"),
                              env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        watch = WorkflowDb(url)
        wait_for(lambda: len(watch.incidents.find()) >= 15 and len(receiver.accepted()) >= 5,
                 "the first incidents and deliveries")
        watch.close()
        pg.kill()  # mid-cycle: incidents being written, orders opened, messages sent
        time.sleep(2.0)
        pg.start()
        out, _ = writer.communicate(timeout=180)
        assert writer.returncode == 0
        committed = set(out.split())
        assert len(committed) == n
        db = WorkflowDb(url)

        def settled() -> bool:
            rows = db.outbox.find()
            return (len(db.orders.find(include_closed=True)) == n
                    and all(r["status"] == "sent" for r in rows))

        wait_for(settled, "every order opened and every message sent", 120)
    finally:
        stop(procs)
        if writer.poll() is None:
            writer.kill()
    assert "busy" in (tmp_path / "writer.log").read_text(encoding="utf-8")  # it did back off
    assert {i.key for i in db.incidents.find(include_closed=True)} == committed
    orders = db.orders.find(include_closed=True)
    assert sorted(o.incident_key for o in orders) == sorted(committed)  # one order each
    keys = [r["dedup_key"] for r in db.outbox.find()]
    assert len(keys) == len(set(keys)) >= n
    counts = receiver.dedup_counts()
    assert set(counts) == set(keys)  # nothing lost
    # at most the sends in flight at the kill went twice (2 services x 2 channels)
    assert sum(c - 1 for c in counts.values()) <= 4, counts.most_common(5)
    logs = "".join((tmp_path / f"{c.stem}.log").read_text(encoding="utf-8") for c in confs)
    # they waited for the database (the pool reconnecting, or StoreBusy and a backoff)
    assert any(w in logs for w in ("error connecting", "backing off", "waits for the workflow"))
    assert "Traceback" not in logs, logs[-3000:]
    db.close()
