"""Crews act from their phones: the Starlette endpoint under uvicorn on loopback, and the CLI."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from alerts.http import serve_in_thread
from alerts.service import AlertsService
from tests.services import free_port, wait_port
from tests.test_alerts_support import ManualClock, make_service, ms, raise_incident


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[AlertsService, int]]:
    clock = ManualClock(ms("2024-12-02 09:00"))
    port = free_port()
    svc = make_service(tmp_path, {
        "http": {"host": "127.0.0.1", "port": port},
        "crew": [{"id": "north", "substations": ["S1"], "token": "tok-north"},
                 {"id": "west", "substations": ["S2"], "token": "tok-west"}]}, clock)
    raise_incident(svc.db, "room_cold", "R1", clock.now_ms, clock.now_ms,
                   substation_id="S1", building_id="B1", account_id="A1")
    svc.step(clock.now_ms)
    server = serve_in_thread(svc.actions)
    wait_port(port)
    yield svc, port
    server.should_exit = True
    time.sleep(0.2)


def _post(port: int, path: str, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
    data = urllib.parse.urlencode(form).encode()
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=data, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def test_crew_actions_over_http(served: tuple[AlertsService, int]) -> None:
    svc, port = served
    (order,) = svc.db.orders.find()
    link = svc.link(order)
    assert link == f"http://127.0.0.1:{port}/o/{order.order_id}?t=tok-north"
    with urllib.request.urlopen(link, timeout=10) as r:
        page = r.read().decode()
    assert order.order_id in page and "东风路1号楼" in page and "接单" in page

    base = f"/o/{order.order_id}"
    assert _post(port, f"{base}/accept", {"t": "tok-west", "member": "zhao"})[0] == 403
    assert _post(port, f"{base}/accept", {"t": "wrong", "member": "zhao"})[0] == 403
    status, body = _post(port, f"{base}/accept", {"t": "tok-north", "member": "wang"})
    assert (status, body["state"], body["owner"]) == (200, "accepted", "wang")
    assert _post(port, f"{base}/contact", {"t": "tok-north"})[1]["state"] == "contacted"
    status, body = _post(port, f"{base}/resolve", {"t": "tok-north", "note": "done"})
    assert status == 409
    assert body["error"] == (f"cannot resolve order {order.order_id} before it is on_site "
                             "(已到场); it is contacted (已联系用户)")
    assert _post(port, f"{base}/arrive", {"t": "tok-north"})[1]["state"] == "on_site"
    status, body = _post(port, f"{base}/resolve", {"t": "tok-north", "note": "更换阀门"})
    assert (status, body["state"]) == (200, "resolved")
    hist = svc.db.orders.history(order.order_id)
    assert [(h["actor"], h["to_state"]) for h in hist[-4:]] == [
        ("wang", "accepted"), ("wang", "contacted"), ("wang", "on_site"), ("wang", "resolved")]
    assert hist[-1]["note"] == "更换阀门"


def test_cli_actions_and_listings(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from heatwatch.commands.alerts import (
        AlertsCliError,
        kpi_command,
        notices_command,
        orders_command,
    )
    from heatwatch.config import Config

    clock = ManualClock(ms("2024-12-02 09:00"))
    svc = make_service(tmp_path, {}, clock)
    raise_incident(svc.db, "leak", "S1", clock.now_ms, clock.now_ms, substation_id="S1")
    svc.step(clock.now_ms)
    cfg = Config()
    cfg.site.data_dir = str(tmp_path)
    cfg.site.records_dir = str(tmp_path / "records")
    (order,) = svc.db.orders.find()
    assert orders_command(cfg, None, None, "", "x", False, True) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [o["order_id"] for o in listed] == [order.order_id]
    at = ms("2024-12-02 09:10") / 1000
    assert orders_command(cfg, "accept", order.order_id, "", "li", False, False, at) == 0
    with pytest.raises(AlertsCliError, match="before it is on_site"):
        orders_command(cfg, "resolve", order.order_id, "fixed", "li", False, False, at)
    assert orders_command(cfg, "arrive", order.order_id, "", "li", False, False, at) == 0
    assert orders_command(cfg, "show", order.order_id, "", "", False, True) == 0
    capsys.readouterr()
    assert notices_command(cfg, True) == 0
    assert json.loads(capsys.readouterr().out) == []
    assert kpi_command(cfg, "crew", "day", True, ms("2024-12-02 12:00") / 1000) == 0
    (row,) = json.loads(capsys.readouterr().out)
    assert (row["orders"], row["late"], row["rate_pct"]) == (1, 0, 100.0)


def test_cli_reassign_is_recorded_and_moves_ownership(tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    from heatwatch.commands.alerts import AlertsCliError, orders_command
    from heatwatch.config import Config

    clock = ManualClock(ms("2024-12-02 09:00"))
    svc = make_service(tmp_path, {}, clock)
    raise_incident(svc.db, "leak", "S1", clock.now_ms, clock.now_ms, substation_id="S1")
    svc.step(clock.now_ms)
    cfg = Config()
    cfg.site.data_dir = str(tmp_path)
    cfg.site.records_dir = str(tmp_path / "records")
    (order,) = svc.db.orders.find()
    at = ms("2024-12-02 09:05") / 1000
    assert orders_command(cfg, "accept", order.order_id, "", "li", False, False, at) == 0
    with pytest.raises(AlertsCliError, match="new owner"):
        orders_command(cfg, "reassign", order.order_id, "", "dispatcher", False, False, at)
    assert orders_command(cfg, "reassign", order.order_id, "li is off shift", "dispatcher",
                          False, False, at, new_owner="wang") == 0
    capsys.readouterr()
    assert orders_command(cfg, "show", order.order_id, "", "", False, True) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["owner"] == "wang"
    assert [(h["actor"], h["action"], h["note"]) for h in shown["history"]][-1] == (
        "dispatcher", "reassign", "li is off shift")
