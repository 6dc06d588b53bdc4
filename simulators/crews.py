"""Repair crews' phones, simulated: a crew reads its work orders from MQTT, opens the link in
each message and acts through the crew HTTP endpoint (accept, contact, arrive, resolve) at
district times drawn from its habits; customer service makes the return visit and closes.

A crew is named and seeded, so a scenario gives the same plan every run. It never builds an
endpoint URL: every action goes to the acting member's own link from the message (`links`,
by member), plus `/<action>`.
"""

from __future__ import annotations

import asyncio
import dataclasses
import heapq
import json
import logging
import random
import threading
import urllib.error
import urllib.parse
import urllib.request
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Final

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from policy.service import ServiceLimits
from simulators.clock import Clock

log = logging.getLogger("heatwatch.simulators.crews")
MINUTE_S: Final = 60.0
HOUR_S: Final = 3600.0
# the order kinds whose resident contact is a timed step (alerts/sla.py: all but these)
NO_CONTACT: Final = ("urgent", "opinion")
# what a crew writes when it resolves (a resolution needs a note saying what was done)
RESOLVED_NOTE: Final = {
    "repair": "已处理，室温恢复", "replacement": "已更换故障部件", "inspection": "已现场稽查取证",
    "urgent": "漏点已封堵，补水恢复正常", "emergency": "设备已修复，恢复供热",
    "opinion": "已给出处理意见",
    "sensor": "已更换室温传感器", "building_sensors": "楼栋网关已恢复，室温数据恢复上传",
    "meter_link": "热表通讯已恢复", "building_meters": "楼栋热表通讯已恢复",
    "gateway_link": "集中器已恢复，热表数据恢复上传", "station_link": "换热站远传已恢复",
    "weather_link": "气象站数据已恢复",
}


@dataclass(frozen=True, slots=True)
class CrewHabits:
    """How a crew works, in district minutes from when the order reached its phones."""

    take_share: float = 0.95   # orders the crew takes at all; the rest wait, and breach
    slow_share: float = 0.12   # orders it reaches late (traffic, another job first)
    accept_min: tuple[float, float] = (1, 6)
    contact_min: tuple[float, float] = (8, 24)      # seed: contact within 30 min
    on_site_min: tuple[float, float] = (45, 105)    # seed: on site within 2 h
    urgent_on_site_min: tuple[float, float] = (12, 26)  # seed: leaks on site within 30 min
    late_by_min: tuple[float, float] = (10, 75)     # a slow order: this much past the limit
    resolve_min: tuple[float, float] = (40, 200)    # after arriving
    opinion_min: tuple[float, float] = (15, 50)     # seed: the station's opinion within 1 h
    limits: ServiceLimits = field(default_factory=ServiceLimits)  # what late means


@dataclass(frozen=True, slots=True, order=True)
class PlannedAction:
    """One tap on the phone at a district time."""

    at_s: float
    order_id: str
    action: str
    url: str = field(compare=False)
    member: str = field(compare=False)
    note: str = field(compare=False, default="")


def action_url(link: str, action: str) -> str:
    """The link a message carried, with `/<action>` on its path (its query, the token, kept)."""
    u = urllib.parse.urlsplit(link)
    return urllib.parse.urlunsplit(u._replace(path=u.path.rstrip("/") + "/" + action))


def plan_order(order: dict[str, Any], link: str, habits: CrewHabits, rng: random.Random,
               members: tuple[str, ...], now_s: float) -> list[PlannedAction]:
    """The taps for one order; empty when the crew does not take it. Pure: a seeded rng in."""
    if rng.random() >= habits.take_share:
        return []
    # the crew aims at the limits as counted from when it was told (a deadline from the
    # incident's start may already be past: then it is late whatever it does); an order the
    # data sent back (issue 20) is worked again from now
    again = order.get("state") not in (None, "opened", "dispatched")
    start_s = now_s if again else int(order["opened_ms"]) / 1000
    kind = str(order["kind"])
    member = rng.choice(members) if members else "crew"
    oid = str(order["order_id"])

    def at(lo_hi: tuple[float, float], base: float = start_s) -> float:
        return base + rng.uniform(*lo_hi) * MINUTE_S

    t = max(now_s, start_s + rng.uniform(*habits.accept_min) * MINUTE_S)
    taps = [("accept", t)]
    if again:
        taps = []  # back with its owner (首问责任制): accepted already
        member = str(order.get("owner") or member)
    if kind == "opinion":
        taps.append(("resolve", max(t + MINUTE_S, at(habits.opinion_min))))
    else:
        if kind not in NO_CONTACT:
            t = max(t + MINUTE_S, at(habits.contact_min))
            taps.append(("contact", t))
        limit_min = habits.limits.leak_on_site_min if kind == "urgent" \
            else habits.limits.on_site_min
        if rng.random() < habits.slow_share:
            arrive = start_s + (limit_min + rng.uniform(*habits.late_by_min)) * MINUTE_S
        else:
            arrive = at(habits.urgent_on_site_min if kind == "urgent" else habits.on_site_min)
        t = max(t + 5 * MINUTE_S, arrive)
        taps.append(("arrive", t))
        taps.append(("resolve", at(habits.resolve_min, t)))
    note = RESOLVED_NOTE.get(kind, "已处理")
    return [PlannedAction(when, oid, a, action_url(link, a), member,
                          note if a == "resolve" else "") for a, when in taps]


def _post(url: str, member: str, note: str, timeout_s: float) -> tuple[int, dict[str, Any]]:
    body = urllib.parse.urlencode({"member": member, "note": note}).encode()
    req = urllib.request.Request(url, body, method="POST",
                                 headers={"Accept": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=timeout_s) as resp:
            return resp.status, dict(json.loads(resp.read() or b"{}"))
    except urllib.error.HTTPError as e:
        return e.code, dict(json.loads(e.read() or b"{}"))


def _get_json(url: str, timeout_s: float) -> dict[str, Any]:
    req = urllib.request.Request(url, headers={"Accept": "application/json"})
    with urllib.request.urlopen(req, timeout=timeout_s) as resp:
        return dict(json.loads(resp.read()))


@dataclass(slots=True)
class CrewLog:
    """What a crew did: taps by action, refusals by HTTP status, orders resolved."""

    taps: Counter[str] = field(default_factory=Counter)
    refused: Counter[int] = field(default_factory=Counter)
    ignored: int = 0
    resolved: list[tuple[str, float]] = field(default_factory=list)


class SimulatedCrew:
    """One crew's phones: its MQTT topic in, HTTP actions out, on the district clock."""

    def __init__(self, crew_id: str, members: tuple[str, ...], clock: Clock, seed: int,
                 host: str, port: int, topic_prefix: str = "heat/orders",
                 habits: CrewHabits | None = None, timeout_s: float = 10.0,
                 on_resolved: Callable[[str, float], None] | None = None) -> None:
        self.crew_id, self.members, self.clock = crew_id, members, clock
        self.habits = habits or CrewHabits()
        # named and seeded: the same crew in the same scenario plans the same taps
        self.rng = random.Random(f"{crew_id}:{seed}")
        self.host, self.port = host, port
        self.topic = f"{topic_prefix.rstrip('/')}/{crew_id}"
        self.timeout_s = timeout_s
        self.on_resolved = on_resolved
        self.log = CrewLog()
        self._plan: list[PlannedAction] = []
        self._seen: set[object] = set()
        self._inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._client: mqtt.Client | None = None
        # order ids whose new-order message reached the phone (written by paho's thread)
        self.received: set[str] = set()

    def listen(self, loop: asyncio.AbstractEventLoop, timeout_s: float = 10.0) -> None:
        """Subscribe to the crew's topic; returns once the broker confirmed it (blocking)."""
        c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"phone-{self.crew_id}",
                        protocol=mqtt.MQTTv311)
        subscribed = threading.Event()

        def on_connect(client: mqtt.Client, _u: Any, _f: Any, _rc: Any, _p: Any) -> None:
            client.subscribe(self.topic, qos=1)

        def on_subscribe(_c: mqtt.Client, _u: Any, _mid: Any, _rc: Any, _p: Any) -> None:
            subscribed.set()

        def on_message(_c: mqtt.Client, _u: Any, msg: mqtt.MQTTMessage) -> None:
            try:
                payload = json.loads(msg.payload)
            except ValueError:
                return
            if isinstance(payload, dict):
                if payload.get("kind") == "order_new":
                    self.received.add(str(payload.get("order_id", "")))
                loop.call_soon_threadsafe(self._inbox.put_nowait, payload)

        c.on_connect = on_connect
        c.on_subscribe = on_subscribe
        c.on_message = on_message
        c.connect(self.host, self.port, keepalive=30)
        c.loop_start()
        self._client = c
        if not subscribed.wait(timeout_s):
            raise RuntimeError(f"crew {self.crew_id}: no subscription to {self.topic}")

    async def _read_orders(self) -> None:
        while not self._inbox.empty():
            msg = self._inbox.get_nowait()
            oid, links = str(msg.get("order_id", "")), msg.get("links")
            # a new order once, and again each time the data sends it back (issue 20:
            # refuted or reopened); escalations and return-visit reminders are for the record
            again = msg.get("kind") == "order_reopened" and (oid, msg.get("step")) not in \
                self._seen
            if not (again or (msg.get("kind") == "order_new" and oid not in self._seen)) \
                    or not isinstance(links, dict) or not links:
                continue
            # each member has their own link; any of them opens the order to read it
            link = str(next(iter(links.values())))
            self._seen.add((oid, msg.get("step")) if again else oid)
            if again:  # the taps planned for the earlier round are void
                self._plan = [p for p in self._plan if p.order_id != oid]
                heapq.heapify(self._plan)
            try:
                # a phone's request takes no district time (the wall time is the machine's)
                with self.clock.held():
                    order = await asyncio.to_thread(_get_json, link, self.timeout_s)
            except (OSError, ValueError) as e:
                log.warning("crew %s: cannot open %s: %s", self.crew_id, oid, e)
                continue
            taps = [dataclasses.replace(p, url=action_url(str(links.get(p.member, link)),
                                                          p.action))
                    for p in plan_order(order, link, self.habits, self.rng, self.members,
                                        self.clock.now())]
            if not taps:
                self.log.ignored += 1
            for p in taps:
                heapq.heappush(self._plan, p)

    async def _tap(self, p: PlannedAction) -> None:
        try:
            with self.clock.held():
                status, doc = await asyncio.to_thread(_post, p.url, p.member, p.note,
                                                     self.timeout_s)
        except (OSError, ValueError) as e:
            log.warning("crew %s: %s %s failed: %s", self.crew_id, p.action, p.order_id, e)
            self.log.refused[0] += 1
            return
        if status != 200:
            # cancelled meanwhile, or already done from the CLI: the phone shows why
            self.log.refused[status] += 1
            return
        self.log.taps[p.action] += 1
        if doc.get("state") == "resolved":
            self.log.resolved.append((p.order_id, self.clock.now()))
            if self.on_resolved is not None:
                self.on_resolved(p.order_id, self.clock.now())

    async def run(self, until_s: float, tick_s: float = 60.0) -> CrewLog:
        """Act until district time until_s (after `listen`); later taps are not made."""
        try:
            while (now := self.clock.now()) < until_s:
                await self._read_orders()
                while self._plan and self._plan[0].at_s <= now:
                    await self._tap(heapq.heappop(self._plan))
                nxt = min(self._plan[0].at_s if self._plan else until_s, now + tick_s, until_s)
                await self.clock.sleep_until(nxt)
        finally:
            if self._client is not None:
                self._client.disconnect()
                self._client.loop_stop()
        return self.log


class CustomerService:
    """客服: calls the resident back some hours after a repair is done (the return visit,
    due 48 h after it), then closes the order; `act` is what `heatwatch orders` calls, and
    `awaiting` what `heatwatch orders` lists as resolved (a crew's resolution the data has
    not confirmed yet is 待确认, not resolved: no visit for it)."""

    def __init__(self, act: Callable[[str, str, str], bool], clock: Clock, seed: int,
                 visit_after_h: tuple[float, float] = (2.0, 20.0), agent: str = "客服",
                 awaiting: Callable[[], list[tuple[str, float]]] | None = None) -> None:
        self.act, self.clock = act, clock
        # (order id, district second the fix was confirmed) of the orders that are resolved
        self.awaiting = awaiting
        self._known: set[str] = set()
        self.rng = random.Random(f"customer-service:{seed}")
        self.visit_after_h = visit_after_h
        self.agent = agent
        self.done: Counter[str] = Counter()
        self._plan: list[tuple[float, str, str]] = []

    def resolved(self, order_id: str, at_s: float) -> None:
        """An order's repair is done (issue 20: confirmed by the data, not just tapped):
        schedule the visit and the closing, once per order."""
        if order_id in self._known:
            return
        self._known.add(order_id)
        visit = at_s + self.rng.uniform(*self.visit_after_h) * HOUR_S
        heapq.heappush(self._plan, (visit, order_id, "visit"))
        heapq.heappush(self._plan, (visit + self.rng.uniform(5, 30) * MINUTE_S, order_id,
                                    "close"))

    async def _read_orders(self) -> None:
        """The orders list: those resolved (the data confirmed the fix) wait for a visit."""
        if self.awaiting is None:
            return
        for oid, fixed_s in sorted(await asyncio.to_thread(self.awaiting)):
            self.resolved(oid, fixed_s)

    async def run(self, until_s: float, tick_s: float = 300.0) -> Counter[str]:
        while (now := self.clock.now()) < until_s:
            await self._read_orders()
            while self._plan and self._plan[0][0] <= now:
                _, oid, action = heapq.heappop(self._plan)
                # False: refused (cancelled or closed meanwhile); counted, the others go on
                ok = await asyncio.to_thread(self.act, oid, action, self.agent)
                self.done[action if ok else "refused"] += 1
            nxt = min(self._plan[0][0] if self._plan else until_s, now + tick_s, until_s)
            await self.clock.sleep_until(nxt)
        return self.done
