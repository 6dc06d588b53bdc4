"""The desk's core, shared by its pages (desk/app.py, desk/visits.py, desk/measure_page.py):
the intake and its workflow file, sign-in, the clock and time zone, the templates, the audit line
of every action and the refusal page."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import jinja2
from starlette.responses import HTMLResponse

from desk.auth import Auth, Signed
from desk.config import DeskConfig
from desk.intake import Intake
from desk.search import mask_phone
from desk.words import audit_verb, call_verb
from policy.calls import CALL_KINDS, KIND_NAMES, SATISFACTION

STATES = {"open": "处理中", "resolved": "待回访", "closed": "已办结", "refused": "不予受理"}


class DeskBase:
    """What every desk page stands on: the intake, the clock, the templates, the audit."""

    def __init__(self, cfg: DeskConfig, intake: Intake,
                 clock: Callable[[], float] = time.time) -> None:
        self.cfg = cfg
        self.intake = intake
        self.db = intake.db
        self.auth = Auth(intake.db, cfg)
        self.clock = clock
        self.tz = ZoneInfo(intake.tz)
        self.env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(Path(__file__).parent / "templates"),
            autoescape=True, undefined=jinja2.StrictUndefined)
        self.env.globals.update(kinds=CALL_KINDS, kind_names=KIND_NAMES, states=STATES,
                                satisfaction=SATISFACTION, t=self.t, mask=mask_phone,
                                call_verb=call_verb, audit_verb=audit_verb)

    def now_ms(self) -> int:
        return int(self.clock() * 1000)

    def local_now(self) -> dt.datetime:
        return dt.datetime.fromtimestamp(self.clock(), self.tz)

    def t(self, ms: int | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
        return "-" if ms is None else dt.datetime.fromtimestamp(ms / 1000, self.tz).strftime(fmt)

    def page(self, name: str, status: int = 200, **ctx: Any) -> HTMLResponse:
        return HTMLResponse(self.env.get_template(name).render(**ctx), status_code=status)

    def audit(self, who: str, action: str, subject: str = "", allowed: bool = True,
              note: str = "") -> None:
        with self.db.unit() as u:
            u.staff.audit(self.now_ms(), who, action, subject, allowed, note)

    def refuse(self, me: Signed, action: str, subject: str, why: str,
               status: int = 403) -> HTMLResponse:
        self.audit(me.name, action, subject, False, why)
        return self.page("error.html", status, me=me, message=why)
