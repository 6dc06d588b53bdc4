"""The alerts service: incident events in, orders, escalations, notices and messages out.

The parts live beside it: `ingest` (events into orders), `escalation` (deadlines falling due),
`residents` (notices and compensation), `actions` (crew actions), `series` (the control room's
work_orders and calls), `messages` (rendering into the outbox); this module wires them and runs
the loop.
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path

from alerts.actions import CrewActions
from alerts.annotations import AnnotationWriter
from alerts.channels import Channel, build_channel, guard_logs
from alerts.config import AlertsConfig, AlertsConfigError, secret
from alerts.escalation import Escalation
from alerts.http import serve_in_thread
from alerts.ingest import Ingest
from alerts.links import LinkSigner, load_key
from alerts.messages import Messenger
from alerts.outbox import Deliverer
from alerts.residents import Residents
from alerts.routing import Routing
from alerts.series import SERIES_EVERY_S, SeriesWriter
from alerts.sla import Mark
from alerts.templates import Templates, load_templates
from district.records import Records
from policy.causes import cause_texts
from policy.rules import CityRules
from storage.base import Store
from workflow.db import StoreBusy
from workflow.estimates import Estimate
from workflow.incidents import Incident
from workflow.orders import Order
from workflow.unit import WorkflowDb

log = logging.getLogger("heatwatch.alerts")
Clock = Callable[[], int]
BUSY_BACKOFF_MAX_S = 30.0


def wall_clock_ms() -> int:
    return int(time.time() * 1000)


class AlertsService:
    """Wires the parts to the workflow database and channels; every method takes its time."""

    def __init__(self, cfg: AlertsConfig, records: Records, db: WorkflowDb,
                 channels: Mapping[str, Channel], clock_ms: Clock = wall_clock_ms,
                 tz: str = "Asia/Shanghai", templates: Templates | None = None,
                 rules: CityRules | None = None, series_store: Store | None = None,
                 series_every_s: float = SERIES_EVERY_S,
                 link_key: bytes | Callable[[], bytes] | None = None) -> None:
        """`link_key` signs the crews' links, or makes the key when first needed (None: a key
        for this process only)."""
        guard_logs()
        self.cfg = cfg
        self.records = records
        self.db = db
        self.clock_ms = clock_ms
        self.routing = Routing(cfg.crews(), tz)
        # the texts state the city's rules and the configured service limits
        self.templates = (templates or load_templates(cfg.templates_path or None)).for_city(
            rules or CityRules(), cfg.limits)
        signer = LinkSigner(link_key or secrets.token_bytes(32), cfg.http.link_ttl_h * 3600)
        self.messenger = Messenger(cfg, self.routing, self.templates, tz, signer)
        self.deliverer = Deliverer(db, channels, cfg.delivery, clock_ms)
        lock = threading.RLock()
        self.residents = Residents(cfg, records, self.messenger, rules or CityRules())
        self.escalation = Escalation(cfg, db, self.messenger, self.residents, lock)
        self.ingest_events = Ingest(cfg, records, db, self.messenger, self.residents, lock)
        self.actions = CrewActions(db, self.messenger, self.escalation, clock_ms, lock)
        self.series = SeriesWriter(db, series_store, series_every_s, lock, tz)
        # incidents and order state changes on the dashboards' graphs, best-effort
        # jobs the wiring adds (the morning report): each gets the pass's time, before delivery
        self.daily_jobs: list[Callable[[int], object]] = []
        self.annotations = (AnnotationWriter(db, series_store, self.ingest_events.substation_of,
                                             texts=cause_texts(rules or CityRules()))
                            if series_store is not None else None)

    def ingest(self, now_ms: int, limit: int = 1000) -> int:
        """New incident events into workflow; how many were taken."""
        n = self.ingest_events.run(now_ms, limit)
        self.escalation.refresh_heap()
        return n

    def sweep(self, now_ms: int) -> list[Mark]:
        return self.escalation.sweep(now_ms)

    def act(self, order_id: str, action: str, actor: str, note: str = "",
            at_ms: int | None = None, crew_id: str | None = None,
            new_owner: str = "") -> Order:
        return self.actions.act(order_id, action, actor, note, at_ms, crew_id, new_owner)

    def estimate(self, order_id: str, restore_ms: int, actor: str,
                 at_ms: int | None = None) -> Estimate:
        return self.actions.estimate(order_id, restore_ms, actor, at_ms)

    def affected_accounts(self, inc: Incident) -> list[str]:
        return self.residents.affected_accounts(inc)

    def links(self, order: Order, now_ms: int | None = None) -> dict[str, str]:
        """Each crew member's own signed link to the order, as of now_ms."""
        return self.messenger.links(order, self.clock_ms() if now_ms is None else now_ms)

    def phone_of(self, account_id: str) -> str:
        acc = self.records.accounts.get(account_id)
        return acc.phone if acc else ""

    def write_series(self, now_ms: int) -> int:
        return self.series.write(now_ms)

    def step(self, now_ms: int, wait: bool = True) -> dict[str, int]:
        """One pass: new incident events, due escalations and notices, then delivery."""
        events = self.ingest(now_ms)
        marks = self.sweep(now_ms)
        self.write_series(now_ms)
        if self.annotations is not None:
            try:
                self.annotations.step()
            except StoreBusy as e:  # best-effort: the next pass writes them
                log.info("alerts: annotations wait for the workflow store: %s", e)
        for job in self.daily_jobs:
            job(now_ms)
        self.deliverer.round(now_ms, wait=wait)
        return {"events": events, "escalations": len(marks)}

    def close(self) -> None:
        self.deliverer.join(self.cfg.delivery.timeout_s)
        self.deliverer.close()  # the workflow file stays open: commands read it after a pass


def build_service(cfg_alerts: AlertsConfig, records: Records, data_dir: str,
                  tz: str = "Asia/Shanghai", clock_ms: Clock = wall_clock_ms,
                  store: Store | None = None,
                  series_every_s: float | None = None,
                  rules: CityRules | None = None,
                  workflow_path: Path | None = None,
                  workflow: WorkflowDb | None = None) -> AlertsService:
    """Wire stores and channels from config; `store` gets the work_orders and calls series
    (None: not); `rules` are the city's (compensation, tariff, season), the same object the
    analyzer uses; `workflow` (opened by the wiring; the service closes it), else the SQLite file
    `workflow_path`, else <data_dir>/workflow.sqlite."""
    cfg_alerts.check()
    link_secret = secret(cfg_alerts.http.link_secret, "[alerts.http] link_secret")
    if link_secret and len(link_secret) < 16:
        raise AlertsConfigError("[alerts.http] link_secret must be at least 16 characters")
    db = workflow or WorkflowDb(workflow_path or Path(data_dir) / "workflow.sqlite",
                                cfg_alerts.http.busy_timeout_s)

    def phone_of(account_id: str) -> str:
        acc = records.accounts.get(account_id)
        return acc.phone if acc else ""

    channels = {s.name: build_channel(s, cfg_alerts.delivery.timeout_s, phone_of)
                for s in cfg_alerts.channels()}
    return AlertsService(cfg_alerts, records, db, channels, clock_ms, tz,
                         rules=rules, series_store=store,
                         series_every_s=series_every_s or cfg_alerts.series_every_s,
                         link_key=lambda: load_key(link_secret, data_dir))


def run_loop(svc: AlertsService, stop: threading.Event, once_at_ms: int | None = None) -> int:
    """`heatwatch alerts`: tick until stopped; with `once_at_ms`, one pass as of that instant."""
    if once_at_ms is not None:
        r = svc.step(once_at_ms, wait=True)
        log.info("alerts: %d events, %d escalations", r["events"], r["escalations"])
        return 0
    if any(c.token for c in svc.cfg.crews(resolve=False)):
        log.warning("[[alerts.crew]] token is no longer used: each member's link is signed "
                    "([alerts.http] link_secret); remove it")
    server = serve_in_thread(svc.actions, svc.phone_of) if svc.cfg.http.enabled else None
    try:
        busy = 0
        while not stop.is_set():
            try:
                svc.step(svc.clock_ms(), wait=False)
            except StoreBusy as e:
                # another process holds the write lock: transient, never the end of the service
                if not busy:
                    log.warning("alerts: %s; backing off and retrying", e)
                busy += 1
                stop.wait(min(svc.cfg.delivery.tick_s * 2 ** min(busy, 6), BUSY_BACKOFF_MAX_S))
                continue
            if busy:
                log.info("alerts: the workflow store answers again (after %d retries)", busy)
            busy = 0
            stop.wait(svc.cfg.delivery.tick_s)
    finally:
        if server is not None:
            server.should_exit = True
        svc.close()
    return 0
