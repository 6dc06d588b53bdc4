"""Shared pieces of the alerts tests: a real HTTP receiver on loopback, a district, a service."""

from __future__ import annotations

import datetime as dt
import json
import threading
import urllib.parse
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from alerts.config import AlertsConfig
from alerts.service import AlertsService
from district.records import load_records
from workflow.incidents import Incident, IncidentStore, incident_key
from workflow.unit import WorkflowDb

TZ = dt.timezone(dt.timedelta(hours=8))
PHONE_1 = "13800138000"
PHONE_3 = "13900139000"


def ms(text: str) -> int:
    """Epoch ms of a local (UTC+8) time like '2024-12-02 09:00'."""
    return int(dt.datetime.fromisoformat(text).replace(tzinfo=TZ).timestamp() * 1000)


class Receiver:
    """A stdlib HTTP server on 127.0.0.1 that records every POST; its status can be changed."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.status = 200
        self.reply: dict[str, Any] = {"errcode": 0, "errmsg": "ok"}
        self.hold: threading.Event | None = None  # set: answer; unset: keep the sender waiting
        self.got = threading.Event()
        lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                n = int(self.headers.get("Content-Length", "0"))
                raw = self.rfile.read(n)
                u = urllib.parse.urlsplit(self.path)
                entry = {"path": u.path, "query": dict(urllib.parse.parse_qsl(u.query)),
                         "headers": {k.lower(): v for k, v in self.headers.items()},
                         "body": json.loads(raw) if raw else None, "status": outer.status}
                with lock:
                    outer.requests.append(entry)
                outer.got.set()
                if outer.hold is not None:
                    outer.hold.wait(30)
                data = json.dumps(outer.reply).encode()
                self.send_response(outer.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.url = f"127.0.0.1:{self.port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def accepted(self, path: str | None = None) -> list[dict[str, Any]]:
        """Requests answered 2xx (what the receiver counts as delivered)."""
        return [r for r in self.requests if r["status"] < 300 and (path is None or
                                                                   r["path"] == path)]

    def dedup_counts(self) -> Counter[str]:
        return Counter(r["headers"].get("x-heatwatch-dedup", "") for r in self.accepted())

    def close(self) -> None:
        if self.hold is not None:
            self.hold.set()
        self.server.shutdown()
        self.server.server_close()


def write_records(folder: Path) -> Path:
    """One substation, two buildings, three households (one without a phone)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "substations.csv").write_text("substation_id,name,design_outdoor_c\nS1,东风站,-7\n"
                                            "S2,西城站,-7\n", encoding="utf-8")
    (folder / "buildings.csv").write_text(
        "building_id,substation_id,address\nB1,S1,东风路1号楼\nB2,S1,东风路2号楼\n"
        "B3,S2,西城路9号楼\n", encoding="utf-8")
    (folder / "accounts.csv").write_text(
        "account_id,building_id,unit,area_m2,tariff,phone\n"
        f"A1,B1,1-101,90,area,{PHONE_1}\nA2,B1,1-102,60,area,\n"
        f"A3,B2,2-201,90,metered,{PHONE_3}\nA4,B3,9-901,80,area,\n", encoding="utf-8")
    (folder / "devices.csv").write_text(
        "device_id,kind,account_id,building_id,substation_id,room_type,protocol,host,port,unit,"
        "profile\nR1,room,A1,,,bedroom,mqtt,,,,\n", encoding="utf-8")
    return folder


def alerts_table(receiver: Receiver | None = None, **extra: Any) -> dict[str, Any]:
    """An [alerts] table: crew north on S1 with a webhook, a supervisor hook, an SMS gateway."""
    url = receiver.url if receiver else "127.0.0.1:9"
    t: dict[str, Any] = {
        "delivery": {"retry_base_s": 60.0, "retry_max_s": 600.0, "timeout_s": 5.0},
        "supervisor_channels": ["sup"],
        "resident_channel": "sms",
        "crew": [{"id": "north", "name": "北区班组", "substations": ["S1"],
                  "members": ["wang", "li"], "channels": ["crew-hook"]},
                 {"id": "west", "substations": ["S2"], "members": ["zhao"],
                  "channels": ["crew-hook"]}],
        "channel": [{"name": "crew-hook", "kind": "apprise", "url": f"json://{url}/crew"},
                    {"name": "sup", "kind": "apprise", "url": f"json://{url}/sup"},
                    {"name": "sms", "kind": "sms", "url": f"json://{url}/sms?:to={{phone}}"}],
    }
    t.update(extra)
    return t


class ManualClock:
    def __init__(self, now_ms: int) -> None:
        self.now_ms = now_ms

    def __call__(self) -> int:
        return self.now_ms


WORKFLOW_TARGET: Path | str | None = None


def workflow_url() -> str:
    """The `[site] workflow_url` that reaches make_service's database ("": the file)."""
    return WORKFLOW_TARGET if isinstance(WORKFLOW_TARGET, str) else ""


def make_service(tmp: Path, table: dict[str, Any], clock: ManualClock,
                 channels: dict[str, Any] | None = None) -> AlertsService:
    from alerts.channels import build_channel

    cfg = AlertsConfig.from_mapping(table)
    rec = load_records(write_records(tmp / "records"))
    # the contract suite's `on_both_backends` sets a PostgreSQL database here
    path = WORKFLOW_TARGET or tmp / "workflow.sqlite"

    def phone_of(aid: str) -> str:
        return rec.accounts[aid].phone if aid in rec.accounts else ""

    chans = channels if channels is not None else {
        s.name: build_channel(s, cfg.delivery.timeout_s, phone_of) for s in cfg.channels()}
    return AlertsService(cfg, rec, WorkflowDb(path, cfg.http.busy_timeout_s), chans, clock)


def reconcile(store: IncidentStore | WorkflowDb, inc: Incident, now_ms: int) -> None:
    """Play the analyzer: the incident as found now (in one unit of work)."""
    if isinstance(store, IncidentStore):
        store.reconcile([inc], now_ms, [inc.kind], scope={inc.kind: [inc.subject]})
        return
    with store.unit() as u:
        u.incidents.reconcile([inc], now_ms, [inc.kind], scope={inc.kind: [inc.subject]})


def raise_incident(store: IncidentStore | WorkflowDb, kind: str, subject: str, started_ms: int,
                   now_ms: int, closed_ms: int | None = None, **fields: Any) -> Incident:
    inc = Incident(incident_key(kind, subject, started_ms), kind, subject, started_ms,
                   closed_ms=closed_ms, **fields)
    reconcile(store, inc, now_ms)
    return inc
