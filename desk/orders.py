"""What a call meets: the open incident that covers its household, a cluster of calls that
raises one, and the crew orders a call opens (as alerts opens an incident's: routed to the
substation's crew, dispatched, audited)."""

from __future__ import annotations

from alerts.handlers import outage_reason
from alerts.routing import Routing
from desk.taken import Taken
from district.records import Account, Records
from workflow.calls import Call
from workflow.details import CallClusterDetails, OutageDetails
from workflow.incidents import Incident, incident_key
from workflow.orders import Order
from workflow.unit import Repositories

DESK = "desk"  # the audit's actor for what the desk does on its own
CAUSES = {"outage": "换热站停热", "building_outage": "楼栋停热", "leak": "管网泄漏（补水量异常）",
          "call_cluster": "来电聚集（疑似故障，待查）"}
RESTORE_UNKNOWN = "预计恢复时间待调度确认"


def cause_text(inc: Incident) -> str:
    """The cause in Chinese, as the clerk reads it to the resident."""
    if isinstance(inc.details, OutageDetails) and inc.details.reason:
        return f"{CAUSES['outage']}：{outage_reason(inc.details.reason)}"
    return CAUSES.get(inc.kind, inc.cause or inc.kind)


def covering_incident(u: Repositories, acc: Account, records: Records,
                      at_ms: int | None = None) -> Incident | None:
    """The outage, leak, building outage or call cluster that covers a household: open now,
    or (`at_ms`, a call taken with its time) open at that instant."""
    sid = records.buildings[acc.building_id].substation_id
    found = u.incidents.find(include_closed=at_ms is not None)
    if at_ms is not None:
        found = [i for i in found if i.started_ms <= at_ms
                 and (i.closed_ms is None or i.closed_ms > at_ms)]
    for inc in found:
        if inc.kind == "call_cluster" and not _open_order(u, inc):
            continue  # a suspected fault lasts while its order is open (nothing else ends it)
        if inc.kind in ("building_outage", "call_cluster") and inc.building_id == acc.building_id:
            return inc
        if inc.kind == "leak" and acc.building_id and inc.building_id == acc.building_id:
            return inc
        if inc.kind in ("outage", "leak") and inc.substation_id == sid and not inc.building_id:
            return inc
    return None


def _open_order(u: Repositories, inc: Incident) -> bool:
    return any(o.state not in ("closed", "cancelled") for o in u.orders.for_incident(inc.key))


def attach_to(u: Repositories, taken: Taken, inc: Incident) -> None:
    """A call about a known fault joins its incident and its order: no second order."""
    call = taken.call
    call.incident_key = inc.key
    orders = [o for o in u.orders.for_incident(inc.key) if o.state not in ("closed", "cancelled")]
    if orders:
        call.order_id = orders[0].order_id
    taken.incident_key = inc.key
    taken.incident_cause = cause_text(inc)
    taken.notes.append(f"attached to {inc.key}" + (f"; order {call.order_id}"
                                                   if call.order_id else ""))


def open_call_order(u: Repositories, routing: Routing, call: Call, kind: str, key: str,
                    address: str, summary: str, incident_kind: str = "call") -> Order:
    """A crew order born of a call (or of a cluster of calls), dispatched to the crew of the
    household's substation."""
    crew = routing.crew_for(call.substation_id)
    oid = u.counters.next_id("order", "WO")
    at = call.received_ms
    order = Order(oid, key, incident_kind, kind, crew.crew_id, "", "dispatched",
                  call.substation_id, call.building_id,
                  call.account_id if incident_kind == "call" else "", address, summary, at, at,
                  at, passed=["opened", "dispatched"])
    u.orders.insert(order)
    u.orders.audit(oid, at, call.taken_by, "open", "", "opened", f"call {call.call_id}")
    u.orders.audit(oid, at, DESK, "dispatch", "opened", "dispatched", f"crew {crew.crew_id}")
    return order


def raise_cluster(u: Repositories, routing: Routing, taken: Taken, earlier: list[Call],
                  households: list[str], address: str) -> Order:
    """来电聚集: one suspected-fault incident for the building and one order to its station's
    crew; the calls that made the cluster attach to it."""
    call = taken.call
    start = min([c.received_ms for c in earlier] + [call.received_ms])
    key = incident_key("call_cluster", call.building_id, start)
    inc = Incident(key, "call_cluster", call.building_id, start, call.substation_id,
                   call.building_id, cause="来电聚集",
                   details=CallClusterDetails([c.call_id for c in earlier] + [call.call_id],
                                              households))
    u.incidents.reconcile([inc], call.received_ms, ["call_cluster"],
                          scope={"call_cluster": [call.building_id]})
    order = open_call_order(u, routing, call, "repair", key, address,
                            f"来电聚集：{len(households)}户来电，疑似楼栋供热故障",
                            incident_kind="call_cluster")
    for c in earlier:
        u.calls.change(c, {"incident_key": key, "order_id": c.order_id or order.order_id},
                       call.received_ms)
        u.calls.audit(c.call_id, call.received_ms, DESK, "attach", c.state, c.state, key)
    call.incident_key, call.order_id = key, order.order_id
    taken.incident_key, taken.incident_cause, taken.cluster = key, cause_text(inc), True
    taken.notes.append(f"cluster {key}; order {order.order_id}")
    return order
