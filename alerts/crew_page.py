"""The crew's page, made for a phone in a stairwell: what a link opens (alerts/http.py routes).

Chinese throughout, no JavaScript and no external assets: the CSS sits in one <style> whose
hash is the page's Content-Security-Policy (`CSP`), so no other style or script can run.
It shows only the actions the state machine allows this member now, the next step with its
deadline and the time left, the address and the fault in words (never an internal key), the
resident's phone as a tel: link for the owner only, and the history in words. Resolving goes
through a confirmation page with the note; a refusal is a page of its own.
"""

from __future__ import annotations

import base64
import hashlib
import urllib.parse
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import jinja2
from markupsafe import Markup

from alerts.actions import CrewActions, machine
from alerts.crew_words import (
    VERB_TEXT,
    action_label,
    actor_text,
    left_text,
    refusal_text,
    system_note,
    verb_text,
)
from alerts.handlers import describe
from alerts.lifecycle import ACTIONS, CREW_ACTIONS, FINAL, OrderError, apply, state_text
from alerts.residents import SYSTEM
from alerts.sla import STEP_NOTICE
from workflow.orders import Order

TEMPLATES = Path(__file__).parent / "templates"
CSS = (TEMPLATES / "crew.css").read_text(encoding="utf-8")
_STYLE_HASH = base64.b64encode(hashlib.sha256(CSS.encode()).digest()).decode()
# strict: nothing but this page's own style; forms post back to the endpoint
CSP = (f"default-src 'none'; style-src 'sha256-{_STYLE_HASH}'; form-action 'self'; "
       "base-uri 'none'; frame-ancestors 'none'")


@lru_cache(maxsize=1)
def environment() -> jinja2.Environment:
    """The crew_*.html templates, autoescaped, strict about unknown names."""
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES),
                             autoescape=jinja2.select_autoescape(["html"]),
                             undefined=jinja2.StrictUndefined, trim_blocks=True,
                             lstrip_blocks=True)
    env.globals["css"] = Markup(CSS)
    return env


def base_path(order_id: str, token: str) -> str:
    """The page's own path: /o/<order_id>/<token>."""
    return f"/o/{urllib.parse.quote(order_id, safe='')}/{token}"


def valid_actions(order: Order, member: str) -> list[str]:
    """The crew actions the state machine allows this member on the order as it is now."""
    out = []
    for action in CREW_ACTIONS:
        try:
            apply(machine(order), action, member, "说明")
        except OrderError:
            continue
        out.append(action)
    return out


@dataclass(frozen=True, slots=True)
class Step:
    """One timed step: its words, its due time and what is left (or how late it is)."""

    text: str
    due: str
    left: str
    late: bool
    done: str = ""


class CrewPage:
    """Gathers what a page shows for one member and renders it."""

    def __init__(self, actions: CrewActions) -> None:
        self.actions = actions
        self.m = actions.messenger

    def fault(self, order: Order) -> tuple[str, str]:
        """The fault in words (from the incident, with the configured causes) and what the
        data says of it now."""
        inc = self.actions.db.incidents.get(order.incident_key)
        if inc is None:
            return order.summary, ""
        what = describe(inc, self.m.templates.causes)
        if inc.closed_ms is not None:
            return what, f"数据显示故障已于 {self.m.t(inc.closed_ms)} 消除"
        return what, f"数据显示故障仍在（自 {self.m.t(inc.started_ms)} 起）"

    def steps(self, order: Order, now_ms: int) -> list[Step]:
        """The order's timed steps, earliest due first (the residents' notice is not a
        crew step)."""
        rows = sorted((r for r in self.actions.db.deadlines.find(order.order_id)
                       if r.deadline.step != STEP_NOTICE), key=lambda r: r.deadline.due_ms)
        out = []
        for r in rows:
            d = r.deadline
            text = self.m.templates.step_text(d.step, order.kind)
            if r.done_ms is not None:
                late = r.done_ms > d.due_ms
                out.append(Step(text, self.m.t(d.due_ms), "超时完成" if late else "按时完成",
                                late, self.m.t(r.done_ms)))
            else:
                out.append(Step(text, self.m.t(d.due_ms), left_text(d.due_ms, now_ms),
                                now_ms > d.due_ms))
        return out

    def history(self, order: Order) -> list[dict[str, str]]:
        crew = self.m.routing.crew(order.crew)
        out = []
        for h in self.actions.db.orders.history(order.order_id):
            note = h["note"]
            if h["actor"] == SYSTEM:
                note = system_note(h["action"], note, crew.name or f"班组 {crew.crew_id}",
                                   order.kind, self.m.templates)
            out.append({"at": self.m.t(h["at_ms"]), "actor": actor_text(h["actor"]),
                        "verb": verb_text(h["action"], order.kind, self.m.templates),
                        # a state change the verb does not already say
                        "state": (state_text(h["to_state"], order.kind)
                                  if h["to_state"] != h["from_state"]
                                  and h["action"] not in ACTIONS
                                  and h["action"] not in VERB_TEXT else ""),
                        "note": note})
        return out

    def common(self, order: Order, token: str, member: str) -> dict[str, Any]:
        what, data_says = self.fault(order)
        return {"order_id": order.order_id, "kind_text": self.m.templates.kind_text(order.kind),
                "state": state_text(order.state, order.kind), "final": order.state in FINAL,
                "address": order.address, "what": what, "data_says": data_says,
                "member": member, "owner": order.owner, "base": base_path(order.order_id, token)}

    def next_step(self, order: Order, member: str, actions: list[str]) -> str:
        if actions:  # the step in words (联系用户), not its button (已联系用户)
            first = actions[0]
            if first == "accept":
                return action_label(first, order.kind)
            return self.m.templates.step_text(ACTIONS[first], order.kind)
        if order.state in FINAL:
            return f"工单{state_text(order.state, order.kind)}"
        if order.owner and order.owner != member:
            return f"由 {order.owner} 处理"
        return "等待调度或客服处理"

    def order_page(self, order: Order, token: str, member: str, phone: str,
                   message: str = "") -> str:
        now_ms = self.actions.clock_ms()
        actions = valid_actions(order, member)
        steps = self.steps(order, now_ms)
        pending = [s for s in steps if not s.done]
        return environment().get_template("crew_order.html").render(
            **self.common(order, token, member), message=message, phone=phone,
            buttons=[(a, action_label(a, order.kind)) for a in actions],
            next_text=self.next_step(order, member, actions),
            due=pending[0] if pending else None, steps=steps, history=self.history(order))

    def confirm_page(self, order: Order, token: str, member: str) -> str:
        """The step before resolving: what was done, then the one button that resolves."""
        return environment().get_template("crew_confirm.html").render(
            **self.common(order, token, member), note_required=order.kind != "opinion")

    def refusal(self, order: Order, action: str, member: str, note: str = "") -> str:
        """Why the order, as it is now, refuses this action (a stale form, a wrong tap)."""
        ok = valid_actions(order, member)
        return refusal_text(order.state, order.owner, order.kind, action, member, note,
                            ok[0] if ok else "")


def error_page(status: int, title: str, text: str, back: str = "") -> str:
    """A refusal as a page a browser shows; `back` links to the order page when known."""
    return environment().get_template("crew_error.html").render(
        status=status, title=title, text=text, back=back)
