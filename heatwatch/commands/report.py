"""`heatwatch report --day D [--format html|pdf] [--send CHANNEL]`, and the alerts service's
daily job that mails it once a day through the outbox."""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Callable
from pathlib import Path

from alerts.service import AlertsService
from documents import report as printed
from documents.daily import DailyReport, gather
from heatwatch.bootstrap import open_store, records
from heatwatch.common import timezone
from heatwatch.config import Config
from heatwatch.errors import UserError
from storage.base import StoreError
from workflow.outbox import Message
from workflow.unit import Repositories, WorkflowDb

log = logging.getLogger("heatwatch.report")

TITLE = "供热运行日报 {day}"


def parse_day(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise UserError(f"--day {text!r} is not a date (YYYY-MM-DD)") from None


def dedup_key(day: dt.date, channel: str) -> str:
    """One morning report per day and channel, whatever restarts or passes come between."""
    return f"report:{day.isoformat()}:{channel}"


def build(cfg: Config, db: Repositories, day: dt.date, as_of_ms: int | None = None
          ) -> DailyReport:
    """The day's report from the workflow and the store, as configured."""
    tz = timezone(cfg)
    subs = records(cfg).substations.values()
    names = {s.substation_id: s.name for s in subs}
    design = {s.substation_id: s.design_outdoor_c for s in subs}
    opened = open_store(cfg)
    try:
        return gather(db, opened.store, day, tz, as_of_ms, names, design,
                      cfg.alerts.limits.timeliness_target)
    finally:
        opened.store.close()


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


def report_command(cfg: Config, day_text: str, fmt: str, out: str | None,
                   send: str | None, json_: bool, at: float | None = None,
                   say: Callable[[str], None] = print) -> int:
    """Write the day's report (and with --send, mail it through the outbox now)."""
    from heatwatch.commands.alerts import _service

    day = parse_day(day_text)
    svc = _service(cfg)
    try:
        as_of = None if at is None else int(at * 1000)
        try:
            rep = build(cfg, svc.db, day, as_of)
        except StoreError as e:
            raise UserError(f"cannot read the store: {e}") from None
        if json_:
            say(json.dumps(rep.as_dict(), ensure_ascii=False, indent=2))
            return 0
        now = dt.datetime.now(rep.tz)
        path = Path(out) if out else default_path(cfg, day, fmt)
        printed.write(rep, path, fmt, now)
        say(str(path))
        if send:
            if send not in svc.deliverer.channels:
                raise UserError(f"--send {send!r}: no such channel in [[alerts.channel]] "
                                f"(have: {', '.join(sorted(svc.deliverer.channels)) or 'none'})")
            now_ms = svc.clock_ms()
            added = enqueue(svc.db, rep, printed.render_html(rep, now), [send], now_ms)
            svc.deliverer.round(now_ms, wait=True)
            say(f"sent to {send}" if added else f"already sent to {send} (dedup key "
                f"{dedup_key(day, send)})")
        return 0
    finally:
        svc.close()


class MorningReportJob:
    """Each alerts pass: once the configured hour has come, yesterday's report goes into the
    outbox for each configured channel, once (the dedup key survives restarts)."""

    def __init__(self, cfg: Config, svc: AlertsService) -> None:
        self.cfg = cfg
        self.svc = svc
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
                rep = build(self.cfg, db, day, now_ms)
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
