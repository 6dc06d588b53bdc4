"""Crew endpoint memory under a huge request body: the capped endpoint vs a baseline that
reads the body before anything else (what the endpoint did before issue 10).

Each server runs in its own process; the figure is that process's peak RSS (VmHWM) before and
after one POST of --mb megabytes, sent chunked (no Content-Length) and with the length
announced.

Run: .venv/bin/python -m bench.crew_body [--mb 300]
"""

from __future__ import annotations

import argparse
import select
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

CHUNK = b"x" * (1 << 20)


def serve(kind: str, port: int, tmp: str) -> None:
    """The server process: print the path to POST to, then serve until killed."""
    import uvicorn
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse, Response
    from starlette.routing import Route

    if kind == "baseline":
        async def act(request: Request) -> Response:
            await request.body()  # the body first, then the token check
            return JSONResponse({"error": "wrong or missing crew token"}, 403)

        app = Starlette(routes=[Route("/o/{order_id}/{action}", act, methods=["POST"])])
        print("/o/WO000001/accept", flush=True)
        uvicorn.run(app, host="127.0.0.1", port=port, log_level="error")
        return
    from alerts.http import serve_in_thread
    from tests.test_alerts_support import (
        ManualClock,
        alerts_table,
        make_service,
        ms,
        raise_incident,
    )

    clock = ManualClock(ms("2024-12-02 09:00"))
    table = alerts_table(None, http={"host": "127.0.0.1", "port": port})
    table["crew"][0]["channels"] = []
    svc = make_service(Path(tmp), table, clock)
    raise_incident(svc.db, "room_cold", "R1", clock.now_ms, clock.now_ms,
                   substation_id="S1", building_id="B1", account_id="A1")
    svc.step(clock.now_ms)
    (order,) = svc.db.orders.find()
    link = svc.links(order)["wang"]
    serve_in_thread(svc.actions, svc.phone_of)
    print(link.split(f":{port}", 1)[1] + "/accept", flush=True)
    threading.Event().wait()


def hwm_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise RuntimeError("no VmHWM")


def post(port: int, path: str, mb: int, announce: bool) -> int:
    """Send the body chunk by chunk, stopping as soon as the server has answered."""
    with socket.create_connection(("127.0.0.1", port), timeout=120) as sock:
        head = f"POST {path} HTTP/1.1\r\nHost: bench\r\nContent-Type: application/json\r\n"
        head += (f"Content-Length: {mb * len(CHUNK)}\r\n" if announce
                 else "Transfer-Encoding: chunked\r\n")
        sock.sendall((head + "\r\n").encode())
        try:
            for _ in range(mb):
                if select.select([sock], [], [], 0)[0]:
                    break  # an answer before the body ended: the server refused it
                sock.sendall(CHUNK if announce
                             else b"%x\r\n" % len(CHUNK) + CHUNK + b"\r\n")
            else:
                if not announce:
                    sock.sendall(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass
        try:
            answer = sock.recv(4096).decode("latin-1")
        except ConnectionResetError:
            return -1
    return int(answer.split()[1]) if answer.startswith("HTTP/") else -1


def measure(kind: str, mb: int, announce: bool) -> tuple[int, int, int, float]:
    from tests.services import free_port, wait_port

    port = free_port()
    with tempfile.TemporaryDirectory() as tmp:
        p = subprocess.Popen([sys.executable, "-m", "bench.crew_body", "--serve", kind,
                              "--port", str(port), "--tmp", tmp],
                             stdout=subprocess.PIPE, text=True,
                             cwd=Path(__file__).resolve().parents[1])
        try:
            assert p.stdout is not None
            path = p.stdout.readline().strip()
            wait_port(port)
            before = hwm_kb(p.pid)
            t0 = time.perf_counter()
            status = post(port, path, mb, announce)
            took = time.perf_counter() - t0
            time.sleep(0.3)
            return status, before, hwm_kb(p.pid), took
        finally:
            p.kill()
            p.wait()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--mb", type=int, default=300)
    ap.add_argument("--serve", choices=["heatwatch", "baseline"])
    ap.add_argument("--port", type=int)
    ap.add_argument("--tmp")
    a = ap.parse_args()
    if a.serve:
        serve(a.serve, a.port, a.tmp)
        return
    print(f"one POST of {a.mb} MB to the crew endpoint; server peak RSS (VmHWM)")
    print(f"{'server':<28}{'body':<12}{'status':>7}{'RSS before':>12}{'RSS after':>11}"
          f"{'time':>8}")
    for kind, label in (("baseline", "baseline (reads the body)"),
                        ("heatwatch", "heatwatch (capped)")):
        for announce in (False, True):
            status, before, after, took = measure(kind, a.mb, announce)
            shown = "closed" if status == -1 else str(status)
            print(f"{label:<28}{'length' if announce else 'chunked':<12}{shown:>7}"
                  f"{before / 1024:>10.0f}MB{after / 1024:>9.0f}MB{took:>7.2f}s")


if __name__ == "__main__":
    main()
