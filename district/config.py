"""Configuration: a TOML file over built-in defaults, then environment overrides.

Every leaf `[section] key` (or `[section.sub] key`) can be overridden by the
environment variable `HEATWATCH_SECTION_KEY` (`HEATWATCH_SECTION_SUB_KEY`), or read
from a file named by the same variable with a `_FILE` suffix (Docker secrets).
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from alerts.config import AlertsConfig, AlertsConfigError
from analyzer.config import AnalyzerConfig, AnalyzerConfigError
from analyzer.config import check as check_analyzer

ENV_PREFIX = "HEATWATCH"


class ConfigError(Exception):
    """A config file or override that cannot be used; the message is one line."""


@dataclass(slots=True)
class SiteConfig:
    records_dir: str = ""  # empty: the bundled sample district
    data_dir: str = "var"  # SQLite stores, spool and dead letters live here
    timezone: str = "Asia/Shanghai"


@dataclass(slots=True)
class InfluxConfig:
    url: str = "http://127.0.0.1:8086"
    database: str = "heatwatch"
    retention_policy: str = "heatwatch"
    # seed: raw metering records are kept at least 5 years
    retention: str = "1830d"
    username: str = ""
    password: str = ""
    timeout_s: float = 10.0  # writes: a hung InfluxDB makes the collector spool this soon
    create_database: bool = True
    query_timeout_s: float = 120.0  # analyzer windows take InfluxDB 1.x many seconds


@dataclass(slots=True)
class SqliteConfig:
    path: str = ""  # empty: <data_dir>/readings.sqlite


@dataclass(slots=True)
class SpoolConfig:
    dir: str = ""  # empty: <data_dir>/spool
    max_bytes: int = 1 << 30
    retry_s: float = 1.0


@dataclass(slots=True)
class StoreConfig:
    backend: str = "sqlite"  # sqlite | influxdb
    influxdb: InfluxConfig = field(default_factory=InfluxConfig)
    sqlite: SqliteConfig = field(default_factory=SqliteConfig)
    spool: SpoolConfig = field(default_factory=SpoolConfig)


@dataclass(slots=True)
class MqttConfig:
    host: str = "127.0.0.1"
    port: int = 1883
    username: str = ""
    password: str = ""
    client_id: str = "heatwatch-collector"
    protocol: str = "5"  # "5" or "3.1.1" (the embedded demo broker speaks 3.1.1)
    topic_prefix: str = "heat"
    qos: int = 1
    keepalive_s: int = 30
    # MQTT 5 receive maximum: how many unacked QoS 1 messages the broker may send us
    receive_maximum: int = 10000
    session_expiry_s: int = 7 * 24 * 3600
    max_payload_bytes: int = 256 * 1024


@dataclass(slots=True)
class CollectorConfig:
    batch_size: int = 5000
    flush_interval_ms: int = 100
    health_interval_s: float = 10.0
    deadletter_path: str = ""  # empty: <data_dir>/deadletter.sqlite
    deadletter_payload_bytes: int = 64 * 1024
    # <prefix>/<kind>/.. subtrees other services publish in (alerts: heat/orders/<crew>):
    # acked and left alone; any other unknown kind is dead-lettered as unknown_kind
    ignore_kinds: list[str] = field(default_factory=lambda: ["orders"])


@dataclass(slots=True)
class ModbusConfig:
    interval_s: float = 3600.0  # DOMAIN: meters are read hourly
    timeout_s: float = 1.0
    retries: int = 0
    backoff_s: float = 1.0
    backoff_max_s: float = 60.0
    max_gap: int = 0  # registers bridged to merge two reads into one
    max_read_registers: int = 125  # Modbus limit for one read
    profiles_dir: str = ""  # empty: the bundled collector/profiles


@dataclass(slots=True)
class SimulatorConfig:
    scenario: str = "sample"  # a bundled name or a path to a scenario TOML
    speed: float = 0.0  # district seconds per wall second; 0: the scenario's own
    gateway_host: str = "127.0.0.1"
    port_offset: int = 0
    free_ports: bool = False
    # not the collector's: both keep persistent sessions on the broker
    client_id: str = "heatwatch-simulator"


@dataclass(slots=True)
class Config:
    site: SiteConfig = field(default_factory=SiteConfig)
    store: StoreConfig = field(default_factory=StoreConfig)
    mqtt: MqttConfig = field(default_factory=MqttConfig)
    collector: CollectorConfig = field(default_factory=CollectorConfig)
    modbus: ModbusConfig = field(default_factory=ModbusConfig)
    simulator: SimulatorConfig = field(default_factory=SimulatorConfig)
    analyzer: AnalyzerConfig = field(default_factory=AnalyzerConfig)
    alerts: AlertsConfig = field(default_factory=AlertsConfig)
    source: str = "defaults"

    def data_path(self, configured: str, default_name: str) -> Path:
        """A configured path, or a default name under the data dir."""
        return Path(configured) if configured else Path(self.site.data_dir) / default_name

    def records_path(self) -> Path:
        if self.site.records_dir:
            return Path(self.site.records_dir)
        return Path(__file__).parent / "sample"


def _coerce(value: Any, kind: Any, where: str) -> Any:
    if kind is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("1", "true", "yes", "on", "0", "false",
                                                         "no", "off"):
            return value.lower() in ("1", "true", "yes", "on")
    elif kind is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, str):
            try:
                return int(value)
            except ValueError:
                pass
    elif kind is float:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):
            try:
                return float(value)
            except ValueError:
                pass
    elif kind is str and isinstance(value, str):
        return value
    raise ConfigError(f"{where}: expected {kind.__name__}, got {value!r}")


def _apply(obj: Any, data: Mapping[str, Any], where: str) -> None:
    hints = typing.get_type_hints(type(obj))
    names = {f.name for f in dataclasses.fields(obj)} - {"source"}
    for key, value in data.items():
        if key not in names:
            raise ConfigError(f"{where}: unknown key {key!r} (known: {', '.join(sorted(names))})")
        kind = hints[key]
        current = getattr(obj, key)
        if dataclasses.is_dataclass(current):
            if not isinstance(value, Mapping):
                raise ConfigError(f"{where}: [{key}] must be a table")
            _apply(current, value, f"{where} [{key}]")
        elif isinstance(kind, types.GenericAlias | types.UnionType):
            setattr(obj, key, value)
        else:
            setattr(obj, key, _coerce(value, kind, f"{where} {key}"))


def _env_overrides(obj: Any, prefix: str, env: Mapping[str, str]) -> None:
    hints = typing.get_type_hints(type(obj))
    for f in dataclasses.fields(obj):
        if f.name == "source":
            continue
        name = f"{prefix}_{f.name.upper()}"
        current = getattr(obj, f.name)
        if dataclasses.is_dataclass(current):
            _env_overrides(current, name, env)
            continue
        if name in env:
            raw = env[name]
        elif f"{name}_FILE" in env:
            try:
                raw = Path(env[f"{name}_FILE"]).read_text(encoding="utf-8").strip()
            except OSError as e:
                raise ConfigError(f"{name}_FILE: cannot read {e.filename}: {e.strerror}") from e
        else:
            continue
        setattr(obj, f.name, _coerce(raw, hints[f.name], name))


def load_config(path: Path | str | None = None, env: Mapping[str, str] | None = None) -> Config:
    """Defaults, then the TOML file if given, then HEATWATCH_* environment overrides."""
    cfg = Config()
    if path is not None:
        p = Path(path)
        try:
            data = tomllib.loads(p.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError(f"{p}: config file not found") from None
        except OSError as e:
            raise ConfigError(f"{p}: cannot read: {e.strerror}") from None
        except tomllib.TOMLDecodeError as e:
            raise ConfigError(f"{p}: not valid TOML: {e}") from None
        _apply(cfg, data, str(p))
        cfg.source = str(p)
    _env_overrides(cfg, ENV_PREFIX, os.environ if env is None else env)
    _check(cfg)
    return cfg


def _check(cfg: Config) -> None:
    if cfg.store.backend not in ("sqlite", "influxdb"):
        raise ConfigError(f"{cfg.source}: [store] backend {cfg.store.backend!r} "
                          "must be sqlite or influxdb")
    if cfg.mqtt.protocol not in ("5", "3.1.1"):
        raise ConfigError(f"{cfg.source}: [mqtt] protocol must be \"5\" or \"3.1.1\"")
    if cfg.mqtt.qos not in (0, 1, 2):
        raise ConfigError(f"{cfg.source}: [mqtt] qos must be 0, 1 or 2")
    # a packet id is 16 bits; a larger window would wrap ids still in flight
    if not 1 <= cfg.mqtt.receive_maximum <= 65535:
        raise ConfigError(f"{cfg.source}: [mqtt] receive_maximum must be 1..65535")
    m = cfg.modbus
    if m.interval_s <= 0 or m.timeout_s <= 0 or m.retries < 0 or m.max_gap < 0:
        raise ConfigError(f"{cfg.source}: [modbus] interval_s and timeout_s must be positive, "
                          "retries and max_gap not negative")
    if not 0 < m.backoff_s <= m.backoff_max_s:
        raise ConfigError(f"{cfg.source}: [modbus] needs 0 < backoff_s <= backoff_max_s")
    if not 1 <= m.max_read_registers <= 125:
        raise ConfigError(f"{cfg.source}: [modbus] max_read_registers must be 1..125")
    try:
        check_analyzer(cfg.analyzer)
    except AnalyzerConfigError as e:
        raise ConfigError(f"{cfg.source}: [analyzer] {e}") from None
    try:
        cfg.alerts.check()
    except AlertsConfigError as e:
        raise ConfigError(f"{cfg.source}: [alerts] {e}") from None
    if cfg.collector.batch_size < 1:
        raise ConfigError(f"{cfg.source}: [collector] batch_size must be positive")
