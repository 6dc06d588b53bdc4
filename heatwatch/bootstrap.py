"""Wire adapters to the core: the one place that knows which store, broker and files."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from collector.deadletter import DeadLetters
from collector.payloads import Registered
from district.readings import Reading
from district.records import Records, load_records
from heatwatch.config import Config
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


def open_store(cfg: Config, spool: bool = True) -> OpenedStore:
    """The configured store; InfluxDB behind the on-disk spool unless spool=False."""
    if cfg.store.backend == "influxdb":
        from storage.arrivals import ArrivalsLog
        from storage.influx import InfluxStore
        from storage.spool import SpooledStore

        # every write logs the hours it touched, so analyzers re-read only those
        influx = ArrivalsLog(InfluxStore.from_config(cfg.store.influxdb))
        if not spool:
            return OpenedStore(influx, None)
        spool_dir = cfg.data_path(cfg.store.spool.dir, "spool")
        spooled = SpooledStore(influx, spool_dir, max_bytes=cfg.store.spool.max_bytes,
                               retry_s=cfg.store.spool.retry_s)
        return OpenedStore(spooled, spooled.stats, spooled.write_direct)
    from storage.sqlite import SqliteStore

    path = cfg.data_path(cfg.store.sqlite.path, "readings.sqlite")
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    return OpenedStore(SqliteStore(path), None)


def open_deadletters(cfg: Config) -> DeadLetters:
    return DeadLetters(cfg.data_path(cfg.collector.deadletter_path, "deadletter.sqlite"),
                       cfg.collector.deadletter_payload_bytes)
