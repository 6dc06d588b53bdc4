"""The daily early-warning job (issue 24): each alerts pass, once the configured local hour
has come, yesterday is judged: its scorecards go to the store (`early_score`) and the
`early_warning` incidents open, stay or close to match the drift detector. The alerts service
turns an opened one into a maintenance inspection due in working days."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable

from analyzer.detectors.early import raise_early_warnings
from analyzer.index import DistrictIndex
from district.records import Records
from heatwatch.common import timezone
from heatwatch.config import Config
from storage.base import Store, StoreError
from workflow.incidents import IncidentStore

log = logging.getLogger("heatwatch.early")


class EarlyWarningJob:
    """Once a day: judge yesterday and reconcile the early warnings."""

    def __init__(self, cfg: Config, records_: Records, open_store: Callable[[], Store]) -> None:
        self.cfg = cfg
        self.index = DistrictIndex.from_records(records_)
        self.open_store = open_store
        self.tz = timezone(cfg)
        self.done: dt.date | None = None

    def __call__(self, now_ms: int) -> None:
        rules = self.cfg.analyzer.city
        local = dt.datetime.fromtimestamp(now_ms / 1000, self.tz)
        day = local.date() - dt.timedelta(days=1)
        if local.hour < rules.early.run_hour or self.done == day:
            return
        store = self.open_store()
        incidents = IncidentStore(self.cfg.workflow_path())
        try:
            events = raise_early_warnings(store, self.index, incidents, day, self.tz, now_ms,
                                          rules.early, rules.tariff.energy_cny_kwh)
        except StoreError as e:
            log.warning("early warnings %s: store unavailable, next pass retries: %s", day, e)
            return
        except Exception:
            # a day it cannot judge must not stop the alerts service: said loudly, once a day
            log.exception("early warnings %s: not judged", day)
            self.done = day
            return
        finally:
            incidents.close()
            store.close()
        log.info("early warnings %s: %d opened, %d closed", day,
                 sum(e.event == "opened" for e in events),
                 sum(e.event == "closed" for e in events))
        self.done = day
