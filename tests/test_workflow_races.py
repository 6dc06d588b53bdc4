"""Transitions are atomic across processes (issue 26, item 1): a crew member's accept over
HTTP and another's `heatwatch orders accept` in a real process, started together."""

from __future__ import annotations

import threading
import time
import urllib.parse
from pathlib import Path

import pytest

from alerts.http import serve_in_thread
from tests.hardening import waiting_cli, write_config
from tests.services import free_port, wait_port
from tests.test_alerts_http import post
from tests.test_alerts_support import (
    ManualClock,
    alerts_table,
    make_service,
    ms,
    raise_incident,
)

ROUNDS = 20


def test_http_accept_against_cli_accept_one_owner_each_time(tmp_path: Path) -> None:
    clock = ManualClock(ms("2024-12-02 09:00"))
    port = free_port()
    table = alerts_table(http={"host": "127.0.0.1", "port": port})
    svc = make_service(tmp_path, table, clock)
    for i in range(ROUNDS):
        raise_incident(svc.db, "room_cold", f"R{i}", clock.now_ms, clock.now_ms,
                       substation_id="S1", building_id="B1", account_id="A1")
    svc.ingest(clock.now_ms)
    orders = svc.db.orders.find()
    assert len(orders) == ROUNDS
    server = serve_in_thread(svc.actions, svc.phone_of)
    wait_port(port)
    config = write_config(tmp_path / "heatwatch.toml", tmp_path, tmp_path / "records", table)
    go = [tmp_path / f"go-{i}" for i in range(ROUNDS)]
    procs = [waiting_cli(go[i], "orders", "accept", o.order_id, "--actor", "li",
                         "--config", str(config)) for i, o in enumerate(orders)]
    try:
        for i, order in enumerate(orders):
            link = svc.links(order)["wang"]
            path = urllib.parse.urlsplit(link).path + "/accept"
            got: dict[str, int] = {}

            def http_accept(path: str = path, got: dict[str, int] = got) -> None:
                got["status"] = post(port, path)[0]

            t = threading.Thread(target=http_accept)
            go[i].touch()
            t.start()
            out, err = procs[i].communicate(timeout=60)
            t.join(30)
            winners = ({"wang"} if got["status"] == 200 else set()) | (
                {"li"} if procs[i].returncode == 0 else set())
            assert len(winners) == 1, (got, procs[i].returncode, out, err)
            assert got["status"] in (200, 409)
            now = svc.db.orders.get(order.order_id)
            assert now is not None and {now.owner} == winners
            accepts = [h for h in svc.db.orders.history(order.order_id)
                       if h["action"] == "accept"]
            assert [h["actor"] for h in accepts] == [now.owner]
            if now.owner == "wang":
                assert "li" not in out  # li was never told he owns it
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
        server.should_exit = True
        time.sleep(0.2)


@pytest.mark.parametrize("owner", ["", "wang"])
def test_a_stale_update_is_refused_and_nothing_stored(tmp_path: Path, owner: str) -> None:
    from workflow.orders import StaleOrder

    clock = ManualClock(ms("2024-12-02 09:00"))
    svc = make_service(tmp_path, alerts_table(), clock)
    raise_incident(svc.db, "leak", "S1", clock.now_ms, clock.now_ms, substation_id="S1")
    svc.ingest(clock.now_ms)
    (order,) = svc.db.orders.find()
    read = svc.db.orders.get(order.order_id)
    assert read is not None
    svc.act(order.order_id, "accept", "li")  # another writer, after `read` was taken
    stale = type(read)(**{**read.as_dict(), "owner": owner or "zhao", "state": "accepted"})
    with pytest.raises(StaleOrder), svc.db.unit() as u:
        u.orders.set_state(stale, was=read)
    now = svc.db.orders.get(order.order_id)
    assert now is not None and now.owner == "li"
