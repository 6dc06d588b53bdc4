"""What every command shares and no command owns: the operator's mistake, the site's time
zone, the analyzer's settings and the workflow database's path."""

from __future__ import annotations

import datetime as dt
import zoneinfo
from pathlib import Path

from analyzer.config import AnalyzerConfig
from heatwatch.config import Config


class CommandError(Exception):
    """A mistake the operator can fix (unknown account, bad season, bad config)."""


def analyzer_config(cfg: Config) -> AnalyzerConfig:
    """The `[analyzer]` section (load_config checked it)."""
    return cfg.analyzer


def timezone(cfg: Config) -> dt.tzinfo:
    try:
        return zoneinfo.ZoneInfo(cfg.site.timezone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise CommandError(f"[site] timezone {cfg.site.timezone!r} is not a known time zone"
                           ) from None


def workflow_path(cfg: Config) -> Path:
    return cfg.workflow_path()
