"""The measurer's phone page (入户测温, issue 22): what the measurer's link opens, in the crews'
look (alerts/templates/crew.css), for a phone at the door.

The measurer records each room's reading to 0.1 °C, the instrument from the register, the
city's conditions as checks and times, and the time; the measurer and the resident sign on the
screen with a finger (a resident who refuses is recorded as refused, with the measurer's note).
Submitting builds the record with the CLI's own code (workflow.measuring.judged_record), chains
it, keeps the drawings beside it and closes the order, in one unit of work. An expired
instrument is refused with the reason; a time outside the city's windows is said on the page
and marked on the record.

The only script is the signature pad's (measure.js); it and the style are allowed by their
hashes in the Content-Security-Policy, nothing else runs or loads.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import urllib.parse
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import jinja2
from markupsafe import Markup
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from alerts.crew_page import CSS as CREW_CSS
from alerts.crew_page import TEMPLATES as CREW_TEMPLATES
from alerts.http import Refused, read_body
from alerts.http_guard import FailedLookups
from alerts.links import LinkError, LinkSigner
from desk.base import DeskBase
from desk.measure_form import ROOM_NAMES, ROOMS, Filled, FormError, parse_filled
from desk.measured import decide
from desk.visits import link_scope
from policy.measurements import in_window, instrument_problem
from workflow.measurements import Record
from workflow.measuring import MeasurementRefused, instrument_of, judged_record
from workflow.visits import MeasureOrder, VisitConflict

TEMPLATES = Path(__file__).parent / "templates"
CSS = CREW_CSS + (TEMPLATES / "measure.css").read_text(encoding="utf-8")
JS = (TEMPLATES / "measure.js").read_text(encoding="utf-8")


def _sha(text: str) -> str:
    return base64.b64encode(hashlib.sha256(text.encode()).digest()).decode()


CSP = (f"default-src 'none'; style-src 'sha256-{_sha(CSS)}'; script-src 'sha256-{_sha(JS)}'; "
       "img-src data:; form-action 'self'; base-uri 'none'; frame-ancestors 'none'")
HEADERS = {"Content-Security-Policy": CSP, "X-Content-Type-Options": "nosniff",
           "Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}
# two drawings of at most 200 kB each, base64, and the fields
MAX_BODY_BYTES = 700_000
# where the outdoor temperature comes from: (account, measured at) -> the day's outdoor mean
# at the household's weather station, °C, or None (not known; the record is then not judged)
OutdoorMean = Callable[[str, dt.datetime], "float | None"]


# the crews' page frame (crew_base.html, crew_head.html, crew_error.html) and the measure_*.html
ENV = jinja2.Environment(loader=jinja2.ChoiceLoader([jinja2.FileSystemLoader(TEMPLATES),
                                                     jinja2.FileSystemLoader(CREW_TEMPLATES)]),
                         autoescape=True, undefined=jinja2.StrictUndefined, trim_blocks=True,
                         lstrip_blocks=True)


def no_outdoor_mean(account_id: str, at: dt.datetime) -> float | None:
    """The hook's default until the weather station is wired in (issue 22, part C)."""
    return None


class MeasurePage:
    """GET and POST /m/{order_id}/{token}: the form, the submission, the result."""

    def __init__(self, desk: DeskBase, signer: LinkSigner | None, max_failed: int,
                 outdoor_mean: OutdoorMean = no_outdoor_mean) -> None:
        self.d = desk
        self.signer = signer
        self.failures = FailedLookups(max_failed)
        self.outdoor_mean = outdoor_mean
        self.rules = desk.cfg.measurements

    def html(self, name: str, code: int = 200, **ctx: Any) -> HTMLResponse:
        body = ENV.get_template(name).render(css=Markup(CSS), js=Markup(JS), **ctx)
        return HTMLResponse(body, code, headers=HEADERS)

    def error(self, status: int, title: str, text: str, back: str = "") -> HTMLResponse:
        return self.html("crew_error.html", status, status=status, title=title, text=text,
                         back=back)

    def authorise(self, request: Request) -> tuple[MeasureOrder, str] | Response:
        """The order and the measurer a link names; every refusal answers the same 404."""
        oid, token = request.path_params["order_id"], request.path_params["token"]
        client = request.client.host if request.client else ""
        if self.failures.blocked(client):
            return self.error(429, "请稍后再试", "尝试次数过多，请稍后再试。")
        try:
            if self.signer is None:
                raise LinkError("no signer")
            grant = self.signer.check(link_scope(oid), token, self.d.clock())
        except LinkError:
            self.failures.failed(client)
            return self.error(404, "链接无效", "此链接无效或已过期，请向主管索取新的测温链接。")
        order = self.d.db.visits.get(oid)
        person = self.d.db.staff.get(grant.member)
        if (order is None or order.measurer != grant.member or person is None
                or not person.active or person.role != "measurer"
                or order.state not in ("assigned", "measured")):
            self.failures.failed(client)
            return self.error(404, "链接无效", "此链接无效或已过期，请向主管索取新的测温链接。")
        return order, grant.member

    def base(self, order: MeasureOrder, request: Request) -> str:
        return (f"/m/{urllib.parse.quote(order.order_id, safe='')}/"
                f"{request.path_params['token']}")

    def place(self, order: MeasureOrder) -> dict[str, str]:
        recs = self.d.intake.records
        acc = recs.accounts[order.account_id]
        return {"address": recs.buildings[acc.building_id].address, "unit": acc.unit,
                "account_id": acc.account_id}

    async def show(self, request: Request) -> Response:
        got = self.authorise(request)
        if isinstance(got, Response):
            return got
        order, member = got
        if order.state == "measured":
            rec = self.d.db.measurements.get(order.record_id)
            assert rec is not None
            return self.done(order, rec)
        self.d.audit(member, "view_measure_page", order.order_id)
        now = self.d.local_now()
        return self.form(order, member, self.base(order, request),
                         {"measured_at": now.strftime("%Y-%m-%dT%H:%M")})

    def form(self, order: MeasureOrder, member: str, base: str, values: Mapping[str, str],
             error: str = "", status: int = 200) -> HTMLResponse:
        today = self.d.local_now().date()
        instruments = [(i, instrument_problem(instrument_of(i), today, self.rules))
                       for i in self.d.db.measurements.instruments()]
        try:
            at = dt.datetime.fromisoformat(values.get("measured_at", ""))
            outside = not in_window(at.replace(tzinfo=self.d.tz), self.rules)
        except ValueError:
            outside = False
        return self.html("measure_form.html", status, order=order, member=member, base=base,
                         v=values, error=error, instruments=instruments, rooms=ROOMS,
                         room_names=ROOM_NAMES, rules=self.rules, outside=outside,
                         due=self.d.t(order.due_ms), place=self.place(order))

    async def submit(self, request: Request) -> Response:
        got = self.authorise(request)
        if isinstance(got, Response):
            return got
        order, member = got
        base = self.base(order, request)
        try:
            body = await read_body(request, MAX_BODY_BYTES)
        except Refused as e:
            return self.error(e.status, "提交失败", "提交的内容过大或无法识别，请重新填写。", base)
        values = dict(urllib.parse.parse_qsl(body.decode("utf-8", "replace"),
                                             keep_blank_values=True, max_num_fields=64))
        now = self.d.local_now()
        try:
            filled = parse_filled(values, order, member, now, self.d.tz,
                                  self.d.db.measurements.instrument)
            rec = self.record(order, filled, now)
        except (FormError, MeasurementRefused, VisitConflict) as e:
            self.d.audit(member, "measure", order.order_id, False, str(e))
            keep = {k: v for k, v in values.items() if not k.startswith("sig_")}
            return self.form(order, member, base, keep, str(e), 400)
        return self.done(order, rec, fresh=True)

    def record(self, order: MeasureOrder, f: Filled, now: dt.datetime) -> Record:
        """Judge, chain and keep the record with its signatures; close the order: one unit."""
        recs = self.d.intake.records
        acc = recs.accounts[order.account_id]
        design = recs.substations[recs.buildings[acc.building_id].substation_id]
        outdoor = self.outdoor_mean(order.account_id, f.taken.measured)
        try:
            rec = judged_record(f.taken, now, outdoor, design.design_outdoor_c, self.rules)
        except ValueError as e:  # the configured windows
            raise FormError(f"测温时段配置有误：{e}") from None
        rec.signatures = [s.entry() for s in f.signatures]
        with self.d.db.unit() as u:
            read = u.visits.get(order.order_id)
            if read is None or read.measurer != f.taken.measurer:
                raise VisitConflict(f"测温工单 {order.order_id} 已改派，本次未生效")
            rec = u.measurements.append(rec)
            for s in f.signatures:
                u.signatures.add(rec.record_id, s)
            u.visits.measured(read, rec.record_id, self.d.now_ms())
            # a cold record opens or joins the repair path, a passing one closes its incident
            decide(u, rec, recs, self.d.intake.city, self.d.tz, self.d.now_ms())
            u.staff.audit(self.d.now_ms(), f.taken.measurer, "measure", order.order_id, True,
                          rec.record_id)
        return rec

    def done(self, order: MeasureOrder, rec: Record, fresh: bool = False) -> HTMLResponse:
        marks = (([f"测温时间不在规定时段（{'、'.join(self.rules.windows)}），记录已标注"]
                  if rec.outside_window else [])
                 + (["超过上报时限，记录已标注"] if rec.late else []) + list(rec.problems))
        signs = {s["role"]: s for s in rec.signatures}
        return self.html("measure_done.html", order=order, rec=rec, marks=marks, fresh=fresh,
                         signs=signs, room_names=ROOM_NAMES,
                         measured=self.d.t(rec.measured_ms),
                         signed={k: self.d.t(s["signed_ms"]) for k, s in signs.items()},
                         place=self.place(order))
