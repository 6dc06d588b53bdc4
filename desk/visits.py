"""Measurement orders at the desk (测温工单, issue 22): opened from a 测温 call, from a cold-room
flag of the analyzer, or by a supervisor; assigned to a measurer, who opens the order on a
phone through a personal, signed, expiring link (the crews' signing, alerts/links.py).

The page `/visits` lists the open orders; a supervisor creates, assigns and cancels them (CSRF,
audited); a measurer sees their own orders with their links.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Callable

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from alerts.links import LinkSigner
from desk.auth import Signed
from desk.base import DeskBase
from desk.visit_orders import open_visit
from workflow.unit import Repositories
from workflow.visits import SOURCE_TEXT, STATE_TEXT, MeasureOrder, VisitConflict

# the incidents that flag a cold room (analyzer/detectors/rooms.py)
COLD_ROOM_KIND = "room_cold"


def link_scope(order_id: str) -> str:
    """What a measurer's link signs: the order id in its own namespace, so a crew order's
    link never opens a measurement order, nor the reverse."""
    return f"measure:{order_id}"


def measure_path(signer: LinkSigner, order_id: str, measurer: str, now_s: float) -> str:
    """The measurer's own link to one order: /m/<order_id>/<token>."""
    token = signer.token(link_scope(order_id), measurer, now_s)
    return f"/m/{urllib.parse.quote(order_id, safe='')}/{token}"


class VisitPages:
    """The desk's pages of measurement orders, over the desk (pages, audit, intake)."""

    def __init__(self, desk: DeskBase, signer: LinkSigner | None) -> None:
        self.d = desk
        self.signer = signer

    def measurers(self) -> list[str]:
        return [p.name for p in self.d.db.staff.find() if p.active and p.role == "measurer"]

    def cold_flags(self) -> list[tuple[str, str, int]]:
        """Open cold-room incidents of a household with no measurement order yet:
        (incident key, account, since)."""
        return [(i.key, i.account_id, i.started_ms)
                for i in self.d.db.incidents.find(kind=COLD_ROOM_KIND)
                if i.account_id and not self.d.db.visits.of_ref(i.key)]

    def link(self, o: MeasureOrder) -> str:
        if self.signer is None or o.state != "assigned":
            return ""
        return measure_path(self.signer, o.order_id, o.measurer, self.d.clock())

    async def list_page(self, request: Request, me: Signed) -> Response:
        mine = me.name if me.role == "measurer" else None
        orders = self.d.db.visits.find(measurer=mine)
        links = {o.order_id: self.link(o) for o in orders
                 if me.role == "supervisor" or o.measurer == me.name}
        if any(links.values()):
            self.d.audit(me.name, "view_visit_links", "", True,
                         ",".join(k for k, v in links.items() if v))
        return self.d.page("visits.html", me=me, orders=orders, links=links,
                           measurers=self.measurers(), flags=self.cold_flags(),
                           accounts=self.d.intake.records.accounts,
                           buildings=self.d.intake.records.buildings,
                           state_text=STATE_TEXT, source_text=SOURCE_TEXT)

    async def create(self, request: Request, me: Signed) -> Response:
        form = await request.form()
        aid, ref = str(form.get("account_id", "")).strip(), str(form.get("incident", ""))
        if me.role != "supervisor":
            return self.d.refuse(me, "open_visit", aid, "测温工单仅主管可派发")
        if aid not in self.d.intake.records.accounts:
            return self.d.refuse(me, "open_visit", aid, f"没有户号 {aid}", status=400)
        measurer = str(form.get("measurer", ""))
        if measurer and measurer not in self.measurers():
            return self.d.refuse(me, "open_visit", aid, f"{measurer} 不是在岗测温员", 400)
        now = self.d.now_ms()
        with self.d.db.unit() as u:
            open_visit(u, aid, "cold_room" if ref else "supervisor", ref or me.name, now,
                       me.name, self.d.intake.visit_due_ms(now), measurer)
        return RedirectResponse("/visits", status_code=303)

    async def assign(self, request: Request, me: Signed) -> Response:
        form = await request.form()
        oid, measurer = request.path_params["order_id"], str(form.get("measurer", ""))
        if me.role != "supervisor":
            return self.d.refuse(me, "assign_visit", oid, "测温工单仅主管可派单")
        if measurer not in self.measurers():
            return self.d.refuse(me, "assign_visit", oid, f"{measurer} 不是在岗测温员", 400)
        return self._move(me, oid, "assign_visit", measurer,
                          lambda u, o: u.visits.assign(o, measurer, self.d.now_ms(), me.name))

    async def cancel(self, request: Request, me: Signed) -> Response:
        form = await request.form()
        oid, note = request.path_params["order_id"], str(form.get("note", "")).strip()
        if me.role != "supervisor":
            return self.d.refuse(me, "cancel_visit", oid, "测温工单仅主管可取消")
        if not note:
            return self.d.refuse(me, "cancel_visit", oid, "取消测温工单须写明原因", 400)
        return self._move(me, oid, "cancel_visit", note,
                          lambda u, o: u.visits.cancel(o, self.d.now_ms(), me.name, note))

    def _move(self, me: Signed, oid: str, action: str, note: str,
              move: Callable[[Repositories, MeasureOrder], object]) -> Response:
        read = self.d.db.visits.get(oid)
        if read is None:
            return self.d.page("error.html", 404, me=me, message=f"没有测温工单 {oid}")
        try:
            with self.d.db.unit() as u:
                move(u, read)
                u.staff.audit(self.d.now_ms(), me.name, action, oid, True, note)
        except VisitConflict as e:
            return self.d.refuse(me, action, oid, str(e), 409)
        return RedirectResponse("/visits", status_code=303)
