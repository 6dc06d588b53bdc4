"""Taking a call (受理): its due time from the city's limits, and what it meets in the network.

One unit of work per call: the call, the incident it attaches to or raises, the order it opens
and the audit lines commit together or not at all. The unit takes the workflow file's write
lock first (BEGIN IMMEDIATE), so two clerks taking calls from one building at the same moment
are serialised and the second sees the first's incident: one incident, never two.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from alerts.messages import Messenger
from alerts.routing import Routing
from alerts.sla import Deadline, deadlines_for
from desk.orders import attach_to, covering_incident, open_call_order, raise_cluster
from desk.readings import heated_note, latest_of
from desk.taken import Taken
from desk.visit_orders import open_visit
from district.records import Account, Records
from policy.calendar import CalendarError, ChinaCalendar
from policy.calls import (
    CALL_KINDS,
    FAULT_KINDS,
    KIND_NAMES,
    CallLimits,
    due_of,
    suspension_decision,
)
from policy.rules import CityRules, RoomRules, Season
from policy.service import ServiceLimits
from storage.base import Store
from workflow.calls import Call
from workflow.orders import Order
from workflow.unit import Repositories, WorkflowDb

MINUTE_MS = 60_000


class DeskError(Exception):
    """A call or an action the desk refuses (a user mistake or a rule); one line."""


@dataclass(slots=True)
class Intake:
    """Takes calls into the workflow file on the city's rules."""

    db: WorkflowDb
    records: Records
    limits: CallLimits
    calendar: ChinaCalendar
    season: Season
    routing: Routing
    crew_limits: ServiceLimits
    tz: str = "Asia/Shanghai"
    store: Store | None = None  # the readings, for what the data shows of a cold-room call
    rooms: RoomRules = field(default_factory=RoomRules)  # the standard a cold call is held to
    messenger: Messenger | None = None  # the crews' messages (None: orders only)
    city: CityRules = field(default_factory=CityRules)  # what a measurement record decides

    def local(self, at_ms: int) -> dt.datetime:
        return dt.datetime.fromtimestamp(at_ms / 1000, ZoneInfo(self.tz))

    def visit_due_ms(self, at_ms: int) -> int | None:
        """When a measurement order opened at `at_ms` is due: the city's limit for 测温."""
        due = due_of("temperature", self.local(at_ms), self.limits, self.calendar,
                     self.crew_limits)
        return None if due is None else int(due.timestamp() * 1000)

    def account(self, account_id: str) -> Account:
        acc = self.records.accounts.get(account_id)
        if acc is None:
            raise DeskError(f"unknown account {account_id!r}")
        return acc

    def take(self, account_id: str, kind: str, at_ms: int, by: str, text: str = "",
             reporter: str = "") -> Taken:
        """Take one call; a refused application is stored too (state `refused`)."""
        if kind not in CALL_KINDS:
            raise DeskError(f"unknown kind {kind!r} (known: {', '.join(CALL_KINDS)})")
        acc = self.account(account_id)
        try:
            due = due_of(kind, self.local(at_ms), self.limits, self.calendar, self.crew_limits)
        except CalendarError as e:
            raise DeskError(f"cannot set the due date: {e}") from None
        with self.db.unit() as u:
            person = u.staff.get(by)
            if person is None or not person.active:
                raise DeskError(f"unknown staff member {by!r} (add with `heatwatch staff add`)")
            building = self.records.buildings[acc.building_id]
            call = Call(u.counters.next_id("call", "CL"), kind, acc.account_id,
                        acc.building_id, building.substation_id, at_ms, by, by,
                        None if due is None else int(due.timestamp() * 1000), "open",
                        text=text, reporter=reporter if kind == "report" else "",
                        updated_ms=at_ms)
            taken = Taken(call)
            self._route(u, taken, acc)
            u.calls.insert(call)
            u.calls.audit(call.call_id, at_ms, by, "take", "", call.state,
                          f"{KIND_NAMES[kind]}; {'; '.join(taken.notes)}".rstrip("; "))
            u.staff.audit(at_ms, by, "take_call", call.call_id, True, KIND_NAMES[kind])
        return taken

    def _route(self, u: Repositories, taken: Taken, acc: Account) -> None:
        """Where the call goes: a suspension's decision, a known fault, a cluster, an order."""
        call = taken.call
        if call.kind == "suspend":
            self._suspend(u, taken, acc)
            return
        if call.kind not in ("leak", *FAULT_KINDS):
            return
        if call.kind == "temperature":  # taken all the same; the data is written beside it
            visit = open_visit(u, acc.account_id, "call", call.call_id, call.received_ms,
                               call.taken_by, call.due_ms)
            taken.notes.append(f"测温工单 {visit.order_id}")
            taken.data_note = heated_note(latest_of(self.store, self.records, acc.account_id),
                                          self.rooms.min_c, self.limits)
            if taken.data_note:
                taken.notes.append(taken.data_note)
        inc = covering_incident(u, acc, self.records, call.received_ms)
        if inc is not None:
            attach_to(u, taken, inc)
            return
        if call.kind in FAULT_KINDS and self._cluster(u, taken):
            return
        if call.kind in ("leak", "repair"):
            kind = "urgent" if call.kind == "leak" else "repair"
            order = open_call_order(u, self.routing, call, kind, f"call:{call.call_id}",
                                    self._address(acc), KIND_NAMES[call.kind])
            self._tell_crew(u, order, deadlines_for(order.order_id, kind, call.received_ms,
                                                    self.crew_limits))
            call.order_id = order.order_id
            taken.notes.append(f"order {order.order_id}")

    def _suspend(self, u: Repositories, taken: Taken, acc: Account) -> None:
        call = taken.call
        decision = suspension_decision(self.local(call.received_ms).date(), self.season,
                                       self.limits)
        call.result = decision.reason
        if not decision.accepted:
            call.state, call.closed_ms = "refused", call.received_ms
            taken.refused = decision.reason
            return
        order = open_call_order(u, self.routing, call, "seal", f"call:{call.call_id}",
                                self._address(acc), f"暂停供暖：关阀加封（{decision.season_year}"
                                                    "年供暖季）")
        self._tell_crew(u, order, [])
        call.order_id = order.order_id
        u.calls.suspend(acc.account_id, decision.season_year, call.call_id)
        taken.notes.append(f"suspended for season {decision.season_year}; order {order.order_id}")

    def _cluster(self, u: Repositories, taken: Taken) -> bool:
        """Raise a suspected-fault incident if this call makes the building a cluster."""
        call = taken.call
        window = round(self.limits.cluster_window_min * MINUTE_MS)
        recent = [c for c in u.calls.in_building(call.building_id, FAULT_KINDS,
                                                 call.received_ms - window, call.received_ms)
                  if not c.incident_key]
        households = {c.account_id for c in recent} | {call.account_id}
        if len(households) < self.limits.cluster_households:
            return False
        b = self.records.buildings[call.building_id]
        order = raise_cluster(u, self.routing, taken, recent, sorted(households), b.address)
        self._tell_crew(u, order, deadlines_for(order.order_id, "repair", call.received_ms,
                                                self.crew_limits))
        return True

    def _tell_crew(self, u: Repositories, order: Order, deadlines: list[Deadline]) -> None:
        """The order's deadlines, and its crew's message with each member's own link (in this
        unit's outbox: the alerts service delivers it), as alerts does for an incident's."""
        for d in deadlines:
            u.deadlines.add(d)
        m = self.messenger
        if m is None:
            return
        crew = m.routing.crew(order.crew)
        on_duty = m.routing.on_duty(crew, order.opened_ms)
        m.to_crew(u.outbox, order, "order_new", "opened", order.opened_ms, {
            "deadline_text": "；".join(f"{m.templates.step_text(d.step, order.kind)} "
                                      f"{m.t(d.due_ms)}前" for d in deadlines) or "尽快处理",
            "on_duty": "、".join(on_duty)})

    def _address(self, acc: Account) -> str:
        return f"{self.records.buildings[acc.building_id].address} {acc.unit}"
