"""Workflow store benchmark: the embedded SQLite file and PostgreSQL side by side.

- orders/s: N leak incidents, then the alerts service's ingest opens their orders (each one
  unit: the order, its deadlines, two audit lines, the crew's message in the outbox);
- outbox deliveries/s: M messages through the Deliverer to an in-process channel that only
  counts, so the figure is the store's part (claim, mark sending, mark sent);
- 10 desk clients: a real `heatwatch desk` process, 10 clerks signed in, each taking calls in
  a loop for S seconds: calls/s and each call's latency (p50, p95).

PostgreSQL is a throwaway cluster started here (tests/services.py: initdb in a temp dir), with
fsync on, so each commit waits for the disk as SQLite's synchronous=FULL does. Both share the
machine's cores with the desk process and its clients.

Run: .venv/bin/python -m bench.workflow [--orders 500] [--messages 2000] [--seconds 10]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from alerts.config import AlertsConfig  # noqa: E402
from alerts.outbox import Deliverer  # noqa: E402
from alerts.service import AlertsService  # noqa: E402
from desk.auth import add_staff  # noqa: E402
from district.records import load_records  # noqa: E402
from tests.desk_fixture import PASSWORD, Client, free_port, running_desk  # noqa: E402
from tests.services import Postgres  # noqa: E402
from tests.test_alerts_support import alerts_table, write_records  # noqa: E402
from workflow.incidents import Incident, IncidentStore, incident_key  # noqa: E402
from workflow.outbox import Message, OutboxRow  # noqa: E402
from workflow.unit import WorkflowDb  # noqa: E402

T0 = 1_733_101_200_000  # 2024-12-02 09:00 +08:00
CLERKS = 10


class Counting:
    """A channel that takes every message at once: what is left is the store's work."""

    name = "count"

    def __init__(self) -> None:
        self.sent = 0

    def send(self, row: OutboxRow) -> None:
        self.sent += 1

    def close(self) -> None:
        pass


def orders_per_s(target: Path | str, tmp: Path, n: int) -> float:
    store = IncidentStore(target)
    store.reconcile([Incident(incident_key("leak", f"S{i}", T0), "leak", f"S{i}", T0,
                              substation_id="S1") for i in range(n)], T0, ["leak"])
    store.close()
    cfg = AlertsConfig.from_mapping(alerts_table())
    rec = load_records(write_records(tmp / "records"))
    db = WorkflowDb(target)
    svc = AlertsService(cfg, rec, db, {}, lambda: T0)
    t = time.perf_counter()
    taken = svc.ingest(T0, limit=n)
    dt = time.perf_counter() - t
    assert taken == n and len(db.orders.find()) == n
    db.close()
    return n / dt


def deliveries_per_s(target: Path | str, m: int) -> float:
    db = WorkflowDb(target)
    with db.unit() as u:
        for i in range(m):
            u.outbox.enqueue(Message(f"bench:{i}", "count", "t", "b"), T0)
    channel = Counting()
    cfg = AlertsConfig.from_mapping({}).delivery
    deliverer = Deliverer(db, {"count": channel}, cfg, lambda: T0)
    t = time.perf_counter()
    while channel.sent < m:
        deliverer.deliver_channel("count", T0)
    dt = time.perf_counter() - t
    assert len(db.outbox.find("sent")) == m
    db.close()
    return m / dt


def desk_clients(target: Path | str, tmp: Path, seconds: float) -> tuple[float, float, float]:
    """calls/s of 10 clerks at once on a real desk, and the p50 and p95 latency in ms."""
    port = free_port()
    url = f'workflow_url = "{target}"\n' if isinstance(target, str) else ""
    conf = tmp / "desk.toml"
    conf.write_text(f'[site]\ndata_dir = "{tmp / "var"}"\n{url}\n[desk]\nport = {port}\n'
                    "signin_delay_s = 0.1\n", encoding="utf-8")
    db = WorkflowDb(target if isinstance(target, str) else tmp / "var" / "workflow.sqlite")
    for i in range(CLERKS):
        add_staff(db, f"clerk{i}", "clerk", PASSWORD, int(time.time() * 1000))
    db.close()
    latencies: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()
    with running_desk(conf, port) as base:
        clients = [Client(base) for _ in range(CLERKS)]
        for i, c in enumerate(clients):
            assert c.sign_in(f"clerk{i}").status == 200
        start = threading.Barrier(CLERKS)
        stop_at: list[float] = []

        def clerk(c: Client, i: int) -> None:
            account = f"B01-010{1 + i % 4}"
            start.wait()
            if not stop_at:
                stop_at.append(time.monotonic() + seconds)
            while time.monotonic() < stop_at[0]:
                t = time.perf_counter()
                page = c.get(f"/household/{account}")
                done = c.post("/calls", {"csrf": page.csrf(), "account_id": account,
                                         "kind": "inquiry", "received": "2026-12-07T10:00",
                                         "text": "bench", "reporter": ""})
                if done.status != 200 or "/calls/CL" not in done.url:
                    errors.append(f"{done.status} {done.text[:200]}")
                    return
                with lock:
                    latencies.append((time.perf_counter() - t) * 1000)

        threads = [threading.Thread(target=clerk, args=(c, i)) for i, c in enumerate(clients)]
        t0 = time.monotonic()
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        elapsed = time.monotonic() - t0
    if errors:
        raise RuntimeError(f"a desk client failed: {errors[0]}")
    q = statistics.quantiles(latencies, n=20)
    return len(latencies) / elapsed, statistics.median(latencies), q[18]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--orders", type=int, default=500)
    p.add_argument("--messages", type=int, default=2000)
    p.add_argument("--seconds", type=float, default=10.0)
    a = p.parse_args(argv)
    rows: dict[str, dict[str, str]] = {}
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        pg = Postgres(tmp / "pg", fsync=True)
        pg.start()
        try:
            backends: dict[str, Callable[[str], Path | str]] = {
                "SQLite": lambda what: tmp / f"{what}.sqlite",
                "PostgreSQL": lambda what: pg.new_database(what)}
            for name, target in backends.items():
                (tmp / name).mkdir()
                r = rows.setdefault(name, {})
                r["orders/s"] = f"{orders_per_s(target('orders'), tmp / name, a.orders):,.0f}"
                r["deliveries/s"] = f"{deliveries_per_s(target('outbox'), a.messages):,.0f}"
                calls, p50, p95 = desk_clients(target("desk") if name != "SQLite" else
                                               tmp / name / "var" / "workflow.sqlite",
                                               tmp / name, a.seconds)
                r[f"desk calls/s ({CLERKS} clerks)"] = f"{calls:,.1f}"
                r["call p50 ms"] = f"{p50:,.0f}"
                r["call p95 ms"] = f"{p95:,.0f}"
        finally:
            pg.remove()
    cols = list(next(iter(rows.values())))
    print(f"workflow store: {a.orders} orders, {a.messages} messages, "
          f"{CLERKS} desk clerks for {a.seconds:g} s")
    print(f"{'':12}" + "".join(f"{c:>26}" for c in cols))
    for name, r in rows.items():
        print(f"{name:12}" + "".join(f"{r[c]:>26}" for c in cols))
    return 0


if __name__ == "__main__":
    sys.exit(main())
