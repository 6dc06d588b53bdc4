"""The alerts service: incident events in, orders, escalations, notices and messages out."""

from __future__ import annotations

import datetime as dt
import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any, Final
from zoneinfo import ZoneInfo

from alerts.channels import Channel, build_channel, guard_logs
from alerts.config import AlertsConfig
from alerts.handlers import (
    EndBilling,
    NoteIncidentClosed,
    OpenOrder,
    Plan,
    SwitchBilling,
    UpdateCompensation,
    plans_for,
)
from alerts.orders import CREW_ACTIONS, FINAL, OrderError, apply, needs_return_visit
from alerts.outbox import Deliverer
from alerts.routing import Routing
from alerts.sla import (
    BREACH,
    HOUR_MS,
    STEP_NOTICE,
    Deadline,
    DeadlineHeap,
    Mark,
    deadlines_for,
    is_late,
    return_visit_deadline,
)
from alerts.store import DeadlineRow, Message, Order, WorkflowStore
from alerts.templates import Templates, load_templates
from analyzer.outages import outage_days, outage_refund_cny
from analyzer.rules import CityRules
from district.readings import FieldValue, Reading
from district.records import Records
from storage.base import Store, StoreError
from workflow.incidents import Incident, IncidentStore

log = logging.getLogger("heatwatch.alerts")
SYSTEM = "heatwatch"
Clock = Callable[[], int]
WORK_ORDERS: Final = "work_orders"
# DOMAIN: the control room sees which work orders are late; a minute is fresh enough for a wall
SERIES_EVERY_S: Final = 60.0


def wall_clock_ms() -> int:
    return int(time.time() * 1000)


def work_order_readings(orders: Sequence[Order], deadlines: Sequence[DeadlineRow],
                        now_ms: int) -> list[Reading]:
    """Per crew and substation as of now_ms: open, late and escalated orders, and all ever late."""
    steps: dict[str, list[DeadlineRow]] = {}
    for d in deadlines:
        # the resident notice is the company's deadline, not a crew step
        if d.deadline.step != STEP_NOTICE:
            steps.setdefault(d.deadline.order_id, []).append(d)
    counts: dict[tuple[str, str], dict[str, FieldValue]] = {}
    for o in orders:
        c = counts.setdefault((o.crew, o.substation_id),
                              {"open": 0, "late": 0, "escalated": 0, "breached_total": 0})
        if o.state == "cancelled":
            continue
        mine = steps.get(o.order_id, [])
        # seed: repair timeliness counts an order late when any step missed its limit
        if any(is_late(d.deadline, d.done_ms, now_ms) for d in mine):
            c["breached_total"] += 1
        if o.state in FINAL:
            continue
        c["open"] += 1
        pending = [d for d in mine if d.done_ms is None]
        c["late"] += int(any(now_ms > d.deadline.due_ms for d in pending))
        # issue 5: warned at 80 % of a limit and that step still not done
        c["escalated"] += int(any(d.warned_ms is not None for d in pending))
    return [Reading(WORK_ORDERS, {"crew": crew, "substation_id": sid},
                    c, now_ms)
            for (crew, sid), c in sorted(counts.items())]


class AlertsService:
    """Wires the pure parts to the stores and channels; every method takes the time it acts at."""

    def __init__(self, cfg: AlertsConfig, records: Records, store: WorkflowStore,
                 incidents: IncidentStore, channels: Mapping[str, Channel],
                 clock_ms: Clock = wall_clock_ms, tz: str = "Asia/Shanghai",
                 templates: Templates | None = None, rules: CityRules | None = None,
                 series_store: Store | None = None,
                 series_every_s: float = SERIES_EVERY_S) -> None:
        guard_logs()
        self.cfg = cfg
        self.records = records
        self.store = store
        self.incidents = incidents
        self.clock_ms = clock_ms
        self.tz = ZoneInfo(tz)
        self.routing = Routing(cfg.crews(), tz)
        self.templates = templates or load_templates(cfg.templates_path or None)
        self.rules = rules or CityRules()
        self.deliverer = Deliverer(store, channels, cfg.delivery, clock_ms)
        self.heap = DeadlineHeap(cfg.limits.escalation_share)
        self._heap_rowid = 0
        self._lock = threading.RLock()
        # the time-series store the work_orders series goes to (None: not written)
        self.series_store = series_store
        self._series_every_ms = max(1, round(series_every_s * 1000))
        self._series_bucket: int | None = None
        self._accounts_by_building: dict[str, list[str]] = {}
        for acc in records.accounts.values():
            self._accounts_by_building.setdefault(acc.building_id, []).append(acc.account_id)
        self.refresh_heap()

    # -- deadlines ---------------------------------------------------------------------------
    def refresh_heap(self) -> int:
        """Load deadlines added since the last look (at start, or by another process)."""
        rows = self.store._q(
            "SELECT rowid, order_id, step, start_ms, due_ms, done_ms, warned_ms, breached_ms "
            "FROM order_deadline WHERE rowid > ? ORDER BY rowid", (self._heap_rowid,))
        for r in rows:
            self._heap_rowid = max(self._heap_rowid, int(r[0]))
            if r[5] is None and r[7] is None:
                self.heap.add(Deadline(r[1], r[2], int(r[3]), int(r[4])), warned=r[6] is not None)
        return len(rows)

    def sweep(self, now_ms: int) -> list[Mark]:
        """Escalate every warn point and breach due by now (heap: no rescan of all orders)."""
        fired = []
        with self._lock:
            self.refresh_heap()
            due = self.heap.due(now_ms)
            if not due:
                return []
            with self.store.tx() as db:  # one transaction for the whole sweep
                for m in due:
                    row = db.execute("SELECT done_ms, warned_ms, breached_ms FROM order_deadline "
                                     "WHERE order_id=? AND step=?",
                                     (m.order_id, m.step)).fetchone()
                    # done by a crew through the CLI or another process since it was scheduled
                    if row is None or row[0] is not None:
                        continue
                    if row[1 if m.mark != BREACH else 2] is not None:
                        continue
                    order = self.store.order(m.order_id)
                    if order is None:
                        continue
                    WorkflowStore.mark_escalated(db, m.order_id, m.step, m.mark, now_ms)
                    if m.step == STEP_NOTICE:
                        self._notify_residents(db, order, now_ms)
                    elif order.state not in FINAL:
                        self._escalate(db, order, m, now_ms)
                    fired.append(m)
        return fired

    # -- incident events ---------------------------------------------------------------------
    def ingest(self, now_ms: int, limit: int = 1000) -> int:
        """Turn new incident events into workflow; the cursor moves in the same transaction."""
        n = 0
        with self._lock:
            for ev in self.incidents.events_after(self.store.cursor(), limit):
                inc = self.incidents.get(ev.key)
                with self.store.tx() as db:
                    if inc is not None:
                        self._apply_plans(db, inc, ev.event, plans_for(inc, ev.event,
                                                                       self.records), now_ms)
                    WorkflowStore.set_cursor(db, ev.seq)
                n += 1
            self.refresh_heap()
        return n

    def _apply_plans(self, db: sqlite3.Connection, inc: Incident, event: str, plans: list[Plan],
                     now_ms: int) -> None:
        for p in plans:
            if isinstance(p, OpenOrder):
                self._open_order(db, inc, p, now_ms)
            elif isinstance(p, SwitchBilling):
                db.execute("INSERT OR IGNORE INTO billing_basis (incident_key, account_id, "
                           "basis, from_ms, cause) VALUES (?,?,?,?,?)",
                           (inc.key, p.account_id, p.basis, inc.started_ms, p.cause))
            elif isinstance(p, EndBilling):
                db.execute("UPDATE billing_basis SET to_ms=? WHERE incident_key=? AND to_ms "
                           "IS NULL", (inc.closed_ms or now_ms, inc.key))
            elif isinstance(p, UpdateCompensation):
                self._compensate(db, inc, now_ms, only_existing=True)
            elif isinstance(p, NoteIncidentClosed):
                for (oid, state) in db.execute("SELECT order_id, state FROM alert_order WHERE "
                                               "incident_key=?", (inc.key,)).fetchall():
                    # issue 5: the incident closing does not close the order; a crew does
                    WorkflowStore.audit(db, oid, now_ms, SYSTEM, "incident_closed", state,
                                        state, "故障已消除（工单仍需班组关闭）")

    def _open_order(self, db: sqlite3.Connection, inc: Incident, p: OpenOrder,
                    now_ms: int) -> None:
        if db.execute("SELECT 1 FROM alert_order WHERE incident_key=? AND kind=?",
                      (inc.key, p.kind)).fetchone():
            return  # re-opened incident: the order it already has carries on
        crew = self.routing.crew_for(inc.substation_id or self._substation_of(inc))
        oid = WorkflowStore.next_id(db, "order", "WO")
        order = Order(oid, inc.key, inc.kind, p.kind, crew.crew_id, "", "dispatched",
                      inc.substation_id or self._substation_of(inc), inc.building_id,
                      inc.account_id, p.address, p.what, inc.started_ms, now_ms, now_ms,
                      passed=["opened", "dispatched"])
        # issue 5: deadlines come from the incident's start, not from when we saw it
        deadlines = deadlines_for(oid, p.kind, inc.started_ms, self.cfg.limits)
        if p.notice:
            deadlines.append(Deadline(oid, STEP_NOTICE, inc.started_ms, inc.started_ms + round(
                self.cfg.limits.outage_notice_h * HOUR_MS)))
        WorkflowStore.insert_order(db, order, deadlines)
        WorkflowStore.audit(db, oid, now_ms, SYSTEM, "open", "", "opened", f"incident {inc.key}")
        on_duty = self.routing.on_duty(crew, now_ms)
        WorkflowStore.audit(db, oid, now_ms, SYSTEM, "dispatch", "opened", "dispatched",
                            f"crew {crew.crew_id}; on duty: {', '.join(on_duty) or '-'}")
        timed = [d for d in deadlines if d.step != STEP_NOTICE]
        self._to_crew(db, order, "order_new", "opened", now_ms, {
            "deadline_text": "；".join(f"{self.templates.step_text(d.step)} {self._t(d.due_ms)}前"
                                      for d in timed) or "立即处理",
            "on_duty": "、".join(on_duty)})

    def _substation_of(self, inc: Incident) -> str:
        b = self.records.buildings.get(inc.building_id)
        if b is None and inc.account_id in self.records.accounts:
            b = self.records.buildings.get(self.records.accounts[inc.account_id].building_id)
        return b.substation_id if b else ""

    # -- messages ----------------------------------------------------------------------------
    def _t(self, ms: int | None) -> str:
        if ms is None:
            return "-"
        return dt.datetime.fromtimestamp(ms / 1000, self.tz).strftime("%m-%d %H:%M")

    def link(self, order: Order) -> str:
        h = self.cfg.http
        base = (h.base_url or f"http://{h.host}:{h.port}").rstrip("/")
        token = self.routing.crew(order.crew).token
        return f"{base}/o/{order.order_id}" + (f"?t={token}" if token else "")

    def _fields(self, order: Order) -> dict[str, Any]:
        return {"order_id": order.order_id, "kind_text": self.templates.kind_text(order.kind),
                "address": order.address, "what": order.summary, "crew": order.crew,
                "owner": order.owner or "未接单", "link": self.link(order),
                "started": self._t(order.started_ms)}

    def _to_crew(self, db: sqlite3.Connection, order: Order, msg_kind: str, step: str,
                 now_ms: int, extra: dict[str, Any]) -> None:
        crew = self.routing.crew(order.crew)
        title, body = self.templates.render(msg_kind, {**self._fields(order), **extra})
        for ch in crew.channels:
            # issue 5: dedup key = order id + message kind + step (+ channel)
            WorkflowStore.enqueue(db, Message(
                f"{order.order_id}:{msg_kind}:{step}:{ch}", ch, title, body, crew.crew_id,
                {"order_id": order.order_id, "crew": crew.crew_id, "kind": msg_kind,
                 "step": step, "link": self.link(order)}), now_ms)

    def _escalate(self, db: sqlite3.Connection, order: Order, m: Mark, now_ms: int) -> None:
        kind = "escalation_breach" if m.mark == BREACH else "escalation_warn"
        due = db.execute("SELECT due_ms FROM order_deadline WHERE order_id=? AND step=?",
                         (order.order_id, m.step)).fetchone()[0]
        fields = {**self._fields(order), "step_text": self.templates.step_text(m.step),
                  "due": self._t(int(due)),
                  "share_pct": round(self.cfg.limits.escalation_share * 100)}
        title, body = self.templates.render(kind, fields)
        WorkflowStore.audit(db, order.order_id, now_ms, SYSTEM, kind, order.state, order.state,
                            f"{m.step} due {self._t(int(due))}")
        for ch in self.cfg.supervisor_channels:
            WorkflowStore.enqueue(db, Message(
                f"{order.order_id}:{kind}:{m.step}:{ch}", ch, title, body, "supervisor",
                {"order_id": order.order_id, "crew": "supervisor", "kind": kind,
                 "step": m.step}), now_ms)

    # -- outages: notices and compensation ---------------------------------------------------
    def affected_accounts(self, inc: Incident) -> list[str]:
        """The accounts an outage leaves cold: its building, or its station's."""
        if inc.kind == "building_outage" or (inc.building_id and not inc.substation_id):
            return sorted(self._accounts_by_building.get(inc.building_id, []))
        out: list[str] = []
        for b in self.records.buildings.values():
            if b.substation_id == inc.substation_id:
                out.extend(self._accounts_by_building.get(b.building_id, []))
        return sorted(out)

    def _notify_residents(self, db: sqlite3.Connection, order: Order, now_ms: int) -> None:
        inc = self.incidents.get(order.incident_key)
        if inc is None:
            return
        due = inc.started_ms + round(self.cfg.limits.outage_notice_h * HOUR_MS)
        if inc.closed_ms is not None and inc.closed_ms < due:
            return  # restored within 24 h: no notice, no compensation
        d = self.templates.defaults
        reason = str(inc.details.get("reason") or d.get("reason", ""))
        restore_ms = inc.details.get("expected_restore_ms")
        restore = self._t(int(restore_ms)) if restore_ms else d.get("expected_restore", "")
        channel = self.cfg.resident_channel
        for aid in self.affected_accounts(inc):
            acc = self.records.accounts[aid]
            b = self.records.buildings[acc.building_id]
            delivery = "sms" if channel and acc.phone else "record"
            title, body = self.templates.render("resident_notice", {
                "address": b.address, "started": self._t(inc.started_ms), "reason": reason,
                "expected_restore": restore, "order_id": order.order_id})
            nid = f"N-{order.order_id}-{aid}"
            cur = db.execute(
                "INSERT OR IGNORE INTO notice (notice_id, incident_key, account_id, building_id, "
                "substation_id, at_ms, delivery, reason, expected_restore_ms, text) "
                "VALUES (?,?,?,?,?,?,?,?,?,?)",
                (nid, inc.key, aid, b.building_id, b.substation_id, now_ms, delivery, reason,
                 int(restore_ms) if restore_ms else None, body))
            if cur.rowcount and delivery == "sms":
                # the phone is looked up at send time: it is never stored in the outbox
                WorkflowStore.enqueue(db, Message(f"{order.order_id}:resident_notice:{aid}",
                                                  channel, title, body, aid,
                                                  {"notice_id": nid}), now_ms)
        WorkflowStore.audit(db, order.order_id, now_ms, SYSTEM, "notify_residents", order.state,
                            order.state, f"{len(self.affected_accounts(inc))} accounts")
        self._compensate(db, inc, now_ms, only_existing=False)

    def _compensate(self, db: sqlite3.Connection, inc: Incident, now_ms: int,
                    only_existing: bool) -> None:
        """DOMAIN: refund = daily fee × outage days (part days up), daily fee = season ÷ days."""
        if inc.kind not in ("outage", "building_outage"):
            return
        if only_existing and not db.execute("SELECT 1 FROM compensation WHERE incident_key=?",
                                            (inc.key,)).fetchone():
            return
        end_ms = inc.closed_ms if inc.closed_ms is not None else now_ms
        duration_h = float(inc.details.get("duration_h") or (end_ms - inc.started_ms) / HOUR_MS)
        start = dt.datetime.fromtimestamp(inc.started_ms / 1000, self.tz).date()
        season = self.rules.season
        year = start.year if (start.month, start.day) >= (season.start_month, 1) else \
            start.year - 1
        season_days = season.days(year)
        comp = self.rules.compensation
        days = int(outage_days([duration_h], comp)[0])
        for aid in self.affected_accounts(inc):
            acc = self.records.accounts[aid]
            # DOMAIN: season fee at the area price (90 m² × 24 元/m² = 2,160 元)
            fee = Decimal(repr(acc.area_m2)) * self.rules.tariff.area_cny_m2_season
            amount = outage_refund_cny(duration_h, fee, season_days, comp)
            db.execute(
                "INSERT INTO compensation (incident_key, account_id, started_ms, duration_h, "
                "days, season_fee_cny, season_days, amount_cny, final, updated_ms) "
                "VALUES (?,?,?,?,?,?,?,?,?,?) ON CONFLICT(incident_key, account_id) DO UPDATE "
                "SET duration_h=excluded.duration_h, days=excluded.days, "
                "amount_cny=excluded.amount_cny, final=excluded.final, "
                "updated_ms=excluded.updated_ms",
                (inc.key, aid, inc.started_ms, duration_h, days, str(fee), season_days,
                 str(amount), int(inc.closed_ms is not None), now_ms))

    # -- crew actions ------------------------------------------------------------------------
    def act(self, order_id: str, action: str, actor: str, note: str = "",
            at_ms: int | None = None, crew_id: str | None = None,
            new_owner: str = "") -> Order:
        """One crew or dispatcher action; refused with OrderError (one clear line)."""
        now_ms = self.clock_ms() if at_ms is None else at_ms
        with self._lock:
            order = self.store.order(order_id)
            if order is None:
                raise OrderError(f"no order {order_id!r}")
            if crew_id is not None and crew_id != order.crew:
                raise OrderError(f"order {order_id} belongs to crew {order.crew}, not {crew_id}")
            if action in CREW_ACTIONS and not actor:
                raise OrderError(f"{action} needs the crew member's name")
            t = apply(order.machine(), action, actor, note, new_owner)
            with self.store.tx() as db:
                WorkflowStore.apply_transition(db, order, t, now_ms)
                if t.to_state == "resolved" and needs_return_visit(order.kind):
                    rv = return_visit_deadline(order_id, now_ms, self.cfg.limits)
                    WorkflowStore.insert_deadline(db, rv)
                    fresh = self.store.order(order_id) or order
                    self._to_crew(db, fresh, "return_visit", "resolved", now_ms,
                                  {"due": self._t(rv.due_ms), "what": t.note or order.summary})
            for d in self.store.deadlines(order_id):
                if d.done_ms is not None:
                    self.heap.done(order_id, d.deadline.step)
            self.refresh_heap()
            got = self.store.order(order_id)
            assert got is not None
            return got

    # -- the loop ----------------------------------------------------------------------------
    def step(self, now_ms: int, wait: bool = True) -> dict[str, int]:
        """One pass: new incident events, due escalations and notices, then delivery."""
        events = self.ingest(now_ms)
        marks = self.sweep(now_ms)
        self.write_series(now_ms)
        self.deliverer.round(now_ms, wait=wait)
        return {"events": events, "escalations": len(marks)}

    def write_series(self, now_ms: int) -> int:
        """The work_orders points as of now_ms, at most once per interval; how many written."""
        bucket = now_ms // self._series_every_ms
        if self.series_store is None or bucket == self._series_bucket:
            return 0
        with self._lock:
            points = work_order_readings(self.store.orders(include_closed=True),
                                         self.store.deadlines(), now_ms)
        try:
            if points:
                self.series_store.write(points)
        except StoreError as e:
            # the dashboard can wait; orders and escalations must not: try again next step
            log.warning("alerts: work_orders series not written: %s", e)
            return 0
        self._series_bucket = bucket
        return len(points)

    def close(self) -> None:
        self.deliverer.join(self.cfg.delivery.timeout_s)
        self.deliverer.close()


def build_service(cfg_alerts: AlertsConfig, records: Records, data_dir: str,
                  tz: str = "Asia/Shanghai", clock_ms: Clock = wall_clock_ms,
                  store: Store | None = None,
                  series_every_s: float | None = None,
                  rules: CityRules | None = None,
                  workflow_path: Path | None = None) -> AlertsService:
    """Wire stores and channels from config; `store` gets the work_orders series (None: not);
    `rules` are the city's (compensation, tariff, season), the same object the analyzer uses;
    `workflow_path` defaults to <data_dir>/workflow.sqlite."""
    cfg_alerts.check()
    path = workflow_path or Path(data_dir) / "workflow.sqlite"
    workflow = WorkflowStore(path)
    incidents = IncidentStore(path)

    def phone_of(account_id: str) -> str:
        acc = records.accounts.get(account_id)
        return acc.phone if acc else ""

    channels = {s.name: build_channel(s, cfg_alerts.delivery.timeout_s, phone_of)
                for s in cfg_alerts.channels()}
    return AlertsService(cfg_alerts, records, workflow, incidents, channels, clock_ms, tz,
                         rules=rules, series_store=store,
                         series_every_s=series_every_s or cfg_alerts.series_every_s)


def run_loop(svc: AlertsService, stop: threading.Event, once_at_ms: int | None = None) -> int:
    """`heatwatch alerts`: tick until stopped; with `once_at_ms`, one pass as of that instant."""
    if once_at_ms is not None:
        r = svc.step(once_at_ms, wait=True)
        log.info("alerts: %d events, %d escalations", r["events"], r["escalations"])
        return 0
    server = None
    if svc.cfg.http.enabled:
        from alerts.http import serve_in_thread

        server = serve_in_thread(svc)
    try:
        while not stop.is_set():
            svc.step(svc.clock_ms(), wait=False)
            stop.wait(svc.cfg.delivery.tick_s)
    finally:
        if server is not None:
            server.should_exit = True
        svc.close()
    return 0
