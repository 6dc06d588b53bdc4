"""A real desk for the tests: `heatwatch desk` in its own process on a free loopback port, its
staff added through the same code as `heatwatch staff add`, and a cookie-keeping client."""

from __future__ import annotations

import http.cookiejar
import re
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from desk.auth import add_staff
from workflow.unit import WorkflowDb

ROOT = Path(__file__).resolve().parent.parent
PASSWORD = "correct-horse-1"
STAFF = (("li", "clerk"), ("wang", "clerk"), ("zhao", "supervisor"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def write_config(tmp: Path, port: int, ttl_min: float = 30.0, delay_s: float = 0.5,
                 records: Path | None = None) -> Path:
    cfg = tmp / "desk.toml"
    site = f'records_dir = "{records}"\n' if records else ""
    cfg.write_text(f'[site]\ndata_dir = "{tmp / "var"}"\n{site}\n[desk]\nport = {port}\n'
                   f"session_ttl_min = {ttl_min}\nsignin_delay_s = {delay_s}\n",
                   encoding="utf-8")
    db = WorkflowDb(tmp / "var" / "workflow.sqlite")
    for name, role in STAFF:
        add_staff(db, name, role, PASSWORD, int(time.time() * 1000))
    db.close()
    return cfg


@contextmanager
def running_desk(cfg: Path, port: int) -> Iterator[str]:
    """`heatwatch desk` until the block ends; yields its base URL."""
    p = subprocess.Popen([sys.executable, "-m", "heatwatch.cli", "desk", "--config", str(cfg)],
                         cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if p.poll() is not None or time.monotonic() > deadline:
                    out = p.stdout.read() if p.stdout else ""
                    raise RuntimeError(f"desk did not start: {out}") from None
                time.sleep(0.2)
        yield f"http://127.0.0.1:{port}"
    finally:
        p.terminate()
        p.wait(timeout=20)


@dataclass
class Page:
    status: int
    url: str
    text: str

    def csrf(self) -> str:
        m = re.search(r'name="csrf" value="([^"]+)"', self.text)
        assert m, self.text[:500]
        return m.group(1)


class Client:
    """A browser-like client: keeps cookies, follows 303s, reads the error pages too."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar))

    def get(self, path: str) -> Page:
        return self._open(urllib.request.Request(self.base + path))

    def post(self, path: str, data: dict[str, str]) -> Page:
        body = urllib.parse.urlencode(data).encode()
        return self._open(urllib.request.Request(self.base + path, data=body, method="POST"))

    def _open(self, req: urllib.request.Request) -> Page:
        try:
            with self.opener.open(req, timeout=60) as r:
                return Page(r.status, r.url, r.read().decode())
        except urllib.error.HTTPError as e:
            return Page(e.code, e.url or "", e.read().decode())

    def sign_in(self, name: str, password: str = PASSWORD) -> Page:
        form = self.get("/signin")
        return self.post("/signin", {"name": name, "password": password,
                                     "csrf": form.csrf()})
