"""Crews act from their phones: a Starlette app behind the per-member links in their messages.

Routes: GET /o/{order_id}/{token} (the page a link opens), POST /o/{order_id}/{token}/{action},
GET /health. The token (alerts/links.py) names the member; there is no other credential and
no member field to fill in. A link that is not valid for the order, for whatever reason,
answers exactly like an order that does not exist, so order ids cannot be enumerated.
"""

from __future__ import annotations

import html
import json
import threading
import urllib.parse
from collections.abc import Callable
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from alerts.actions import CrewActions
from alerts.lifecycle import CREW_ACTIONS, FINAL, OrderError, state_text
from alerts.links import LinkError, LinkGrant
from workflow.orders import Order

ACTION_TEXT = {"accept": "接单", "contact": "已联系用户", "arrive": "已到场", "resolve": "处理完毕"}
PHONE_SHOWN = "phone_shown"  # the audit action of each reveal of a resident's phone
NOT_FOUND = {"error": "no such order, or this link is not valid for it"}
# pages that may hold a phone number: not cached, not sent on as a referrer
PRIVATE = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}
PhoneOf = Callable[[str], str]


class Refused(Exception):
    """A request answered with this status and message, before any work is done."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


async def read_body(request: Request, max_bytes: int) -> bytes:
    """The body, refused with 413 as soon as it is known to exceed the cap (by its
    Content-Length before reading, or while streaming one without)."""
    length = request.headers.get("content-length")
    if length is not None:
        if not length.isdigit():
            raise Refused(400, "bad Content-Length")
        if int(length) > max_bytes:
            raise Refused(413, f"body over {max_bytes} bytes")
    chunks: list[bytes] = []
    total = 0
    try:
        async for chunk in request.stream():
            total += len(chunk)
            if total > max_bytes:
                raise Refused(413, f"body over {max_bytes} bytes")
            chunks.append(chunk)
    except ClientDisconnect:
        raise Refused(400, "the client went away before the body ended") from None
    return b"".join(chunks)


def parse_fields(body: bytes, content_type: str) -> dict[str, str]:
    """`member` and `note` from a urlencoded or JSON body; anything malformed is a 400."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise Refused(400, "the body is not UTF-8") from None
    data: Any
    if content_type.split(";")[0].strip().lower() == "application/json":
        try:
            data = json.loads(text) if text.strip() else {}
        except (ValueError, RecursionError):
            raise Refused(400, "the body is not valid JSON") from None
        if not isinstance(data, dict):
            raise Refused(400, "a JSON body must be an object")
    else:
        try:
            data = dict(urllib.parse.parse_qsl(text, keep_blank_values=True,
                                               max_num_fields=16))
        except ValueError:
            raise Refused(400, "the body is not a form") from None
    out: dict[str, str] = {}
    for key in ("member", "note"):
        value = data.get(key)
        if value is None:
            continue
        if not isinstance(value, str):
            raise Refused(400, f"{key} must be a string, not {type(value).__name__}")
        out[key] = value
    return out


def _page(actions: CrewActions, order: Order, token: str, member: str, phone: str,
          message: str = "") -> str:
    e = html.escape
    t = actions.messenger.t
    rows = "".join(
        f"<li>{e(t(h['at_ms']))} {e(h['actor'])}: {e(h['action'])} "
        f"{e(state_text(h['to_state'], order.kind))} {e(h['note'])}</li>"
        for h in actions.db.orders.history(order.order_id))
    base = f"/o/{urllib.parse.quote(order.order_id, safe='')}/{token}"
    forms = "".join(
        f'<form method="post" action="{e(base)}/{a}">'
        + ('<input name="note" placeholder="处理说明" required>' if a == "resolve" else "")
        + f'<button>{ACTION_TEXT[a]}</button></form>' for a in CREW_ACTIONS)
    contact = (f'<p>用户电话：<a href="tel:{e(phone)}">{e(phone)}</a></p>' if phone else "")
    return (f"<!doctype html><meta charset=utf-8><meta name=viewport "
            f"content='width=device-width'><meta name=referrer content=no-referrer>"
            f"<title>{e(order.order_id)}</title>"
            f"<h1>{e(order.order_id)} {e(state_text(order.state, order.kind))}</h1>"
            f"<p>{e(message)}</p><p>{e(order.address)}</p><p>{e(order.summary)}</p>"
            f"<p>负责人：{e(order.owner or '未接单')}</p><p>本人：{e(member)}</p>"
            f"{contact}{forms}<ol>{rows}</ol>")


class CrewEndpoint:
    """The handlers, over the crew actions; `phone_of(account_id)` for the owner's page."""

    def __init__(self, actions: CrewActions, phone_of: PhoneOf, max_body_bytes: int) -> None:
        self.actions = actions
        self.phone_of = phone_of
        self.max_body_bytes = max_body_bytes
        self.signer = actions.messenger.signer
        self.routing = actions.messenger.routing

    @staticmethod
    def not_found() -> Response:
        return JSONResponse(NOT_FOUND, 404)

    def authorise(self, request: Request) -> tuple[Order, LinkGrant] | Response:
        """The order and the member a link names, or the one answer every refusal gets."""
        order_id, token = request.path_params["order_id"], request.path_params["token"]
        try:
            grant = self.signer.check(order_id, token, self.actions.clock_ms() / 1000)
        except LinkError:
            return self.not_found()
        order = self.actions.db.orders.get(order_id)
        # a member taken off the crew since the link was sent loses it with the crew
        if order is None or grant.member not in self.routing.crew(order.crew).people():
            return self.not_found()
        return order, grant

    def reveal(self, order: Order, member: str) -> str:
        """The resident's phone for the owning member while the order is open; each reveal
        goes to the order's audit log (who, when; never the number)."""
        if member != order.owner or order.state in FINAL or not order.account_id:
            return ""
        phone = self.phone_of(order.account_id)
        if phone:
            with self.actions.db.unit() as u:
                u.orders.audit(order.order_id, self.actions.clock_ms(), member, PHONE_SHOWN,
                               order.state, order.state, "")
        return phone

    def page(self, request: Request, order: Order, member: str, phone: str,
             message: str = "") -> Response:
        if "application/json" in request.headers.get("accept", ""):
            doc = {**order.as_dict(), "member": member,
                   "history": self.actions.db.orders.history(order.order_id)}
            if phone:
                doc["phone"] = phone
            return JSONResponse(doc, headers=PRIVATE)
        return HTMLResponse(_page(self.actions, order, request.path_params["token"], member,
                                  phone, message), headers=PRIVATE)

    async def show(self, request: Request) -> Response:
        got = self.authorise(request)
        if isinstance(got, Response):
            return got
        order, grant = got
        phone = await run_in_threadpool(self.reveal, order, grant.member)
        return self.page(request, order, grant.member, phone)

    async def act(self, request: Request) -> Response:
        got = self.authorise(request)  # the token is in the path: checked before the body
        if isinstance(got, Response):
            return got
        order, grant = got
        action, member = request.path_params["action"], grant.member
        if action not in CREW_ACTIONS:
            return JSONResponse({"error": f"unknown action {action!r} "
                                          f"(known: {', '.join(CREW_ACTIONS)})"}, 404)
        try:
            fields = parse_fields(await read_body(request, self.max_body_bytes),
                                  request.headers.get("content-type", ""))
        except Refused as e:
            return JSONResponse({"error": str(e)}, e.status,
                                headers={"Connection": "close"} if e.status == 413 else None)
        if fields.get("member", member) != member:
            return JSONResponse({"error": f"this link is {member}'s; it cannot act as "
                                          "anyone else"}, 403)
        if action != "accept" and order.owner and order.owner != member:
            return JSONResponse({"error": f"order {order.order_id} is owned by {order.owner}; "
                                          f"{member} cannot {action} it"}, 403)
        try:
            new = await run_in_threadpool(self.actions.act, order.order_id, action, member,
                                          fields.get("note", ""), None, order.crew)
        except OrderError as e:
            return JSONResponse({"error": str(e)}, 409)
        if "text/html" in request.headers.get("accept", ""):
            phone = await run_in_threadpool(self.reveal, new, member)
            return self.page(request, new, member, phone, "已记录")
        return JSONResponse({"order_id": new.order_id, "state": new.state,
                             "owner": new.owner})

    async def health(self, request: Request) -> Response:
        return JSONResponse({"ok": True})

    async def http_error(self, request: Request, exc: Exception) -> Response:
        # unknown paths answer as unknown orders do; other HTTP errors keep their status
        if not isinstance(exc, HTTPException):
            return JSONResponse({"error": "internal error"}, 500)
        if exc.status_code == 404:
            return self.not_found()
        return JSONResponse({"error": exc.detail}, exc.status_code, headers=exc.headers)


def build_app(actions: CrewActions, phone_of: PhoneOf, max_body_bytes: int = 16384
              ) -> Starlette:
    """Routes: GET /o/{order_id}/{token}, POST /o/{order_id}/{token}/{action}, GET /health."""
    ep = CrewEndpoint(actions, phone_of, max_body_bytes)
    return Starlette(routes=[
        Route("/o/{order_id}/{token}", ep.show, methods=["GET"]),
        Route("/o/{order_id}/{token}/{action}", ep.act, methods=["POST"]),
        Route("/health", ep.health, methods=["GET"]),
    ], exception_handlers={HTTPException: ep.http_error})


def serve_in_thread(actions: CrewActions, phone_of: PhoneOf, host: str | None = None,
                    port: int | None = None) -> uvicorn.Server:
    """Start uvicorn in a daemon thread; set `server.should_exit` to stop it."""
    h = actions.messenger.cfg.http
    config = uvicorn.Config(build_app(actions, phone_of, h.max_body_bytes),
                            host=host or h.host, port=h.port if port is None else port,
                            log_level="warning", access_log=False)
    server = uvicorn.Server(config)
    threading.Thread(target=server.run, name="alerts-http", daemon=True).start()
    return server
