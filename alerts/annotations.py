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
from collections.abc import Callable, Mapping, Sequence
from typing import Final, cast

from alerts.lifecycle import state_text
from district.readings import FieldValue, Reading
from policy.causes import cause_text, cause_texts, reason_text
from storage.base import Store, StoreError
from workflow.incidents import Incident
from workflow.orders import Order
from workflow.unit import WorkflowDb

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
    "early_warning": "早期预警 early warning",
    "room_cold": "室温低 cold room",
    "compliance_breach": "合格率低 compliance",
    "sensor_fault": "温度计故障 sensor fault",
    "meter_fault": "表计故障 meter fault",
    "meter_comm": "表计通讯 meter comm",
    "station_comm": "站点通讯 station comm",
}


def hours_text(hours: float) -> str:
    return f"{round(hours, 1):g} h"


def cause_words(inc: Incident, texts: Mapping[str, str] | None = None) -> str:
    """The incident's cause (or an outage's reason) in words, from the one catalogue."""
    texts = cause_texts() if texts is None else texts
    if inc.cause:
        return cause_text(inc.cause, texts)
    reason = str(getattr(inc.details, "reason", "") or "")
    return reason_text(reason, texts) if reason else ""


def incident_annotation(inc: Incident, substation_id: str, orders: Sequence[Order],
                        texts: Mapping[str, str] | None = None) -> Reading:
    """One incident as a point at its start; a region to its end once it is closed; its cause
    in words (`texts`: the city's catalogue, policy/causes.py)."""
    label = KIND_TEXT.get(inc.kind, inc.kind)
    if inc.closed_ms is not None:
        # the analyzer's own figure where it gives one (outages), else end minus start
        hours = float(getattr(inc.details, "duration_h", 0.0)
                      or (inc.closed_ms - inc.started_ms) / HOUR_MS)
        parts = [f"{label} {inc.subject}", hours_text(hours)]
    else:
        parts = [f"{label} {inc.subject}", "running"]
    if words := cause_words(inc, texts):
        parts.insert(1, words)
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
    text = (f"order {order.order_id} {state_text(to_state, order.kind)} {to_state}"
            f" by {actor}, crew {order.crew} ({label} {subject})")
    fields = {"text": text, "time_end": at_ms, "order_id": order.order_id}
    return Reading(ANNOTATIONS, {"substation_id": order.substation_id, "kind": ORDER_KIND,
                                 "subject": subject, "state": to_state},
                   cast(dict[str, FieldValue], fields), at_ms)


class AnnotationWriter:
    """Follows the incident and audit logs and writes their annotations; never raises a
    store error (the next step retries from the same cursors)."""

    def __init__(self, db: WorkflowDb, store: Store, substation_of: Callable[[Incident], str],
                 batch: int = 1000, texts: Mapping[str, str] | None = None) -> None:
        self.db = db
        self.texts = cause_texts() if texts is None else dict(texts)
        self.store = store
        self.substation_of = substation_of
        self.batch = batch
        self._failing = False

    def _incident_point(self, key: str) -> Reading | None:
        inc = self.db.incidents.get(key)
        if inc is None:
            return None
        return incident_annotation(inc, self.substation_of(inc),
                                   self.db.orders.for_incident(key), self.texts)

    def pending(self) -> tuple[list[Reading], int, int]:
        """The points since the cursors, and where the cursors go once they are written."""
        inc_seq = self.db.counters.cursor(INCIDENT_CURSOR)
        audit_seq = self.db.counters.cursor(AUDIT_CURSOR)
        keys: dict[str, None] = {}
        for ev in self.db.incidents.events_after(inc_seq, self.batch):
            keys[ev.key] = None
            inc_seq = ev.seq
        points: list[Reading] = []
        for row in self.db.orders.audit_after(audit_seq, self.batch):
            audit_seq = int(row["seq"])
            # a state change; `open` is followed at once by `dispatch`, which says it all
            if row["from_state"] == row["to_state"] or row["action"] == "open":
                continue
            order = self.db.orders.get(row["order_id"])
            if order is None:
                continue
            inc = self.db.incidents.get(order.incident_key)
            points.append(order_annotation(order, inc.subject if inc else order.incident_key,
                                           int(row["at_ms"]), row["actor"], row["to_state"]))
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
        with self.db.unit() as u:
            u.counters.set_cursor(inc_seq, INCIDENT_CURSOR)
            u.counters.set_cursor(audit_seq, AUDIT_CURSOR)
        return len(points)
