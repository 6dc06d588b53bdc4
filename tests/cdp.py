"""A small Chrome DevTools Protocol driver for tests: headless Chromium, one websocket to the
browser, a flattened session per tab. Taps are real mouse events at an element's centre, so
a button that cannot be hit (covered, off screen, too small) fails the test as a thumb would.

Only `websockets` (already a dependency, through amqtt) and Debian's chromium are needed.
"""

from __future__ import annotations

import base64
import contextlib
import itertools
import json
import os
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from websockets.sync.client import ClientConnection, connect

from documents.browser import find_browser

FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage", "--hide-scrollbars", "--mute-audio")
TIMEOUT_S = 30.0


class Browser:
    """Headless Chromium with a fresh profile; `tab()` opens a page of a phone's size."""

    def __init__(self) -> None:
        binary = find_browser()
        if binary is None:
            raise RuntimeError("no Chromium")
        # Chromium's helpers may still write to the profile a moment after the browser exits
        self._tmp = tempfile.TemporaryDirectory(prefix="heatwatch-cdp-",
                                                ignore_cleanup_errors=True)
        profile = Path(self._tmp.name)
        self.proc = subprocess.Popen(
            [binary, *FLAGS, f"--user-data-dir={profile}", "--remote-debugging-port=0",
             "about:blank"], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL, start_new_session=True)
        port_file = profile / "DevToolsActivePort"
        deadline = time.monotonic() + TIMEOUT_S
        while not (port_file.exists() and len(port_file.read_text().splitlines()) >= 2):
            if time.monotonic() > deadline or self.proc.poll() is not None:
                self.close()
                raise RuntimeError("Chromium did not open its DevTools port")
            time.sleep(0.05)
        port, path = port_file.read_text().splitlines()[:2]
        self.ws: ClientConnection = connect(f"ws://127.0.0.1:{port}{path}", max_size=None,
                                            open_timeout=TIMEOUT_S)
        self._ids = itertools.count(1)
        self.events: list[dict[str, Any]] = []

    def send(self, method: str, params: dict[str, Any] | None = None,
             session: str | None = None) -> dict[str, Any]:
        """One command; events that arrive meanwhile are kept for `wait_event`."""
        msg_id = next(self._ids)
        msg: dict[str, Any] = {"id": msg_id, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        self.ws.send(json.dumps(msg))
        while True:
            got = json.loads(self.ws.recv(timeout=TIMEOUT_S))
            if got.get("id") == msg_id:
                if "error" in got:
                    raise RuntimeError(f"{method}: {got['error']}")
                return dict(got.get("result", {}))
            if "method" in got:
                self.events.append(got)

    def wait_event(self, method: str, session: str) -> dict[str, Any]:
        deadline = time.monotonic() + TIMEOUT_S
        while True:
            for i, ev in enumerate(self.events):
                if ev["method"] == method and ev.get("sessionId") == session:
                    del self.events[: i + 1]
                    return ev
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"no {method} within {TIMEOUT_S:g} s")
            self.events.append(json.loads(self.ws.recv(timeout=left)))

    def tab(self, width: int = 390, height: int = 844, scale: float = 2.0) -> Tab:
        target = self.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = self.send("Target.attachToTarget",
                            {"targetId": target, "flatten": True})["sessionId"]
        tab = Tab(self, session)
        tab.send("Page.enable")
        tab.send("Emulation.setDeviceMetricsOverride", {
            "width": width, "height": height, "deviceScaleFactor": scale, "mobile": True})
        return tab

    def close(self) -> None:
        try:
            if hasattr(self, "ws"):
                self.ws.close()
        finally:
            # the browser and its helpers (zygote, GPU, crashpad): the whole session
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)
            self._tmp.cleanup()

    def __enter__(self) -> Browser:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Tab:
    """One page: navigate, read the DOM, tap, type, screenshot."""

    def __init__(self, browser: Browser, session: str) -> None:
        self.browser = browser
        self.session = session

    def send(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        return self.browser.send(method, params, self.session)

    def goto(self, url: str) -> None:
        self.send("Page.navigate", {"url": url})
        self.browser.wait_event("Page.loadEventFired", self.session)

    def js(self, expression: str) -> Any:
        """The value of an expression evaluated by DevTools (the page itself runs none)."""
        got = self.send("Runtime.evaluate", {"expression": expression, "returnByValue": True})
        if "exceptionDetails" in got:
            raise RuntimeError(f"{expression}: {got['exceptionDetails']}")
        return got["result"].get("value")

    def box(self, selector: str) -> dict[str, float]:
        """The element's box in CSS px of the viewport, after scrolling it into view."""
        sel = json.dumps(selector)
        box = self.js(f"(() => {{ const e = document.querySelector({sel}); if (!e) return null;"
                      " e.scrollIntoView({block: 'center'}); const r = e.getBoundingClientRect();"
                      " return {x: r.x, y: r.y, width: r.width, height: r.height}; })()")
        if box is None:
            raise LookupError(f"no {selector} on the page")
        return dict(box)

    def tap(self, selector: str, navigates: bool = True) -> None:
        """A mouse press and release at the element's centre (then the next page's load)."""
        b = self.box(selector)
        x, y = b["x"] + b["width"] / 2, b["y"] + b["height"] / 2
        for kind in ("mousePressed", "mouseReleased"):
            self.send("Input.dispatchMouseEvent", {"type": kind, "x": x, "y": y,
                                                   "button": "left", "clickCount": 1})
        if navigates:
            self.browser.wait_event("Page.loadEventFired", self.session)

    def type(self, selector: str, text: str) -> None:
        self.tap(selector, navigates=False)
        self.send("Input.insertText", {"text": text})

    def html(self) -> str:
        return str(self.js("document.documentElement.outerHTML"))

    def screenshot(self, out: Path, full: bool = False) -> Path:
        """The viewport (what the phone shows), or with `full` the whole page."""
        self.send("Page.bringToFront")  # a tab in the background paints no frames
        params: dict[str, Any] = {"format": "png"}
        if full:
            size = self.send("Page.getLayoutMetrics")["cssContentSize"]
            params |= {"captureBeyondViewport": True, "clip": {
                "x": 0, "y": 0, "width": size["width"], "height": size["height"], "scale": 1}}
        else:
            self.js("window.scrollTo(0, 0)")
        data = self.send("Page.captureScreenshot", params)["data"]
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_bytes(base64.b64decode(data))
        return out
