"""Incidents and order state changes as Grafana annotations: points of the `annotations`
measurement, read by the dashboards' provisioned annotation queries (grafana/dashboards.py).

An incident is one point at its start, rewritten as it changes: `time_end` is its end once
closed (a region on the graph), its start while it runs (a mark). An order's state change is
one point when it happens. Tags: `substation_id` (the `$substation` dashboard shows its own),
`kind` (the incident kind, or `order`), `subject` (room, meter, building or substation),
`cause` for incidents that have one and `state` for orders. Written best-effort from the
incident event log and the order audit log, each behind its own cursor: a store that is
down delays the annotations, never the orders.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable, Sequence
from typing import Final, cast

from alerts.orders import STATE_TEXT
from alerts.store import Order, WorkflowStore
from district.readings import FieldValue, Reading
from storage.base import Store, StoreError
from workflow.incidents import Incident, IncidentStore

log = logging.getLogger("heatwatch.alerts")

ANNOTATIONS: Final = "annotations"
ORDER_KIND: Final = "order"
INCIDENT_CURSOR: Final = "annotations_incidents"
AUDIT_CURSOR: Final = "annotations_orders"
HOUR_MS: Final = 3_600_000

KIND_TEXT: Final = {
    "outage": "停热 outage",
    "building_outage": "楼栋停热 building outage",
    "leak": "漏水 leak",
    "room_cold": "室温低 cold room",
    "compliance_breach": "合格率低 compliance",
    "sensor_fault": "温度计故障 sensor fault",
    "meter_fault": "表计故障 meter fault",
    "meter_comm": "表计通讯 meter comm",
}


def hours_text(hours: float) -> str:
    return f"{round(hours, 1):g} h"


def incident_annotation(inc: Incident, substation_id: str, orders: Sequence[Order]) -> Reading:
    """One incident as a point at its start; a region to its end once it is closed."""
    label = KIND_TEXT.get(inc.kind, inc.kind)
    if inc.closed_ms is not None:
        hours = float(inc.details.get("duration_h") or (inc.closed_ms - inc.started_ms) / HOUR_MS)
        parts = [f"{label} {inc.subject}", hours_text(hours)]
    else:
        parts = [f"{label} {inc.subject}", "running"]
    # the order and crew who own it: "outage S2, 30 h, order WO000004, crew north"
    parts += [f"order {o.order_id}, crew {o.crew}" for o in orders]
    fields = {"text": ", ".join(parts),
              "time_end": inc.closed_ms if inc.closed_ms is not None else inc.started_ms,
              "incident": inc.key}
    # cause: one meter may have two faults from the same instant (empty: left out)
    return Reading(ANNOTATIONS, {"substation_id": substation_id, "kind": inc.kind,
                                 "subject": inc.subject, "cause": inc.cause},
                   cast(dict[str, FieldValue], fields), inc.started_ms)


def order_annotation(order: Order, subject: str, at_ms: int, actor: str, to_state: str
                     ) -> Reading:
    """One state change of an order, as a mark (notes are left out: they may hold phones)."""
    label = KIND_TEXT.get(order.incident_kind, order.incident_kind)
    text = (f"order {order.order_id} {STATE_TEXT.get(to_state, to_state)} {to_state}"
            f" by {actor}, crew {order.crew} ({label} {subject})")
    fields = {"text": text, "time_end": at_ms, "order_id": order.order_id}
    return Reading(ANNOTATIONS, {"substation_id": order.substation_id, "kind": ORDER_KIND,
                                 "subject": subject, "state": to_state},
                   cast(dict[str, FieldValue], fields), at_ms)


class AnnotationWriter:
    """Follows the incident and audit logs and writes their annotations; never raises a
    store error (the next step retries from the same cursors)."""

    def __init__(self, workflow: WorkflowStore, incidents: IncidentStore, store: Store,
                 substation_of: Callable[[Incident], str], batch: int = 1000) -> None:
        self.workflow = workflow
        self.incidents = incidents
        self.store = store
        self.substation_of = substation_of
        self.batch = batch
        self._failing = False

    def _orders_of(self, key: str) -> list[Order]:
        rows = self.workflow._q("SELECT order_id FROM alert_order WHERE incident_key=? "
                                "ORDER BY order_id", (key,))
        return [o for (oid,) in rows if (o := self.workflow.order(oid)) is not None]

    def _incident_point(self, key: str) -> Reading | None:
        inc = self.incidents.get(key)
        if inc is None:
            return None
        return incident_annotation(inc, inc.substation_id or self.substation_of(inc),
                                   self._orders_of(key))

    def pending(self) -> tuple[list[Reading], int, int]:
        """The points since the cursors, and where the cursors go once they are written."""
        inc_seq = self.workflow.cursor(INCIDENT_CURSOR)
        audit_seq = self.workflow.cursor(AUDIT_CURSOR)
        keys: dict[str, None] = {}
        for ev in self.incidents.events_after(inc_seq, self.batch):
            keys[ev.key] = None
            inc_seq = ev.seq
        points: list[Reading] = []
        rows = self.workflow._q(
            "SELECT seq, order_id, at_ms, actor, action, from_state, to_state FROM order_audit "
            "WHERE seq > ? ORDER BY seq LIMIT ?", (audit_seq, self.batch))
        for seq, oid, at_ms, actor, action, from_state, to_state in rows:
            audit_seq = int(seq)
            # a state change; `open` is followed at once by `dispatch`, which says it all
            if from_state == to_state or action == "open":
                continue
            order = self.workflow.order(oid)
            if order is None:
                continue
            inc = self.incidents.get(order.incident_key)
            points.append(order_annotation(order, inc.subject if inc else order.incident_key,
                                           int(at_ms), actor, to_state))
            # the incident's text names its order's crew: keep it current (reassignments)
            keys[order.incident_key] = None
        points += [p for k in keys if (p := self._incident_point(k)) is not None]
        return points, inc_seq, audit_seq

    def step(self) -> int:
        """Write what is new; how many points (0 when the store refused: retried next step)."""
        points, inc_seq, audit_seq = self.pending()
        try:
            if points:
                self.store.write(points)
        except (StoreError, ValueError) as e:
            if not self._failing:
                log.warning("alerts: annotations not written (retrying): %s", e)
            self._failing = True
            return 0
        if self._failing:
            log.info("alerts: annotations written again")
        self._failing = False
        with self.workflow.tx() as db:
            set_cursors(db, inc_seq, audit_seq)
        return len(points)


def set_cursors(db: sqlite3.Connection, inc_seq: int, audit_seq: int) -> None:
    WorkflowStore.set_cursor(db, inc_seq, INCIDENT_CURSOR)
    WorkflowStore.set_cursor(db, audit_seq, AUDIT_CURSOR)
