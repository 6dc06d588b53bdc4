"""The clerks' web desk (客服坐席): Starlette, server-rendered Jinja2, in Chinese, keyboard-first.

Every page but sign-in needs a session; every form carries the session's CSRF token (the
sign-in form a pre-session one, double-submitted in a cookie); every action and every view of a
resident's full phone number is in the audit log with the person's name.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hmac
import secrets
import time
from collections.abc import Awaitable, Callable

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from alerts.lifecycle import state_text
from desk.actions import Act, ActionRefused, act
from desk.auth import Signed, csrf_ok
from desk.base import DeskBase
from desk.config import DeskConfig
from desk.intake import DeskError, Intake
from desk.measure_page import MeasurePage, OutdoorMean, no_outdoor_mean
from desk.orders import RESTORE_UNKNOWN, cause_text
from desk.readings import latest_of
from desk.search import card, search
from desk.visits import VisitPages
from policy.causes import num
from workflow.incidents import Incident
from workflow.visits import STATE_TEXT as VISIT_STATES

COOKIE = "hw_desk"
PRE_COOKIE = "hw_desk_pre"
Handler = Callable[[Request, Signed], Awaitable[Response]]


class Desk(DeskBase):
    """The desk's pages over one intake (records, rules, workflow file)."""

    # -- sign-in -----------------------------------------------------------------------------
    async def signin_form(self, request: Request) -> Response:
        pre = secrets.token_urlsafe(24)
        expired = request.query_params.get("expired") == "1"
        resp = self.page("signin.html", me=None, pre=pre, error="",
                         notice="会话已过期，请重新登录" if expired else "")
        resp.set_cookie(PRE_COOKIE, pre, httponly=True, samesite="strict",
                        secure=self.cfg.cookie_secure)
        return resp

    async def signin(self, request: Request) -> Response:
        form = await request.form()
        name, password = str(form.get("name", "")).strip(), str(form.get("password", ""))
        address = request.client.host if request.client else "-"
        pre = request.cookies.get(PRE_COOKIE, "")
        if not pre or not hmac.compare_digest(pre, str(form.get("csrf", ""))):
            self.audit(name or "-", "sign_in", address, False, "missing or wrong CSRF token")
            return self.page("error.html", 403, me=None, message="表单已失效，请刷新登录页重试")
        delay = self.auth.delay_s(name, address)
        if delay:  # repeated failures slow down: the answer waits, whatever the password
            await asyncio.sleep(delay)
        signed = self.auth.sign_in(name, password, address, self.now_ms())
        if signed is None:
            return self.page("signin.html", 401, me=None, pre=pre, notice="",
                             error="工号或密码错误")
        resp = RedirectResponse("/", status_code=303)
        resp.set_cookie(COOKIE, signed.token, httponly=True, samesite="strict",
                        secure=self.cfg.cookie_secure, path="/")
        resp.delete_cookie(PRE_COOKIE)
        return resp

    def guarded(self, fn: Handler, post: bool = False) -> Callable[[Request], Awaitable[Response]]:
        """A page that needs a live session (and, for a form, its CSRF token)."""

        async def run(request: Request) -> Response:
            me, why = self.auth.session(request.cookies.get(COOKIE), self.now_ms())
            if me is None:
                if post:
                    self.audit("-", "post", request.url.path, False, f"no session ({why})")
                target = "/signin?expired=1" if why == "expired" else "/signin"
                return RedirectResponse(target, status_code=303)
            if post:
                form = await request.form()
                if not csrf_ok(me, str(form.get("csrf", "")) or None):
                    return self.refuse(me, "post", request.url.path, "缺少或错误的CSRF令牌")
            return await fn(request, me)

        return run

    async def signout(self, request: Request, me: Signed) -> Response:
        self.auth.sign_out(me.token, me.name, self.now_ms())
        resp = RedirectResponse("/signin", status_code=303)
        resp.delete_cookie(COOKIE, path="/")
        return resp

    # -- finding the household ---------------------------------------------------------------
    async def home(self, request: Request, me: Signed) -> Response:
        q = request.query_params.get("q", "").strip()
        hits = search(self.intake.records, q) if q else []
        if q:
            self.audit(me.name, "search", q, True, f"{len(hits)} hits")
        if len(hits) == 1:
            return RedirectResponse(f"/household/{hits[0].account_id}", status_code=303)
        mine = [c for c in self.db.calls.find() if c.owner == me.name]
        return self.page("home.html", me=me, q=q, hits=hits, mine=mine,
                         buildings=self.intake.records.buildings)

    def restore_text(self, inc: Incident | None) -> str:
        """The expected restoration as the clerk reads it: dispatch's estimate, if given."""
        est = None if inc is None else self.db.estimates.get(inc.key)
        return RESTORE_UNKNOWN if est is None else f"预计 {self.t(est.restore_ms)} 恢复供热"

    async def household(self, request: Request, me: Signed) -> Response:
        aid = request.path_params["account_id"]
        today = dt.datetime.fromtimestamp(self.now_ms() / 1000, self.tz).date()
        c = card(self.db, self.intake.records, aid, self.intake.season, today)
        if c is None:
            return self.page("error.html", 404, me=me, message=f"没有户号 {aid}")
        self.audit(me.name, "view_household", aid)
        now = dt.datetime.fromtimestamp(self.now_ms() / 1000, self.tz)
        return self.page("household.html", me=me, c=c, full_phone="",
                         now=now.strftime("%Y-%m-%dT%H:%M"),
                         latest=latest_of(self.intake.store, self.intake.records, aid,
                                          (self.now_ms(), self.tz)))

    async def phone(self, request: Request, me: Signed) -> Response:
        """The resident's full number, on request; audited with the person's name."""
        aid = request.path_params["account_id"]
        acc = self.intake.records.accounts.get(aid)
        if acc is None:
            return self.page("error.html", 404, me=me, message=f"没有户号 {aid}")
        self.audit(me.name, "view_phone", aid, True, "full phone number shown")
        today = dt.datetime.fromtimestamp(self.now_ms() / 1000, self.tz)
        c = card(self.db, self.intake.records, aid, self.intake.season, today.date())
        return self.page("household.html", me=me, c=c, full_phone=acc.phone or "（无）",
                         now=today.strftime("%Y-%m-%dT%H:%M"),
                         latest=latest_of(self.intake.store, self.intake.records, aid,
                                          (self.now_ms(), self.tz)))

    # -- calls -------------------------------------------------------------------------------
    async def take(self, request: Request, me: Signed) -> Response:
        form = await request.form()
        aid, kind = str(form.get("account_id", "")), str(form.get("kind", ""))
        try:
            at = dt.datetime.fromisoformat(str(form.get("received", "")))
            at = at if at.tzinfo else at.replace(tzinfo=self.tz)
            taken = self.intake.take(aid, kind, int(at.timestamp() * 1000), me.name,
                                     str(form.get("text", "")), str(form.get("reporter", "")))
        except (DeskError, ValueError) as e:
            return self.refuse(me, "take_call", aid, f"未受理：{e}", status=400)
        return RedirectResponse(f"/calls/{taken.call.call_id}", status_code=303)

    async def call_page(self, request: Request, me: Signed) -> Response:
        call = self.db.calls.get(request.path_params["call_id"])
        if call is None:
            return self.page("error.html", 404, me=me, message="没有这个来电记录")
        self.audit(me.name, "view_call", call.call_id)
        inc = self.db.incidents.get(call.incident_key) if call.incident_key else None
        order = self.db.orders.get(call.order_id) if call.order_id else None
        acc = self.intake.records.accounts[call.account_id]
        staff = [p.name for p in self.db.staff.find() if p.active]
        return self.page("call.html", me=me, call=call, acc=acc, order=order, staff=staff,
                         cause=cause_text(inc) if inc else "", restore=self.restore_text(inc),
                         visit_h=num(self.intake.crew_limits.return_visit_h),
                         order_state=state_text(order.state, order.kind) if order else "",
                         history=self.db.calls.history(call.call_id),
                         visits=self.db.visits.of_ref(call.call_id), visit_states=VISIT_STATES,
                         address=self.intake.records.buildings[acc.building_id].address)

    async def reporter(self, request: Request, me: Signed) -> Response:
        """seed 第十四条: only supervisors see who reported."""
        call = self.db.calls.get(request.path_params["call_id"])
        if call is None or call.kind != "report":
            return self.page("error.html", 404, me=me, message="没有这个举报记录")
        if me.role != "supervisor":
            return self.refuse(me, "view_reporter", call.call_id, "举报人信息仅主管可查看")
        self.audit(me.name, "view_reporter", call.call_id)
        return self.page("error.html", 200, me=me, message=f"举报人：{call.reporter or '（匿名）'}")

    async def act(self, request: Request, me: Signed) -> Response:
        form = await request.form()
        cid = request.path_params["call_id"]
        a = Act(cid, str(form.get("action", "")), me.name, self.now_ms(),
                str(form.get("result", "")), str(form.get("reply", "")),
                str(form.get("satisfaction", "")), str(form.get("to", "")), self.intake.tz)
        try:
            act(self.db, a, self.intake.crew_limits)  # audits both ways
        except ActionRefused as e:
            return self.page("error.html", 403, me=me, message=f"操作被拒绝：{e}")
        return RedirectResponse(f"/calls/{cid}", status_code=303)

    async def audit_page(self, request: Request, me: Signed) -> Response:
        if me.role != "supervisor":
            return self.refuse(me, "view_audit", "", "审计日志仅主管可查看")
        self.audit(me.name, "view_audit")
        return self.page("audit.html", me=me, rows=self.db.staff.audit_log(200))


def build_app(cfg: DeskConfig, intake: Intake, clock: Callable[[], float] = time.time,
              outdoor_mean: OutdoorMean = no_outdoor_mean) -> Starlette:
    d = Desk(cfg, intake, clock)
    g = d.guarded
    m = intake.messenger
    signer = m.signer if m is not None else None
    v = VisitPages(d, signer)
    mp = MeasurePage(d, signer, m.cfg.http.max_failed_links if m else 30, outdoor_mean)
    return Starlette(routes=[
        Route("/signin", d.signin_form, methods=["GET"]),
        Route("/signin", d.signin, methods=["POST"]),
        Route("/signout", g(d.signout, post=True), methods=["POST"]),
        Route("/", g(d.home), methods=["GET"]),
        Route("/household/{account_id}", g(d.household), methods=["GET"]),
        Route("/household/{account_id}/phone", g(d.phone, post=True), methods=["POST"]),
        Route("/calls", g(d.take, post=True), methods=["POST"]),
        Route("/calls/{call_id}", g(d.call_page), methods=["GET"]),
        Route("/calls/{call_id}/reporter", g(d.reporter), methods=["GET"]),
        Route("/calls/{call_id}/act", g(d.act, post=True), methods=["POST"]),
        Route("/audit", g(d.audit_page), methods=["GET"]),
        Route("/visits", g(v.list_page), methods=["GET"]),
        Route("/visits", g(v.create, post=True), methods=["POST"]),
        Route("/visits/{order_id}/assign", g(v.assign, post=True), methods=["POST"]),
        Route("/visits/{order_id}/cancel", g(v.cancel, post=True), methods=["POST"]),
        # the measurer's phone page: the signed link is its credential, no session
        Route("/m/{order_id}/{token}", mp.show, methods=["GET"]),
        Route("/m/{order_id}/{token}", mp.submit, methods=["POST"]),
    ])
