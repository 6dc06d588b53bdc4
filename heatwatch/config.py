"""Configuration: a TOML file over built-in defaults, then environment overrides, typed.

Each package owns the dataclass of its own section (`district.config` the site,
`storage.config` the store, `collector.config` MQTT, the collector and Modbus,
`simulators.config`, `analyzer.config`, `alerts.config`); this module puts them together
and is the one loader. pydantic validates every key against its dataclass's annotations
(types, ranges, URLs, ports); a mistake is one `ConfigError` line naming the file (or the
environment variable) and the key.

Every leaf `[section] key` (or `[section.sub] key`) can be overridden by the environment
variable `HEATWATCH_SECTION_KEY` (`HEATWATCH_SECTION_SUB_KEY`), or read from a file named by
the same variable with a `_FILE` suffix (Docker secrets). Secrets written as `${ENV}` in
`[alerts]` are not read here: the alerts service reads them when it starts.
"""

from __future__ import annotations

import dataclasses
import os
import re
import tomllib
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter, ValidationError

from alerts.config import NOTICE_MOVED_TO, AlertsConfig, AlertsConfigError
from analyzer.config import AnalyzerConfig, table_to_fields, toml_key
from analyzer.config import toml_shape as analyzer_shape
from collector.config import CollectorConfig, ModbusConfig, MqttConfig
from desk.config import DeskConfig
from district.config import SiteConfig
from district.secrets import is_placeholder
from heatwatch.simulator_config import SimulatorConfig
from storage.config import StoreConfig

ENV_PREFIX = "HEATWATCH"

# keys that moved so that each rule has one setting: (table, key) -> where it is now
_CREWS = "the crews' limits are [alerts.limits] {}, one setting for orders and calls alike"
MOVED: dict[tuple[str, str], str] = {
    ("alerts.limits", "outage_notice_h"): NOTICE_MOVED_TO,
    ("desk.limits", "leak_on_site_min"): _CREWS.format("leak_on_site_min"),
    ("desk.limits", "repair_contact_min"): _CREWS.format("contact_min"),
    ("desk.limits", "repair_on_site_min"): _CREWS.format("on_site_min"),
    ("desk.limits", "return_visit_h"): _CREWS.format("return_visit_h"),
}


class ConfigError(Exception):
    """A config file or override that cannot be used; the message is one line."""


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
    desk: DeskConfig = field(default_factory=DeskConfig)
    source: str = "defaults"

    def data_path(self, configured: str, default_name: str) -> Path:
        """A configured path, or a default name under the data dir."""
        return self.site.data_path(configured, default_name)

    def records_path(self) -> Path:
        return self.site.records_path()

    def workflow_path(self) -> Path:
        """The workflow SQLite file the analyzer and alerts services share (unless a
        PostgreSQL URL is configured: see workflow_target)."""
        return self.site.workflow_file()

    def workflow_target(self) -> Path | str:
        """The workflow database: `[site] workflow_url` (its ${NAME}s from the environment),
        else the SQLite file."""
        url = self.site.workflow_url
        if not url:
            return self.workflow_path()

        def look_up(m: re.Match[str]) -> str:
            if m.group(1) not in os.environ:
                raise ConfigError(f"{self.source}: [site] workflow_url: environment variable "
                                  f"{m.group(1)} is not set")
            if is_placeholder(os.environ[m.group(1)]):
                raise ConfigError(f"{self.source}: [site] workflow_url: {m.group(1)} is still "
                                  "the change-me placeholder of .env.example: set a real secret")
            return os.environ[m.group(1)]

        return re.sub(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}", look_up, url)


_SECTIONS = [f.name for f in dataclasses.fields(Config) if f.name != "source"]
_ADAPTER: TypeAdapter[Config] = TypeAdapter(Config)

# sections whose TOML is not the shape of their dataclass: (shape, reshape, key namer)
_CUSTOM: dict[str, tuple[Callable[[], dict[str, Any]],
                         Callable[[Mapping[str, Any]], dict[str, Any]],
                         Callable[[tuple[str | int, ...]], tuple[str, str]]]] = {
    "analyzer": (analyzer_shape, table_to_fields, toml_key),
}


def _shape(kind: Any) -> dict[str, Any]:
    """Every key of a dataclass section: a leaf is None, a sub-table the sub-shape."""
    hints = typing.get_type_hints(kind)
    out: dict[str, Any] = {}
    for f in dataclasses.fields(kind):
        hint = hints[f.name]
        out[f.name] = _shape(hint) if dataclasses.is_dataclass(hint) else None
    return out


def toml_shape() -> dict[str, Any]:
    """Every key a config file may hold, by section (what env overrides can reach)."""
    hints = typing.get_type_hints(Config)
    return {name: (_CUSTOM[name][0]() if name in _CUSTOM else _shape(hints[name]))
            for name in _SECTIONS}


def env_names() -> set[str]:
    """Every HEATWATCH_* variable the loader reads (each also with a `_FILE` suffix)."""
    def walk(shape: Mapping[str, Any], prefix: str) -> set[str]:
        out: set[str] = set()
        for key, sub in shape.items():
            name = f"{prefix}_{key.upper()}"
            out |= walk(sub, name) if sub is not None else {name}
        return out

    return walk(toml_shape(), ENV_PREFIX)


def _unknown_keys(data: Mapping[str, Any], shape: Mapping[str, Any], table: str,
                  source: str) -> None:
    for key, value in data.items():
        if (table, key) in MOVED:
            raise ConfigError(f"{source}: [{table}] {key} has moved: {MOVED[table, key]}")
        if key not in shape:
            where = f"[{table}] " if table else ""
            raise ConfigError(f"{source}: {where}unknown key {key!r} "
                              f"(known: {', '.join(sorted(shape))})")
        sub = shape[key]
        if sub is not None:
            name = f"{table}.{key}" if table else key
            if not isinstance(value, Mapping):
                raise ConfigError(f"{source}: [{name}] must be a table, got {value!r}")
            _unknown_keys(value, sub, name, source)


def _env_value(raw: str) -> Any:
    # a list is written as in TOML (`[2.0, 6.0, inf]`); scalars stay text and are coerced by
    # their field's type, so `HEATWATCH_MQTT_PROTOCOL=5` stays the string "5"
    if raw.lstrip().startswith("["):
        try:
            return tomllib.loads(f"v = {raw}")["v"]
        except tomllib.TOMLDecodeError:
            return raw
    return raw


def _env_overrides(data: dict[str, Any], shape: Mapping[str, Any], path: tuple[str, ...],
                   env: Mapping[str, str], origin: dict[tuple[str, ...], str]) -> None:
    for key, sub in shape.items():
        name = "_".join((ENV_PREFIX, *path, key)).upper()
        if sub is not None:
            table = data.get(key)
            if not isinstance(table, dict):
                table = {}
            _env_overrides(table, sub, (*path, key), env, origin)
            if table:
                data[key] = table
            continue
        if name in env:
            raw = env[name]
        elif f"{name}_FILE" in env:
            try:
                raw = Path(env[f"{name}_FILE"]).read_text(encoding="utf-8").strip()
            except OSError as e:
                raise ConfigError(f"{name}_FILE: cannot read {e.filename}: {e.strerror}") from e
            name = f"{name}_FILE"
        else:
            continue
        data[key] = _env_value(raw)
        origin[(*path, key)] = name


def _where(loc: tuple[str | int, ...]) -> tuple[str, str]:
    """(table, key) of a pydantic error location in Config, as the TOML names them."""
    section = str(loc[0]) if loc else ""
    if section in _CUSTOM:
        return _CUSTOM[section][2](loc[1:])
    parts = [str(p) for p in loc[1:]]
    table = [section]
    hints: Any = typing.get_type_hints(Config).get(section)
    while parts and hints is not None and dataclasses.is_dataclass(hints):
        sub = typing.get_type_hints(hints).get(parts[0])
        if sub is not None and dataclasses.is_dataclass(sub):
            table.append(parts.pop(0))
            hints = sub
        else:
            break
    return ".".join(table), ".".join(parts)


def _one_line(e: ValidationError, source: str, origin: Mapping[tuple[str, ...], str]) -> str:
    err = e.errors(include_url=False)[0]
    loc = tuple(p for p in err["loc"] if not isinstance(p, str) or not p.startswith("function-"))
    msg = str(err["msg"])
    if msg.startswith("Value error, "):
        msg = msg[len("Value error, "):]
    table, key = _where(loc)
    if msg.startswith("["):  # a check that names its own key
        head = msg
    else:
        got = f" (got {err['input']!r})" if "input" in err and key else ""
        head = f"[{table}] {key}: {msg}{got}" if key else f"[{table}] {msg}"
    for path, name in origin.items():
        o_table, o_key = ".".join(path[:-1]), path[-1]
        if o_table == table and (key == o_key or key.startswith((f"{o_key}[", f"{o_key}."))):
            return f"{name}: {head}"
    return f"{source}: {head}"


def _refuse_placeholders(data: Mapping[str, Any], path: tuple[str, ...], source: str,
                        origin: Mapping[tuple[str, ...], str]) -> None:
    """A password, user or URL still `change-me...` (.env.example) stops the start."""
    for key, value in data.items():
        if isinstance(value, Mapping):
            _refuse_placeholders(value, (*path, key), source, origin)
        elif isinstance(value, str) and is_placeholder(value):
            name = origin.get((*path, key), source)
            raise ConfigError(f"{name}: [{'.'.join(path)}] {key} is still the change-me "
                              "placeholder of .env.example: set a real secret")


def _read(p: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{p}: config file not found") from None
    except OSError as e:
        raise ConfigError(f"{p}: cannot read: {e.strerror}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{p}: not UTF-8 text") from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{p}: not valid TOML: {e}") from None


def load_config(path: Path | str | None = None, env: Mapping[str, str] | None = None) -> Config:
    """Defaults, then the TOML file if given, then HEATWATCH_* environment overrides; every
    key checked against its type and range."""
    source = str(path) if path is not None else "defaults"
    data = _read(Path(path)) if path is not None else {}
    shape = toml_shape()
    _unknown_keys(data, shape, "", source)
    origin: dict[tuple[str, ...], str] = {}
    _env_overrides(data, shape, (), os.environ if env is None else env, origin)
    _refuse_placeholders(data, (), source, origin)
    for name, (_, reshape, _) in _CUSTOM.items():
        if name in data:
            try:
                data[name] = reshape(data[name])
            except ValueError as e:
                raise ConfigError(f"{source}: {e}") from None
    try:
        cfg = _ADAPTER.validate_python(data)
    except ValidationError as e:
        raise ConfigError(_one_line(e, source, origin)) from None
    cfg.source = source
    try:
        cfg.alerts.check()
    except AlertsConfigError as e:
        raise ConfigError(f"{source}: [alerts] {e}") from None
    return cfg
