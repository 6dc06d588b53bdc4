"""Incident events in: the handlers' plans become orders, deadlines, billing and compensation."""

from __future__ import annotations

import threading

from alerts import verdict
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
from alerts.lifecycle import DONE_STATES, FINAL, TO_CONFIRM
from alerts.messages import Messenger
from alerts.residents import SYSTEM, Residents
from alerts.sla import STEP_NOTICE, Deadline, deadlines_for
from district.records import Records
from policy.outages import notice_due_ms
from workflow.incidents import Incident
from workflow.orders import Order
from workflow.unit import Repositories, WorkflowDb


class Ingest:
    """Follows the incident event log with a cursor kept in the same unit as its effects."""

    def __init__(self, cfg: AlertsConfig, records: Records, db: WorkflowDb,
                 messenger: Messenger, residents: Residents, lock: threading.RLock) -> None:
        self.cfg = cfg
        self.records = records
        self.db = db
        self.messenger = messenger
        self.residents = residents
        self._lock = lock

    def run(self, now_ms: int, limit: int = 1000) -> int:
        """Turn new incident events into workflow; the cursor moves in the same transaction,
        and is read again inside it: with two alerts services on one database, each event is
        applied by one of them (units run one after another)."""
        n = 0
        with self._lock:
            for ev in self.db.incidents.events_after(self.db.counters.cursor(), limit):
                with self.db.unit() as u:
                    if u.counters.cursor() >= ev.seq:
                        continue  # another alerts service took this event meanwhile
                    inc = u.incidents.get(ev.key)
                    if inc is not None:
                        self._apply(u, inc, plans_for(inc, ev.event, self.records,
                                                       self.messenger.templates), now_ms)
                    u.counters.set_cursor(ev.seq)
                n += 1
        return n

    def _apply(self, u: Repositories, inc: Incident, plans: list[Plan], now_ms: int) -> None:
        for p in plans:
            if isinstance(p, OpenOrder):
                self._open_order(u, inc, p, now_ms)
            elif isinstance(p, SwitchBilling):
                u.billing.switch(inc.key, p.account_id, p.basis, inc.started_ms, p.cause)
            elif isinstance(p, EndBilling):
                u.billing.end(inc.key, inc.closed_ms or now_ms)
            elif isinstance(p, UpdateCompensation):
                self.residents.compensate(u, inc, now_ms)
            elif isinstance(p, NoteIncidentClosed):
                self._incident_closed(u, inc, now_ms)

    def _incident_closed(self, u: Repositories, inc: Incident, now_ms: int) -> None:
        """issue 20: the data shows the fault gone: a waiting resolution is confirmed at the
        close; an order still being worked keeps going (issue 5: a crew closes it), its
        running fix limit met at the close."""
        closed_ms = inc.closed_ms if inc.closed_ms is not None else now_ms
        for o in u.orders.for_incident(inc.key):
            u.orders.audit(o.order_id, now_ms, SYSTEM, "incident_closed", o.state, o.state,
                           f"故障已消除 {self.messenger.t(closed_ms)}")
            if o.state == TO_CONFIRM:
                verdict.confirm(u, self.messenger, o, closed_ms, now_ms)
            elif o.state not in FINAL:
                verdict.fixed(u, o, closed_ms)

    def _open_order(self, u: Repositories, inc: Incident, p: OpenOrder, now_ms: int) -> None:
        had = u.orders.for_incident(inc.key, p.kind)
        for o in had:
            # issue 20: a re-opened incident is never silent: a done order reopens (a new
            # round of deadlines); one still being worked carries on; a cancelled one stays
            if o.state in DONE_STATES:
                verdict.reopen(u, self.messenger, o, now_ms, now_ms)
        if had:
            return
        sid = self.substation_of(inc)
        crew = self.messenger.routing.crew_for(sid)
        oid = u.counters.next_id("order", "WO")
        order = Order(oid, inc.key, inc.kind, p.kind, crew.crew_id, "", "dispatched", sid,
                      inc.building_id, inc.account_id, p.address, p.what, inc.started_ms,
                      now_ms, now_ms, passed=["opened", "dispatched"])
        # seed (接到抢修电话30分钟到达现场): limits run from receipt, i.e. when the analyzer saw
        # the fault ([alerts.limits] clock_from = "detection", the default), or from the
        # incident's start ("start"); the residents' notice always runs from the start
        base_ms = inc.started_ms
        if self.cfg.limits.clock_from == "detection":
            base_ms = max(inc.started_ms, inc.detected_ms)
        deadlines = deadlines_for(oid, p.kind, base_ms, self.cfg.limits)
        if p.notice:
            # the residents' notice: the policy's instant ([analyzer.outages] over_h)
            deadlines.append(Deadline(oid, STEP_NOTICE, inc.started_ms, notice_due_ms(
                inc.started_ms, self.residents.rules.outages)))
        u.orders.insert(order)
        for d in deadlines:
            u.deadlines.add(d)
        u.orders.audit(oid, now_ms, SYSTEM, "open", "", "opened", f"incident {inc.key}")
        on_duty = self.messenger.routing.on_duty(crew, now_ms)
        u.orders.audit(oid, now_ms, SYSTEM, "dispatch", "opened", "dispatched",
                       f"crew {crew.crew_id}; on duty: {', '.join(on_duty) or '-'}")
        t = self.messenger.t
        timed = [d for d in deadlines if d.step != STEP_NOTICE]
        self.messenger.to_crew(u.outbox, order, "order_new", "opened", now_ms, {
            "deadline_text": "；".join(
                f"{self.messenger.templates.step_text(d.step, p.kind)} {t(d.due_ms)}前"
                for d in timed) or "立即处理",
            "on_duty": "、".join(on_duty)})

    def substation_of(self, inc: Incident) -> str:
        """The incident's substation, or its building's (or account's building's)."""
        if inc.substation_id:
            return inc.substation_id
        b = self.records.buildings.get(inc.building_id)
        if b is None and inc.account_id in self.records.accounts:
            b = self.records.buildings.get(self.records.accounts[inc.account_id].building_id)
        return b.substation_id if b else ""
