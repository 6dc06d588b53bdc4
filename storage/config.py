"""The `[store]` config section: the backend, InfluxDB, SQLite and the on-disk spool."""

from __future__ import annotations

import re
import urllib.parse
from dataclasses import dataclass, field
from typing import Annotated, Literal

from annotated_types import Ge, Gt
from pydantic import AfterValidator


def _http_url(url: str) -> str:
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{url!r} must be an http:// or https:// URL with a host")
    try:
        parts.port  # noqa: B018 (a port outside 0..65535 raises here)
    except ValueError:
        raise ValueError(f"{url!r} has a bad port") from None
    return url


def _duration(text: str) -> str:
    # InfluxQL durations: 1830d, 52w, 720h; INF keeps data for ever
    if text != "INF" and not re.fullmatch(r"[1-9][0-9]*(h|d|w)", text):
        raise ValueError(f"{text!r} is not a retention duration (e.g. 1830d, 52w, INF)")
    return text


def _name(text: str) -> str:
    if not text or '"' in text or "\n" in text:
        raise ValueError(f"{text!r} is not a usable InfluxDB name")
    return text


@dataclass(slots=True)
class InfluxConfig:
    url: Annotated[str, AfterValidator(_http_url)] = "http://127.0.0.1:8086"
    database: Annotated[str, AfterValidator(_name)] = "heatwatch"
    retention_policy: Annotated[str, AfterValidator(_name)] = "heatwatch"
    # seed: raw metering records are kept at least 5 years
    retention: Annotated[str, AfterValidator(_duration)] = "1830d"
    username: str = ""
    password: str = ""
    # writes: a hung InfluxDB makes the collector spool this soon
    timeout_s: Annotated[float, Gt(0)] = 10.0
    create_database: bool = True
    # analyzer windows take InfluxDB 1.x many seconds
    query_timeout_s: Annotated[float, Gt(0)] = 120.0


@dataclass(slots=True)
class SqliteConfig:
    path: str = ""  # empty: <data_dir>/readings.sqlite


@dataclass(slots=True)
class SpoolConfig:
    dir: str = ""  # empty: <data_dir>/spool
    max_bytes: Annotated[int, Ge(1)] = 1 << 30
    retry_s: Annotated[float, Gt(0)] = 1.0


@dataclass(slots=True)
class StoreConfig:
    backend: Literal["sqlite", "influxdb"] = "sqlite"
    influxdb: InfluxConfig = field(default_factory=InfluxConfig)
    sqlite: SqliteConfig = field(default_factory=SqliteConfig)
    spool: SpoolConfig = field(default_factory=SpoolConfig)
