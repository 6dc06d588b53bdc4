"""What crews and supervisors read: times, links and rendered messages into the outbox."""

from __future__ import annotations

import datetime as dt
import urllib.parse
from typing import Any
from zoneinfo import ZoneInfo

from alerts.config import AlertsConfig
from alerts.links import LinkSigner
from alerts.routing import Routing
from alerts.templates import Templates
from workflow.orders import Order
from workflow.outbox import Message, Outbox


class Messenger:
    """Renders messages from the templates and enqueues them in the caller's unit of work."""

    def __init__(self, cfg: AlertsConfig, routing: Routing, templates: Templates,
                 tz: str, signer: LinkSigner) -> None:
        self.cfg = cfg
        self.routing = routing
        self.templates = templates
        self.tz = ZoneInfo(tz)
        self.signer = signer

    def t(self, ms: int | None) -> str:
        """A time as crews read it (local month-day hour:minute)."""
        if ms is None:
            return "-"
        return dt.datetime.fromtimestamp(ms / 1000, self.tz).strftime("%m-%d %H:%M")

    def links(self, order: Order, now_ms: int) -> dict[str, str]:
        """Each crew member's own link to the order: signed with their name, expiring."""
        h = self.cfg.http
        base = (h.base_url or f"http://{h.host}:{h.port}").rstrip("/")
        path = f"{base}/o/{urllib.parse.quote(order.order_id, safe='')}"
        return {m: f"{path}/{self.signer.token(order.order_id, m, now_ms / 1000)}"
                for m in self.routing.crew(order.crew).people()}

    @staticmethod
    def links_text(links: dict[str, str]) -> str:
        """The links as lines of a message, one per member (never forwarded: each names one)."""
        if not links:
            return "班组未登记成员，请由调度台处理"
        return "\n".join(f"{m}（本人专用）：{url}" for m, url in links.items())

    def fields(self, order: Order) -> dict[str, Any]:
        # supervisors act from the console; crew messages get each member's link instead
        return {"order_id": order.order_id, "kind_text": self.templates.kind_text(order.kind),
                "address": order.address, "what": order.summary, "crew": order.crew,
                "owner": order.owner or "未接单",
                "link": f"调度台 heatwatch orders show {order.order_id}",
                "started": self.t(order.started_ms)}

    def to_crew(self, outbox: Outbox, order: Order, msg_kind: str, step: str, now_ms: int,
                extra: dict[str, Any]) -> None:
        """One message per channel of the order's crew, carrying each member's own link."""
        crew = self.routing.crew(order.crew)
        links = self.links(order, now_ms)
        title, body = self.templates.render(
            msg_kind, {**self.fields(order), "link": self.links_text(links), **extra})
        for ch in crew.channels:
            # issue 5: dedup key = order id + message kind + step (+ channel)
            outbox.enqueue(Message(
                f"{order.order_id}:{msg_kind}:{step}:{ch}", ch, title, body, crew.crew_id,
                {"order_id": order.order_id, "crew": crew.crew_id, "kind": msg_kind,
                 "step": step, "links": links}), now_ms)

    def to_supervisors(self, outbox: Outbox, order: Order, msg_kind: str, step: str,
                       now_ms: int, extra: dict[str, Any]) -> None:
        """One message per supervisor channel."""
        title, body = self.templates.render(msg_kind, {**self.fields(order), **extra})
        for ch in self.cfg.supervisor_channels:
            outbox.enqueue(Message(
                f"{order.order_id}:{msg_kind}:{step}:{ch}", ch, title, body, "supervisor",
                {"order_id": order.order_id, "crew": "supervisor", "kind": msg_kind,
                 "step": step}), now_ms)
