"""The `[site]` config section: where the records and the data live, and the site's time zone."""

from __future__ import annotations

import zoneinfo
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

from annotated_types import Gt
from pydantic import AfterValidator

SAMPLE_RECORDS = Path(__file__).parent / "sample"


def _time_zone(name: str) -> str:
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"{name!r} is not a known time zone (e.g. Asia/Shanghai)") from None
    return name


def _not_empty(text: str) -> str:
    if not text.strip():
        raise ValueError("must not be empty")
    return text


@dataclass(slots=True)
class SiteConfig:
    records_dir: str = ""  # empty: the bundled sample district
    data_dir: Annotated[str, AfterValidator(_not_empty)] = "var"  # stores, spool, dead letters
    timezone: Annotated[str, AfterValidator(_time_zone)] = "Asia/Shanghai"
    # incidents, orders, notices, outbox: one file the analyzer and alerts services share
    workflow_path: str = ""  # empty: <data_dir>/workflow.sqlite
    # PostgreSQL instead of the file: "postgresql://user:${NAME}@host:5432/db" (${NAME} is
    # read from the environment: no password in the config file)
    workflow_url: str = ""
    workflow_statement_timeout_s: Annotated[float, Gt(0)] = 30.0  # PostgreSQL's
    workflow_busy_timeout_s: Annotated[float, Gt(0)] = 10.0  # a unit waits this for the lock

    def data_path(self, configured: str, default_name: str) -> Path:
        """A configured path, or a default name under the data dir."""
        return Path(configured) if configured else Path(self.data_dir) / default_name

    def records_path(self) -> Path:
        return Path(self.records_dir) if self.records_dir else SAMPLE_RECORDS

    def workflow_file(self) -> Path:
        return self.data_path(self.workflow_path, "workflow.sqlite")
