"""Wire adapters to the core: the one place that knows which store, broker and files."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from collector.deadletter import DeadLetters
from collector.payloads import Registered
from district.readings import Reading
from district.records import Records, load_records
from heatwatch.config import Config
from heatwatch.errors import UserError
from storage.base import Store


@dataclass(slots=True)
class OpenedStore:
    store: Store
    spool_stats: Callable[[], Mapping[str, float]] | None
    # where the collector's health goes: past the spool, so it is written during a stall
    health_sink: Callable[[Sequence[Reading]], None] | None = None


def registry(records: Records) -> dict[str, Registered]:
    """Device id → kind and tags, for tagging each reading from the records."""
    return {d.device_id: Registered(d.kind, d.tags()) for d in records.devices.values()}


def records(cfg: Config) -> Records:
    return load_records(cfg.records_path())


def config_origin(cfg: Config, env: Mapping[str, str] | None = None) -> str:
    """Where the configuration came from, for a line that says where a command looked."""
    if cfg.source != "defaults":
        return f"config {cfg.source}"
    env = os.environ if env is None else env
    if any(k.startswith("HEATWATCH_") for k in env):
        return "no --config given; using defaults and HEATWATCH_* overrides"
    return "no --config given; using defaults"


def shown(path: Path) -> str:
    """A path as the operator can find it: relative ones from the current directory."""
    return str(path) if path.is_absolute() else f"./{path}"


def require_file(cfg: Config, path: Path, what: str, made_by: str) -> Path:
    """The path of a database a read-only command reads; UserError, saying where it looked,
    when it is not there (a read-only command never creates an empty one)."""
    if not path.is_file():
        raise UserError(f"no {what} at {shown(path)} ({config_origin(cfg)}); "
                        f"{made_by} creates it")
    return path


def workflow_file(cfg: Config) -> Path:
    """The workflow database, for the commands that only read or act on what is in it."""
    return require_file(cfg, cfg.workflow_path(), "workflow database",
                        "`heatwatch analyze` (or `alerts`)")


def open_store(cfg: Config, read_only: bool = False, spool: bool = True) -> OpenedStore:
    """The configured store; InfluxDB behind the on-disk spool. `read_only` (the reporting
    commands): no spool, and a SQLite store that is not there is an error, not a new file;
    `spool=False` (a dead-letter replay): InfluxDB written directly."""
    if cfg.store.backend == "influxdb":
        from storage.influx import InfluxStore
        from storage.spool import SpooledStore

        influx = InfluxStore.from_config(cfg.store.influxdb)
        if read_only or not spool:
            return OpenedStore(influx, None)
        spool_dir = cfg.data_path(cfg.store.spool.dir, "spool")
        spooled = SpooledStore(influx, spool_dir, max_bytes=cfg.store.spool.max_bytes,
                               retry_s=cfg.store.spool.retry_s)
        return OpenedStore(spooled, spooled.stats, spooled.write_direct)
    from storage.sqlite import SqliteStore

    path = cfg.data_path(cfg.store.sqlite.path, "readings.sqlite")
    if read_only:
        require_file(cfg, path, "readings database", "`heatwatch collect`")
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    return OpenedStore(SqliteStore(path), None)


def open_deadletters(cfg: Config, read_only: bool = False) -> DeadLetters:
    path = cfg.data_path(cfg.collector.deadletter_path, "deadletter.sqlite")
    if read_only:
        require_file(cfg, path, "dead-letter database", "`heatwatch collect`")
    return DeadLetters(path, cfg.collector.deadletter_payload_bytes)
