"""Crews act from their phones: a Starlette app behind the links in their messages."""

from __future__ import annotations

import html
import threading
import urllib.parse
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from alerts.actions import CrewActions
from alerts.orders import CREW_ACTIONS, STATE_TEXT, OrderError
from workflow.orders import Order

ACTION_TEXT = {"accept": "接单", "contact": "已联系用户", "arrive": "已到场", "resolve": "处理完毕"}


def _token(request: Request, form: dict[str, Any]) -> str:
    auth = request.headers.get("authorization", "")
    if auth.lower().startswith("bearer "):
        return auth[7:].strip()
    return str(form.get("t") or request.query_params.get("t") or "")


def _page(actions: CrewActions, order: Order, token: str, message: str = "") -> str:
    e = html.escape
    rows = "".join(
        f"<li>{e(actions.messenger.t(h['at_ms']))} {e(h['actor'])}: {e(h['action'])} "
        f"{e(STATE_TEXT.get(h['to_state'], h['to_state']))} {e(h['note'])}</li>"
        for h in actions.db.orders.history(order.order_id))
    forms = "".join(
        f'<form method="post" action="/o/{e(order.order_id)}/{a}">'
        f'<input type="hidden" name="t" value="{e(token)}">'
        f'<input name="member" placeholder="姓名" value="{e(order.owner)}">'
        + ('<input name="note" placeholder="处理说明">' if a == "resolve" else "")
        + f'<button>{ACTION_TEXT[a]}</button></form>' for a in CREW_ACTIONS)
    return (f"<!doctype html><meta charset=utf-8><meta name=viewport "
            f"content='width=device-width'><title>{e(order.order_id)}</title>"
            f"<h1>{e(order.order_id)} {e(STATE_TEXT.get(order.state, order.state))}</h1>"
            f"<p>{e(message)}</p><p>{e(order.address)}</p><p>{e(order.summary)}</p>"
            f"<p>负责人：{e(order.owner or '未接单')}</p>{forms}<ol>{rows}</ol>")


def build_app(actions: CrewActions) -> Starlette:
    """Routes: GET /o/{id} (the page a link opens), POST /o/{id}/{action}, GET /health."""

    def authorise(request: Request, order_id: str, form: dict[str, Any]) -> Order | Response:
        order = actions.db.orders.get(order_id)
        if order is None:
            return JSONResponse({"error": f"no order {order_id!r}"}, 404)
        crew = actions.messenger.routing.crew_by_token(_token(request, form))
        if crew is None or crew.crew_id != order.crew:
            return JSONResponse({"error": "wrong or missing crew token for this order"}, 403)
        return order

    async def show(request: Request) -> Response:
        order_id = request.path_params["order_id"]
        got = authorise(request, order_id, {})
        if isinstance(got, Response):
            return got
        if "application/json" in request.headers.get("accept", ""):
            return JSONResponse({**got.as_dict(), "history": actions.db.orders.history(order_id)})
        return HTMLResponse(_page(actions, got, _token(request, {})))

    async def act(request: Request) -> Response:
        order_id, action = request.path_params["order_id"], request.path_params["action"]
        if request.headers.get("content-type", "").startswith("application/json"):
            body = await request.json()
            form: dict[str, Any] = body if isinstance(body, dict) else {}
        else:
            # urlencoded forms parsed here: starlette's form parser needs python-multipart
            form = dict(urllib.parse.parse_qsl((await request.body()).decode("utf-8")))
        got = authorise(request, order_id, form)
        if isinstance(got, Response):
            return got
        if action not in CREW_ACTIONS:
            return JSONResponse({"error": f"unknown action {action!r} "
                                          f"(known: {', '.join(CREW_ACTIONS)})"}, 404)
        member = str(form.get("member") or got.owner or "")
        try:
            order = await run_in_threadpool(actions.act, order_id, action, member,
                                            str(form.get("note") or ""), None, got.crew)
        except OrderError as e:
            return JSONResponse({"error": str(e)}, 409)
        if "text/html" in request.headers.get("accept", ""):
            return HTMLResponse(_page(actions, order, _token(request, form), "已记录"))
        return JSONResponse({"order_id": order.order_id, "state": order.state,
                             "owner": order.owner})

    async def health(request: Request) -> Response:
        return JSONResponse({"ok": True})

    return Starlette(routes=[
        Route("/o/{order_id}", show, methods=["GET"]),
        Route("/o/{order_id}/{action}", act, methods=["POST"]),
        Route("/health", health, methods=["GET"]),
    ])


def serve_in_thread(actions: CrewActions, host: str | None = None,
                    port: int | None = None) -> uvicorn.Server:
    """Start uvicorn in a daemon thread; set `server.should_exit` to stop it."""
    config = uvicorn.Config(build_app(actions), host=host or actions.messenger.cfg.http.host,
                            port=actions.messenger.cfg.http.port if port is None else port,
                            log_level="warning", access_log=False)
    server = uvicorn.Server(config)
    threading.Thread(target=server.run, name="alerts-http", daemon=True).start()
    return server
