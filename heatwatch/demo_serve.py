"""`heatwatch demo --serve` (issue 20 item 5): after the summary, the crews' HTTP endpoint
stays up on the demo's clock (its end, running on at 1x) until Ctrl-C or SIGTERM; one crew
link is printed, the others written to a file beside the demo's data."""

from __future__ import annotations

import datetime as dt
import os
import signal
import sys
import threading
import time
from pathlib import Path
from types import FrameType
from typing import Protocol

from alerts.lifecycle import DONE_STATES, FINAL, state_text
from alerts.service import AlertsService


class DemoWorkflow(Protocol):
    """What serving needs of the demo's workflow (heatwatch.demo.DemoWorkflow)."""

    alerts: AlertsService
    serving_since: float | None

    def clock_ms(self) -> int: ...

LINKS_FILE = "crew-links.txt"


def _write_private(path: Path, text: str) -> None:
    """A file of signed links: readable by its owner only."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, path)


def print_links(workflow: DemoWorkflow, data: Path, base_url: str) -> None:
    """One crew member's link to an open order (a crew's still to act on, if any), on the
    demo's clock; every open order's links, one per member, in crew-links.txt."""
    alerts = workflow.alerts
    now_ms = workflow.clock_ms()
    orders = [o for o in alerts.db.orders.find() if o.state not in FINAL]
    when = dt.datetime.fromtimestamp(now_ms / 1000, alerts.messenger.tz)
    print(f"\ncrews' endpoint: {base_url}, on the demo's clock (from {when:%Y-%m-%d %H:%M}), "
          "until Ctrl-C")
    if not orders:
        print("  no open order to link to")
        return
    lines = []
    for o in orders:
        for member, url in alerts.messenger.links(o, now_ms).items():
            lines.append(f"{o.order_id}\t{o.crew}\t{member}\t{url}")
    _write_private(data / LINKS_FILE, "\n".join(lines) + "\n")
    # a crew still to act first; its owner's link (the resident's phone shows to the owner)
    o = sorted(orders, key=lambda o: (o.state in DONE_STATES, o.order_id))[0]
    links = alerts.messenger.links(o, now_ms)
    member = o.owner if o.owner in links else next(iter(links), "")
    if not member:
        print(f"  {o.order_id}: its crew {o.crew} has no members to link")
        return
    print(f"one crew link: {member} on {o.order_id} ({o.kind}, "
          f"{state_text(o.state, o.kind)}):")
    print(f"  {links[member]}")
    print(f"the other members' and open orders' links: {data / LINKS_FILE} "
          f"(orders: heatwatch orders --config {data / 'heatwatch.toml'})")


def serve_until_signal(workflow: DemoWorkflow, data: Path, base_url: str) -> None:
    """Print the links, then wait for SIGINT or SIGTERM; the caller stops the server."""
    workflow.serving_since = time.monotonic()
    print_links(workflow, data, base_url)
    sys.stdout.flush()
    stop = threading.Event()

    def on_signal(_signum: int, _frame: FrameType | None) -> None:
        stop.set()

    old = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        while not stop.wait(0.5):
            pass
    finally:
        for s, h in old.items():
            signal.signal(s, h)
    print("crews' endpoint stopped")
