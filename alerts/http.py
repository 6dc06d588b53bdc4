"""Crews act from their phones: a Starlette app behind the per-member links in their messages.

Routes: GET /o/{order_id}/{token} (the page a link opens, alerts/crew_page.py), POST
/o/{order_id}/{token}/{action}, GET on an action's path (resolving's confirmation), GET /health.
A browser (Accept: text/html) gets Chinese pages, refusals too; API clients get JSON, with the
same status codes. The token (alerts/links.py) names the member; there is no other credential and
no member field to fill in. A link that is not valid for the order, for whatever reason,
answers exactly like an order that does not exist, so order ids cannot be enumerated.
"""

from __future__ import annotations

import asyncio
import json
import threading
import urllib.parse
from collections.abc import Callable, Mapping
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import ClientDisconnect, Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from alerts.actions import CrewActions
from alerts.crew_page import CSP, CrewPage, base_path, error_page, valid_actions
from alerts.crew_words import NOT_FOUND_TEXT, action_label, error_title
from alerts.http_guard import FailedLookups, HeaderDeadline, OncePerMinute, SecurityHeaders
from alerts.lifecycle import CREW_ACTIONS, FINAL, OrderError
from alerts.links import LinkError, LinkGrant
from alerts.staff_text import NoteRefused
from workflow.db import StoreBusy
from workflow.orders import Order

PHONE_SHOWN = "phone_shown"  # the audit action of each reveal of a resident's phone
NOT_FOUND = {"error": "no such order, or this link is not valid for it"}
REFUSED_TEXT = {400: "提交的内容无法识别，请返回工单重新操作。",
                413: "提交的内容过大，请精简处理说明后重新提交。"}
# every page: its own style only (crew_page.CSP), never framed
HTML_HEADERS = {"Content-Security-Policy": CSP, "X-Content-Type-Options": "nosniff"}
# pages that may hold a phone number: not cached, not sent on as a referrer
PRIVATE = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}
PhoneOf = Callable[[str], str]
RETRY_AFTER_S = 5


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


def wants_html(request: Request) -> bool:
    """A browser (its Accept names HTML) gets pages; API clients get JSON."""
    return "text/html" in request.headers.get("accept", "")


class CrewEndpoint:
    """The handlers, over the crew actions; `phone_of(account_id)` for the owner's page."""

    def __init__(self, actions: CrewActions, phone_of: PhoneOf, max_body_bytes: int) -> None:
        h = actions.messenger.cfg.http
        self.read_timeout_s = h.read_timeout_s
        self.failures = FailedLookups(h.max_failed_links)
        self.phone_logged = OncePerMinute()
        self.actions = actions
        self.phone_of = phone_of
        self.max_body_bytes = max_body_bytes
        self.signer = actions.messenger.signer
        self.routing = actions.messenger.routing
        self.view = CrewPage(actions)

    @staticmethod
    def refuse(request: Request, status: int, error: str, text: str, back: str = "",
               headers: Mapping[str, str] | None = None) -> Response:
        """A refusal: `error` as JSON to an API client, `text` on a Chinese page to a
        browser; the same status either way."""
        if wants_html(request):
            return HTMLResponse(error_page(status, error_title(status), text, back), status,
                                headers={**PRIVATE, **HTML_HEADERS, **(headers or {})})
        return JSONResponse({"error": error}, status, headers=headers)

    def not_found(self, request: Request) -> Response:
        return self.refuse(request, 404, NOT_FOUND["error"], NOT_FOUND_TEXT)

    def authorise(self, request: Request) -> tuple[Order, LinkGrant] | Response:
        """The order and the member a link names, or the one answer every refusal gets."""
        order_id, token = request.path_params["order_id"], request.path_params["token"]
        client = request.client.host if request.client else ""
        if self.failures.blocked(client):
            return self.refuse(request, 429, "too many links that do not open an order",
                               "尝试次数过多，请稍后再试。", headers={"Retry-After": "60"})
        try:
            grant = self.signer.check(order_id, token, self.actions.clock_ms() / 1000)
        except LinkError:
            self.failures.failed(client)
            return self.not_found(request)
        order = self.actions.db.orders.get(order_id)
        # a member taken off the crew since the link was sent loses it with the crew
        if (order is None or grant.member not in self.routing.crew(order.crew).people()
                or self.revoked(order, grant)):
            self.failures.failed(client)
            return self.not_found(request)
        return order, grant

    def revoked(self, order: Order, grant: LinkGrant) -> bool:
        """A closed or cancelled order's links; after a reassignment, the links sent before
        it, but the new owner's."""
        if order.state in FINAL:
            return True
        if grant.member == order.owner:
            return False
        issued_ms = (grant.expires_s - self.signer.ttl_s) * 1000
        return any(h["action"] == "reassign" and h["at_ms"] >= issued_ms
                   for h in self.actions.db.orders.history(order.order_id))

    def reveal(self, order: Order, member: str, viewed: bool = True) -> str:
        """The resident's phone for the owning member while the order is open; a page view
        (`viewed`: not a HEAD) goes to the order's audit log (who, when; never the number),
        once per member and order a minute."""
        if member != order.owner or order.state in FINAL or not order.account_id:
            return ""
        phone = self.phone_of(order.account_id)
        now_ms = self.actions.clock_ms()
        if phone and viewed and self.phone_logged.due(member, order.order_id, now_ms):
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
        return HTMLResponse(self.view.order_page(order, request.path_params["token"], member,
                                                 phone, message),
                            headers={**PRIVATE, **HTML_HEADERS})

    async def show(self, request: Request) -> Response:
        got = self.authorise(request)
        if isinstance(got, Response):
            return got
        order, grant = got
        phone = await run_in_threadpool(self.reveal, order, grant.member,
                                        request.method != "HEAD")
        return self.page(request, order, grant.member, phone)

    async def confirm(self, request: Request) -> Response:
        """GET on an action's path: resolving's confirmation page (a note, then the POST
        that resolves); any other action's path leads back to the order's page."""
        got = self.authorise(request)
        if isinstance(got, Response):
            return got
        order, grant = got
        action, base = request.path_params["action"], self.base(request)
        if action not in CREW_ACTIONS:
            return self.not_found(request)
        if not wants_html(request):
            return JSONResponse({"error": "Method Not Allowed"}, 405, headers={"Allow": "POST"})
        if action != "resolve":
            return RedirectResponse(base, 303)
        if action not in valid_actions(order, grant.member):
            return self.refuse(request, 409, f"cannot {action} order {order.order_id} now",
                               self.view.refusal(order, action, grant.member, "-"), base)
        return HTMLResponse(self.view.confirm_page(order, request.path_params["token"],
                                                   grant.member),
                            headers={**PRIVATE, **HTML_HEADERS})

    @staticmethod
    def base(request: Request) -> str:
        return base_path(request.path_params["order_id"], request.path_params["token"])

    async def checked_fields(self, request: Request, order: Order, action: str,
                             member: str) -> dict[str, str] | Response:
        """The body's fields, or the refusal of a request that may not act at all."""
        base = self.base(request)
        if action not in CREW_ACTIONS:
            return self.refuse(request, 404, f"unknown action {action!r} "
                                             f"(known: {', '.join(CREW_ACTIONS)})",
                               "没有这个操作。", base)
        try:
            async with asyncio.timeout(self.read_timeout_s):
                body = await read_body(request, self.max_body_bytes)
            fields = parse_fields(body, request.headers.get("content-type", ""))
        except TimeoutError:
            return self.refuse(request, 408, "the body did not arrive in time",
                               "提交超时，请重新提交。", base, {"Connection": "close"})
        except Refused as e:
            return self.refuse(request, e.status, str(e), REFUSED_TEXT.get(e.status, str(e)),
                               base, {"Connection": "close"} if e.status == 413 else None)
        if fields.get("member", member) != member:
            return self.refuse(request, 403, f"this link is {member}'s; it cannot act as "
                                             "anyone else",
                               f"此链接是 {member} 本人专用的，不能代他人操作。", base)
        if action != "accept" and order.owner and order.owner != member:
            return self.refuse(request, 403, f"order {order.order_id} is owned by "
                                             f"{order.owner}; {member} cannot {action} it",
                               self.view.refusal(order, action, member), base)
        return fields

    async def act(self, request: Request) -> Response:
        got = self.authorise(request)  # the token is in the path: checked before the body
        if isinstance(got, Response):
            return got
        order, grant = got
        action, member = request.path_params["action"], grant.member
        fields = await self.checked_fields(request, order, action, member)
        if isinstance(fields, Response):
            return fields
        note = fields.get("note", "")
        try:
            new = await run_in_threadpool(self.actions.act, order.order_id, action, member,
                                          note, None, order.crew)
        except NoteRefused as e:
            return self.refuse(request, 400, str(e), f"处理说明无法保存：{e}", self.base(request))
        except OrderError as e:
            # a stale form or a wrong tap: say why, by the order as it is now
            now = self.actions.db.orders.get(order.order_id) or order
            return self.refuse(request, 409, str(e),
                               self.view.refusal(now, action, member, note), self.base(request))
        if wants_html(request):
            phone = await run_in_threadpool(self.reveal, new, member)
            return self.page(request, new, member, phone,
                             f"已记录：{action_label(action, new.kind)}")
        return JSONResponse({"order_id": new.order_id, "state": new.state,
                             "owner": new.owner})

    async def health(self, request: Request) -> Response:
        reason = self.actions.db.health.reason
        if reason:
            return JSONResponse({"ok": False, "status": "degraded", "reason": reason})
        return JSONResponse({"ok": True, "status": "ok"})

    async def busy(self, request: Request, exc: Exception) -> Response:
        """The workflow store is locked by another process: try again shortly (never a 500)."""
        return self.refuse(request, 503, f"busy, try again: {exc}",
                           "系统繁忙，请稍后再试。", headers={"Retry-After": str(RETRY_AFTER_S)})

    async def http_error(self, request: Request, exc: Exception) -> Response:
        # unknown paths answer as unknown orders do; other HTTP errors keep their status
        if not isinstance(exc, HTTPException):
            return self.refuse(request, 500, "internal error", "服务器内部错误，请稍后再试。")
        if exc.status_code == 404:
            return self.not_found(request)
        return self.refuse(request, exc.status_code, exc.detail,
                           error_title(exc.status_code) + "。", headers=exc.headers)


def build_app(actions: CrewActions, phone_of: PhoneOf, max_body_bytes: int = 16384
              ) -> Starlette:
    """Routes: GET /o/{order_id}/{token}, POST and GET /o/{order_id}/{token}/{action},
    GET /health."""
    ep = CrewEndpoint(actions, phone_of, max_body_bytes)
    return Starlette(routes=[
        Route("/o/{order_id}/{token}", ep.show, methods=["GET"]),
        Route("/o/{order_id}/{token}/{action}", ep.act, methods=["POST"]),
        Route("/o/{order_id}/{token}/{action}", ep.confirm, methods=["GET"]),
        Route("/health", ep.health, methods=["GET"]),
    ], exception_handlers={HTTPException: ep.http_error, StoreBusy: ep.busy},
        middleware=[Middleware(SecurityHeaders)])


def serve_in_thread(actions: CrewActions, phone_of: PhoneOf, host: str | None = None,
                    port: int | None = None) -> uvicorn.Server:
    """Start uvicorn in a daemon thread; set `server.should_exit` to stop it."""
    h = actions.messenger.cfg.http
    protocol = type("HeaderDeadlineH11", (HeaderDeadline,),
                    {"header_timeout_s": h.read_timeout_s})
    config = uvicorn.Config(build_app(actions, phone_of, h.max_body_bytes),
                            host=host or h.host, port=h.port if port is None else port,
                            log_level="warning", access_log=False, http=protocol,
                            server_header=False, limit_concurrency=h.max_connections,
                            timeout_keep_alive=min(5, int(h.read_timeout_s) or 1),
                            h11_max_incomplete_event_size=16384)
    server = uvicorn.Server(config)
    threading.Thread(target=server.run, name="alerts-http", daemon=True).start()
    return server
