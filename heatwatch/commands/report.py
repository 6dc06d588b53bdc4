"""`heatwatch report --day D [--format html|pdf] [--send CHANNEL]`: the day's report, written
or mailed now (the daily job that mails it each morning is heatwatch.morning_report)."""

from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import Callable

from documents import report as printed
from heatwatch import bootstrap
from heatwatch.common import output_path, temporary_beside
from heatwatch.config import Config
from heatwatch.errors import UserError
from heatwatch.morning_report import dedup_key, default_path, enqueue
from storage.base import StoreError


def parse_day(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise UserError(f"--day {text!r} is not a date (YYYY-MM-DD)") from None


def report_command(cfg: Config, day_text: str, fmt: str, out: str | None,
                   send: str | None, json_: bool, at: float | None = None,
                   say: Callable[[str], None] = print, force: bool = False) -> int:
    """Write the day's report (and with --send, mail it through the outbox now). Every
    argument is checked before anything is written."""
    day = parse_day(day_text)
    target = None if out is None or json_ else output_path(out, force)
    svc = bootstrap.alerts_service(cfg)
    try:
        if send and send not in svc.deliverer.channels:
            raise UserError(f"--send {send!r}: no such channel in [[alerts.channel]] "
                            f"(have: {', '.join(sorted(svc.deliverer.channels)) or 'none'})")
        as_of = None if at is None else int(at * 1000)
        try:
            rep = bootstrap.daily_report(cfg, svc.db, day, as_of)
        except StoreError as e:
            raise UserError(f"cannot read the store: {e}") from None
        if json_:
            say(json.dumps(rep.as_dict(), ensure_ascii=False, indent=2))
            return 0
        now = dt.datetime.now(rep.tz)
        path = target or default_path(cfg, day, fmt)
        if target is None:
            printed.write(rep, path, fmt, now)  # heatwatch's own reports folder
        else:
            # printed beside it and renamed into place: a link put there is never followed
            tmp = printed.write(rep, temporary_beside(target), fmt, now)
            os.replace(tmp, target)
        say(str(path))
        if rep.no_data:  # issue 20 item 7: never a silent "no outage" for a day with nothing
            say(f"{day}: 无数据 no data (no readings, incident or order that day)")
        if send:
            now_ms = svc.clock_ms()
            added = enqueue(svc.db, rep, printed.render_html(rep, now), [send], now_ms)
            svc.deliverer.round(now_ms, wait=True)
            say(f"sent to {send}" if added else f"already sent to {send} (dedup key "
                f"{dedup_key(day, send)})")
        return 0
    finally:
        svc.close()
