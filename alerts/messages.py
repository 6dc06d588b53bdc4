"""What crews and supervisors read: times, links and rendered messages into the outbox."""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

from alerts.config import AlertsConfig
from alerts.routing import Routing
from alerts.templates import Templates
from workflow.orders import Order
from workflow.outbox import Message, Outbox


class Messenger:
    """Renders messages from the templates and enqueues them in the caller's unit of work."""

    def __init__(self, cfg: AlertsConfig, routing: Routing, templates: Templates,
                 tz: str) -> None:
        self.cfg = cfg
        self.routing = routing
        self.templates = templates
        self.tz = ZoneInfo(tz)

    def t(self, ms: int | None) -> str:
        """A time as crews read it (local month-day hour:minute)."""
        if ms is None:
            return "-"
        return dt.datetime.fromtimestamp(ms / 1000, self.tz).strftime("%m-%d %H:%M")

    def link(self, order: Order) -> str:
        h = self.cfg.http
        base = (h.base_url or f"http://{h.host}:{h.port}").rstrip("/")
        token = self.routing.crew(order.crew).token
        return f"{base}/o/{order.order_id}" + (f"?t={token}" if token else "")

    def fields(self, order: Order) -> dict[str, Any]:
        return {"order_id": order.order_id, "kind_text": self.templates.kind_text(order.kind),
                "address": order.address, "what": order.summary, "crew": order.crew,
                "owner": order.owner or "未接单", "link": self.link(order),
                "started": self.t(order.started_ms)}

    def to_crew(self, outbox: Outbox, order: Order, msg_kind: str, step: str, now_ms: int,
                extra: dict[str, Any]) -> None:
        """One message per channel of the order's crew."""
        crew = self.routing.crew(order.crew)
        title, body = self.templates.render(msg_kind, {**self.fields(order), **extra})
        for ch in crew.channels:
            # issue 5: dedup key = order id + message kind + step (+ channel)
            outbox.enqueue(Message(
                f"{order.order_id}:{msg_kind}:{step}:{ch}", ch, title, body, crew.crew_id,
                {"order_id": order.order_id, "crew": crew.crew_id, "kind": msg_kind,
                 "step": step, "link": self.link(order)}), now_ms)

    def to_supervisors(self, outbox: Outbox, order: Order, msg_kind: str, step: str,
                       now_ms: int, extra: dict[str, Any]) -> None:
        """One message per supervisor channel."""
        title, body = self.templates.render(msg_kind, {**self.fields(order), **extra})
        for ch in self.cfg.supervisor_channels:
            outbox.enqueue(Message(
                f"{order.order_id}:{msg_kind}:{step}:{ch}", ch, title, body, "supervisor",
                {"order_id": order.order_id, "crew": "supervisor", "kind": msg_kind,
                 "step": step}), now_ms)
