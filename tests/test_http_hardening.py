"""The crews' endpoint against probing and slow clients (issue 26, items 3 and 5)."""

from __future__ import annotations

import http.client
import json
import re
import socket
import time
import urllib.parse
from collections.abc import Iterator
from pathlib import Path

import pytest

from alerts.http import serve_in_thread
from tests.services import free_port, wait_port
from tests.test_alerts_http import Served, get, post, request
from tests.test_alerts_support import (
    ManualClock,
    Receiver,
    alerts_table,
    make_service,
    ms,
    raise_incident,
    reconcile,
)


def _serve(tmp_path: Path, **http: object) -> Iterator[Served]:
    clock = ManualClock(ms("2024-12-02 09:00"))
    port, receiver = free_port(), Receiver()
    table = alerts_table(receiver, http={"host": "127.0.0.1", "port": port, **http})
    svc = make_service(tmp_path, table, clock)
    inc = raise_incident(svc.db, "room_cold", "R1", clock.now_ms, clock.now_ms,
                         substation_id="S1", building_id="B1", account_id="A1")
    svc.step(clock.now_ms)
    (order,) = svc.db.orders.find()
    (msg,) = receiver.accepted("/crew")
    server = serve_in_thread(svc.actions, svc.phone_of)
    wait_port(port)
    links = dict(re.findall(r"^(\w+)（本人专用）：(http\S+)$", msg["body"]["message"], re.M))
    yield Served(svc, port, clock, order.order_id, links, receiver, inc)
    server.should_exit = True
    time.sleep(0.2)
    receiver.close()


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    yield from _serve(tmp_path, read_timeout_s=1.0, max_failed_links=10)


def test_a_token_has_exactly_one_valid_string(served: Served) -> None:
    s = served
    path = s.path("wang")
    assert get(s.port, path)[0] == 200
    last = path[-1]
    for other in {"A", "B", "g", "-", "_"} - {last}:
        assert get(s.port, path[:-1] + other)[0] == 404
    assert get(s.port, path + "A")[0] == 404
    assert get(s.port, path + "=")[0] == 404


def test_security_headers_and_no_server_banner(served: Served) -> None:
    s = served
    for accept in ("text/html", "application/json"):
        c = http.client.HTTPConnection("127.0.0.1", s.port, timeout=10)
        c.request("GET", s.path("wang"), headers={"Accept": accept})
        r = c.getresponse()
        r.read()
        csp = r.getheader("Content-Security-Policy") or ""
        assert r.status == 200 and "default-src 'none'" in csp
        assert "form-action 'self'" in csp and "frame-ancestors 'none'" in csp
        assert r.getheader("X-Content-Type-Options") == "nosniff"
        assert r.getheader("Server") is None
        c.close()


def test_failed_link_lookups_are_limited_per_client(served: Served) -> None:
    s = served
    bad = f"/o/{s.order_id}/AAAA.BBBB"
    assert [get(s.port, bad)[0] for _ in range(10)] == [404] * 10
    status, body = request(s.port, "GET", bad, headers={"Accept": "application/json"})
    assert status == 429 and b"too many" in body


def test_a_note_with_control_characters_is_400(served: Served) -> None:
    s = served
    assert post(s.port, s.path("wang") + "/accept")[0] == 200
    status, doc = post(s.port, s.path("wang") + "/contact", {"note": "ok\x1b[2J"})
    assert status == 400 and "control characters" in doc["error"]
    order = s.svc.db.orders.get(s.order_id)
    assert order is not None and order.state == "accepted"


def test_a_link_from_the_outbox_after_delivery_opens_nothing(served: Served) -> None:
    s = served
    (row,) = s.svc.db.outbox.find("sent")[:1]
    stored = s.svc.db._db.reader.one("SELECT body, data FROM outbox WHERE id=?", (row["id"],))
    assert stored is not None
    assert "/o/" not in stored[0] and "/o/" not in stored[1]
    assert s.links["wang"] not in json.dumps(stored, ensure_ascii=False)


def test_links_are_revoked_when_the_order_closes_or_is_reassigned(served: Served) -> None:
    s = served
    assert post(s.port, s.path("li") + "/accept")[0] == 200
    s.clock.now_ms += 60_000
    s.svc.act(s.order_id, "reassign", "dispatcher", "li off shift", new_owner="wang")
    assert get(s.port, s.path("li"))[0] == 404  # the old owner's link
    assert get(s.port, s.path("wang"))[0] == 200  # the new owner's
    for action in ("contact", "arrive"):
        s.svc.act(s.order_id, action, "wang")
    assert s.incident is not None
    s.incident.closed_ms = s.clock.now_ms  # the data shows the room warm: the fix stands
    reconcile(s.svc.db, s.incident, s.clock.now_ms)
    s.svc.act(s.order_id, "resolve", "wang", "fixed")
    s.svc.act(s.order_id, "visit", "客服", "ok")
    s.svc.act(s.order_id, "close", "客服")
    assert get(s.port, s.path("wang"))[0] == 404


def test_stalled_connections_are_closed_and_a_valid_link_answers_throughout(
        served: Served) -> None:
    s = served
    stalled: list[socket.socket] = []
    for i in range(400):
        c = socket.create_connection(("127.0.0.1", s.port), timeout=5)
        if i % 2:  # mid-headers
            c.sendall(f"GET {s.path('wang')} HTTP/1.1\r\nHost: x\r\n".encode())
        else:  # mid-body
            c.sendall(f"POST {s.path('wang')}/contact HTTP/1.1\r\nHost: x\r\n"
                      "Content-Type: application/x-www-form-urlencoded\r\n"
                      "Content-Length: 100\r\n\r\nnote=".encode())
        stalled.append(c)
    started = time.monotonic()
    assert get(s.port, s.path("wang"))[0] == 200
    closed = 0
    for c in stalled:
        c.settimeout(max(0.1, 4.0 - (time.monotonic() - started)))
        try:
            while c.recv(4096):
                pass
            closed += 1
        except OSError:
            pass
        finally:
            c.close()
        if closed % 100 == 1:
            assert get(s.port, s.path("wang"))[0] == 200
    assert closed == 400
    assert time.monotonic() - started < 5.0
    assert urllib.parse.urlsplit(s.links["wang"]).path == s.path("wang")
