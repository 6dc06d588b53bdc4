"""The morning report as the alerts service's daily job: once a day, yesterday's report into
the outbox for each configured channel (bootstrap builds the job; `heatwatch report` shares
its dedup key, title and paths)."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from pathlib import Path

from alerts.service import AlertsService
from documents import report as printed
from documents.daily import DailyReport
from heatwatch.common import timezone
from heatwatch.config import Config
from storage.base import StoreError
from workflow.outbox import Message
from workflow.unit import Repositories, WorkflowDb

log = logging.getLogger("heatwatch.report")

TITLE = "供热运行日报 {day}"

# the day's report from the workflow as of an instant (None: now); bootstrap.daily_report
BuildReport = Callable[[Repositories, dt.date, "int | None"], DailyReport]


def dedup_key(day: dt.date, channel: str) -> str:
    """One morning report per day and channel, whatever restarts or passes come between."""
    return f"report:{day.isoformat()}:{channel}"


def default_path(cfg: Config, day: dt.date, fmt: str) -> Path:
    return cfg.data_path("", "reports") / f"report-{day.isoformat()}.{fmt}"


def enqueue(db: WorkflowDb, rep: DailyReport, html: str, channels: list[str],
            now_ms: int) -> int:
    """The report into the outbox for each channel (an HTML mail body); how many were new."""
    n = 0
    with db.unit() as u:
        for ch in channels:
            n += u.outbox.enqueue(Message(
                dedup_key(rep.day, ch), ch, TITLE.format(day=rep.day.isoformat()), html,
                "management", {"kind": "morning_report", "day": rep.day.isoformat()}), now_ms)
    return n


class MorningReportJob:
    """Each alerts pass: once the configured hour has come, yesterday's report goes into the
    outbox for each configured channel, once (the dedup key survives restarts)."""

    def __init__(self, cfg: Config, svc: AlertsService, build: BuildReport) -> None:
        self.cfg = cfg
        self.svc = svc
        self.build = build
        self.tz = timezone(cfg)
        self.done: dt.date | None = None

    def __call__(self, now_ms: int) -> None:
        rc = self.cfg.alerts.report
        local = dt.datetime.fromtimestamp(now_ms / 1000, self.tz)
        if not rc.channels or local.hour < rc.hour:
            return
        day = local.date() - dt.timedelta(days=1)
        if self.done == day:
            return
        db = self.svc.db
        todo = [ch for ch in rc.channels if not db.outbox.exists(dedup_key(day, ch))]
        if todo:
            try:
                rep = self.build(db, day, now_ms)
            except StoreError as e:
                log.warning("morning report %s: store unavailable, next pass retries: %s",
                            day, e)
                return
            html = printed.render_html(rep, local)
            enqueue(db, rep, html, todo, now_ms)
            path = default_path(self.cfg, day, "html")
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(html, encoding="utf-8")
            log.info("morning report %s queued for %s", day, ", ".join(todo))
        self.done = day
