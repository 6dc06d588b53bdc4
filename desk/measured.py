"""What a measurement record decides (issue 22, the rules in `policy.measurements`).

Below the standard in a bedroom or living room, on a day not colder than design: the household
fails from that day. The visit joins the incident already open for its building or household
(an outage, a leak, a call cluster, a cold room the sensors found), or opens a cold-room
incident of its own, which the alerts service turns into a repair order for the building the
way it does the analyzer's (alerts.handlers: room_cold -> repair). A passing re-measurement
closes the visit's own incident. Either way the record is quoted to the resident when the
call it answers is resolved (desk.actions).

Call `decide` in the unit of work that appends the record, whoever files it (the CLI, the
measurer's phone page).
"""

from __future__ import annotations

import datetime as dt

from desk.orders import covering_incident
from district.records import Account, Records
from policy.measurements import lowest_counted, verdict
from policy.rooms import RoomState
from policy.rules import CityRules
from workflow.details import RoomColdDetails
from workflow.incidents import Incident, incident_key
from workflow.measurement_links import Link
from workflow.measurements import Record
from workflow.unit import Repositories

VERDICT_WORDS = {RoomState.PASS: "达标", RoomState.COLD: "不达标",
                 RoomState.EXCLUDED: "当日室外日均气温低于设计温度，不作判定",
                 RoomState.NOT_COUNTED: "未测卧室或客厅，不作判定"}
ROOM_WORDS = {"bedroom": "卧室", "living": "客厅", "other": "其他房间"}
# the subject of a visit's own incident (alerts.handlers.subject_text words it 住户)
SUBJECT = "household {}"
CAUSE = "measurement"


def record_state(r: Record, city: CityRules) -> RoomState:
    """What a record decides (policy.measurements.verdict); no outdoor mean: not judged."""
    if r.outdoor_mean_c is None or r.design_c is None:
        return RoomState.EXCLUDED
    return verdict([(str(k), float(c)) for k, c in r.readings], r.outdoor_mean_c, r.design_c,
                   city.rooms)


def quote(r: Record, state: RoomState, tz: dt.tzinfo) -> str:
    """The record in the words the desk reads to the resident: id, time, readings, verdict."""
    at = dt.datetime.fromtimestamp(r.measured_ms / 1000, tz).strftime("%Y-%m-%d %H:%M")
    rooms = "，".join(f"{ROOM_WORDS.get(str(k), str(k))} {float(c):.1f}℃" for k, c in r.readings)
    outdoor = ("" if r.outdoor_mean_c is None
               else f"，当日室外日均 {r.outdoor_mean_c:.1f}℃")
    return f"入户测温记录 {r.record_id}（{at}，{rooms}{outdoor}）：{VERDICT_WORDS[state]}"


def open_incident(u: Repositories, acc: Account, records: Records) -> Incident | None:
    """The incident already open for the household: one covering its building or station, a
    cold room of its own the sensors found, or an earlier visit's."""
    covering = covering_incident(u, acc, records)
    if covering is not None:
        return covering
    mine = [i for i in u.incidents.find(kind="room_cold")
            if i.account_id == acc.account_id or i.subject == SUBJECT.format(acc.account_id)]
    return mine[0] if mine else None


def _visit_incident(r: Record, acc: Account, records: Records, low: float) -> Incident:
    subject = SUBJECT.format(acc.account_id)
    return Incident(incident_key("room_cold", subject, r.measured_ms, CAUSE), "room_cold",
                    subject, r.measured_ms, records.buildings[acc.building_id].substation_id,
                    acc.building_id, acc.account_id, CAUSE,
                    details=RoomColdDetails(ongoing=True, record_id=r.record_id,
                                            measured_c=low))


def _close_visits(u: Repositories, acc: Account, at_ms: int) -> None:
    """A passing re-measurement ends the household's visit incidents (their orders are told)."""
    subject = SUBJECT.format(acc.account_id)
    for inc in u.incidents.find(kind="room_cold"):
        if inc.subject == subject:
            inc.closed_ms = at_ms
            u.incidents.reconcile([inc], at_ms, ["room_cold"], scope={"room_cold": [subject]})


def decide(u: Repositories, r: Record, records: Records, city: CityRules, tz: dt.tzinfo,
           now_ms: int) -> Link:
    """Act on a stored record in the caller's unit: a failing visit joins or opens an incident
    (so a repair order), a passing one closes its household's visit incident; the decision is
    stored beside the record and returned."""
    acc = records.accounts.get(r.account_id)
    state = record_state(r, city)
    key, opened = "", False
    if acc is not None and state == RoomState.COLD:
        low = lowest_counted([(str(k), float(c)) for k, c in r.readings])
        joined = open_incident(u, acc, records)
        if joined is not None:
            key = joined.key
        else:
            inc = _visit_incident(r, acc, records, low if low is not None else float("nan"))
            u.incidents.reconcile([inc], now_ms, ["room_cold"],
                                  scope={"room_cold": [inc.subject]})
            key, opened = inc.key, True
    elif acc is not None and state == RoomState.PASS:
        _close_visits(u, acc, r.measured_ms)
    link = Link(r.record_id, r.account_id, r.measured_ms, state.name.lower(), key, opened,
                quote(r, state, tz), now_ms)
    u.measurement_links.add(link)
    return link


def reply_with_record(u: Repositories, account_id: str, since_ms: int, reply: str) -> str:
    """A reply to a temperature call or complaint, quoting the household's latest measurement
    record made since the call came in (unchanged when there is none or it is quoted)."""
    links = u.measurement_links.of_account(account_id, since_ms)
    if not links or links[-1].record_id in reply:
        return reply
    return f"{reply.rstrip()}（{links[-1].quote}）"
