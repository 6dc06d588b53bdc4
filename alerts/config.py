"""The `[alerts]` config section: limits, crews, roster, channels, delivery; seed defaults."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any

from annotated_types import Ge, Gt, Interval

from district.secrets import is_placeholder
from policy.service import ServiceLimits


class AlertsConfigError(Exception):
    """An `[alerts]` setting that cannot be used; the message is one line."""


# the service limits are the policy's (policy.service.ServiceLimits); the outage notice is
# not a service limit: one setting, the outages' own
NOTICE_MOVED_TO = "when residents get an outage's notice is set by [analyzer.outages] over_h"
MOVED_NOTICE = f"[alerts.limits] outage_notice_h has moved: {NOTICE_MOVED_TO}"


@dataclass(slots=True)
class DeliveryConfig:
    """Outbox retry with exponential backoff, per channel."""

    retry_base_s: float = 2.0
    retry_max_s: float = 300.0
    max_attempts: Annotated[int, Ge(0)] = 0  # 0: retry for ever (never dropped silently)
    timeout_s: Annotated[float, Gt(0)] = 5.0
    batch: Annotated[int, Ge(1)] = 500
    tick_s: Annotated[float, Gt(0)] = 1.0


@dataclass(slots=True)
class HttpConfig:
    """The crews' action endpoint (phones follow links to it)."""

    enabled: bool = True
    host: str = "127.0.0.1"
    port: Annotated[int, Interval(ge=1, le=65535)] = 8765
    # what the links in messages start with; empty: http://<host>:<port>
    base_url: str = ""
    # signs each member's link; written as ${ENV}; empty: a key file the service makes in
    # its data dir (alerts-link.key, 0600)
    link_secret: str = ""
    link_ttl_h: Annotated[float, Gt(0)] = 72.0  # a link opens its order this long
    # a request body larger than this is refused (413) before it is read
    max_body_bytes: Annotated[int, Interval(ge=256, le=1 << 20)] = 16384
    # a crew or dispatcher note longer than this is refused (400 over HTTP)
    max_note_chars: Annotated[int, Interval(ge=16, le=8192)] = 1000
    # a client that has not sent a whole request (headers, or body) in this long is dropped
    read_timeout_s: Annotated[float, Gt(0)] = 10.0
    max_connections: Annotated[int, Interval(ge=8, le=100000)] = 1000
    # failed link lookups per client address and minute before it is answered 429
    max_failed_links: Annotated[int, Interval(ge=1, le=100000)] = 30
    # how long a store call waits for another process's write lock before it is "busy"
    busy_timeout_s: Annotated[float, Gt(0)] = 10.0


@dataclass(slots=True)
class Shift:
    """One duty-roster line: a member on duty on these weekdays between two hours."""

    member: str
    weekdays: tuple[int, ...] = (0, 1, 2, 3, 4, 5, 6)  # Monday = 0
    start_h: float = 0.0
    end_h: float = 24.0


@dataclass(slots=True)
class Crew:
    """A repair crew: which substations it serves, who is in it, where its orders go."""

    crew_id: str
    name: str = ""
    substations: tuple[str, ...] = ()  # empty: a catch-all crew for unrouted substations
    members: tuple[str, ...] = ()
    channels: tuple[str, ...] = ()
    token: str = ""  # no longer used: each member's link is signed (alerts/links.py)
    roster: tuple[Shift, ...] = ()

    def people(self) -> tuple[str, ...]:
        """Everyone in the crew: its members and whoever its roster names, in that order."""
        out = list(self.members)
        out += [s.member for s in self.roster if s.member not in out]
        return tuple(out)


@dataclass(slots=True)
class ChannelSpec:
    """A delivery channel: kind apprise | wecom | dingtalk | mqtt | sms."""

    name: str
    kind: str
    url: str = ""  # apprise URL; for sms a URL with {phone} in it
    key: str = ""  # WeCom robot key
    access_token: str = ""  # DingTalk robot access_token
    secret: str = ""  # DingTalk signing secret (optional)
    base_url: str = ""  # robot API base; empty: the platform's own
    host: str = "127.0.0.1"  # MQTT broker
    port: int = 1883
    username: str = ""
    password: str = ""
    topic_prefix: str = "heat/orders"


@dataclass(slots=True)
class ReportConfig:
    """The morning report (日报): mailed once a day at `hour` (local) to these channels."""

    hour: Annotated[int, Interval(ge=0, le=23)] = 7
    channels: list[str] = field(default_factory=list)  # empty: not sent by the service


CHANNEL_KINDS = ("apprise", "wecom", "dingtalk", "mqtt", "sms")


@dataclass(slots=True)
class AlertsConfig:
    """Everything `heatwatch alerts` needs; crews and channels are lists of tables."""

    templates_path: str = ""  # empty: the bundled Chinese templates
    limits: ServiceLimits = field(default_factory=ServiceLimits)
    delivery: DeliveryConfig = field(default_factory=DeliveryConfig)
    http: HttpConfig = field(default_factory=HttpConfig)
    report: ReportConfig = field(default_factory=ReportConfig)
    supervisor_channels: list[str] = field(default_factory=list)
    resident_channel: str = ""  # a channel of kind sms; empty: notices are records only
    # how often the work_orders series (open / late per crew) goes to the time-series store
    series_every_s: float = 60.0
    crew: list[dict[str, Any]] = field(default_factory=list)
    channel: list[dict[str, Any]] = field(default_factory=list)

    def crews(self, resolve: bool = True) -> list[Crew]:
        """The `[[alerts.crew]]` tables as typed crews, checked; `resolve` reads the `${ENV}`
        secrets (only the alerts service does, when it starts)."""
        out = [_crew(d, i, resolve) for i, d in enumerate(self.crew)]
        seen: set[str] = set()
        for c in out:
            if c.crew_id in seen:
                raise AlertsConfigError(f"[[alerts.crew]] duplicate id {c.crew_id!r}")
            seen.add(c.crew_id)
        return out

    def channels(self, resolve: bool = True) -> list[ChannelSpec]:
        """The `[[alerts.channel]]` tables as typed channel specs, checked."""
        out = [_channel(d, i, resolve) for i, d in enumerate(self.channel)]
        names = {c.name for c in out}
        if len(names) != len(out):
            raise AlertsConfigError("[[alerts.channel]] names must be unique")
        for crew in self.crews(resolve):
            for name in crew.channels:
                if name not in names:
                    raise AlertsConfigError(f"crew {crew.crew_id!r}: unknown channel {name!r}")
        for name in self.supervisor_channels:
            if name not in names:
                raise AlertsConfigError(f"[alerts] supervisor_channels: unknown channel {name!r}")
        for name in self.report.channels:
            if name not in names:
                raise AlertsConfigError(f"[alerts.report] channels: unknown channel {name!r}")
        if self.resident_channel and self.resident_channel not in names:
            raise AlertsConfigError(f"[alerts] resident_channel: unknown channel "
                                    f"{self.resident_channel!r}")
        return out

    def check(self) -> None:
        """Fail with one clear line before anything starts; secrets are not read here."""
        lim = self.limits
        if not self.series_every_s > 0:
            raise AlertsConfigError("[alerts] series_every_s must be positive")
        if not 0 < lim.escalation_share < 1:
            raise AlertsConfigError("[alerts.limits] escalation_share must be between 0 and 1")
        if not 0 < lim.timeliness_target <= 1:
            raise AlertsConfigError("[alerts.limits] timeliness_target must be in (0, 1]")
        if lim.clock_from not in ("start", "detection"):
            raise AlertsConfigError("[alerts.limits] clock_from must be \"start\" or "
                                    f"\"detection\", not {lim.clock_from!r}")
        for name in ("leak_on_site_min", "contact_min", "on_site_min", "return_visit_h",
                     "station_opinion_min", "confirm_station_h", "confirm_device_h",
                     "confirm_room_h", "maintenance_working_days"):
            if getattr(lim, name) <= 0:
                raise AlertsConfigError(f"[alerts.limits] {name} must be positive")
        d = self.delivery
        if not 0 < d.retry_base_s <= d.retry_max_s:
            raise AlertsConfigError("[alerts.delivery] needs 0 < retry_base_s <= retry_max_s")
        self.channels(resolve=False)

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> AlertsConfig:
        """Build from a parsed `[alerts]` TOML table (for tests and tools)."""
        cfg = cls()
        for key, value in data.items():
            if key == "limits":
                if isinstance(value, Mapping) and "outage_notice_h" in value:
                    raise AlertsConfigError(MOVED_NOTICE)
                _set_fields(cfg.limits, value, "[alerts.limits]")
            elif key == "delivery":
                _set_fields(cfg.delivery, value, "[alerts.delivery]")
            elif key == "http":
                _set_fields(cfg.http, value, "[alerts.http]")
            elif key == "report":
                _set_fields(cfg.report, value, "[alerts.report]")
            elif key in ("templates_path", "resident_channel",
                         "supervisor_channels", "crew", "channel", "series_every_s"):
                setattr(cfg, key, value)
            else:
                raise AlertsConfigError(f"[alerts]: unknown key {key!r}")
        cfg.check()
        return cfg


def _set_fields(obj: object, data: Any, where: str) -> None:
    if not isinstance(data, Mapping):
        raise AlertsConfigError(f"{where} must be a table")
    for key, value in data.items():
        if not hasattr(obj, key):
            raise AlertsConfigError(f"{where}: unknown key {key!r}")
        current = getattr(obj, key)
        if isinstance(current, float) and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if type(value) is not type(current):
            raise AlertsConfigError(f"{where} {key}: expected {type(current).__name__}, "
                                    f"got {value!r}")
        setattr(obj, key, value)


_SECRET_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def secret(value: str, where: str, env: Mapping[str, str] | None = None) -> str:
    """`${NAME}` in a token, key or URL is read from the environment, so secrets stay out
    of config files and the repo; an unset name is an error, not an empty secret."""
    environ = os.environ if env is None else env

    def look_up(m: re.Match[str]) -> str:
        if m.group(1) not in environ:
            raise AlertsConfigError(f"{where}: environment variable {m.group(1)} is not set")
        if is_placeholder(environ[m.group(1)]):
            raise AlertsConfigError(f"{where}: environment variable {m.group(1)} is still the "
                                    "change-me placeholder of .env.example: set a real secret")
        return environ[m.group(1)]

    return _SECRET_REF.sub(look_up, value)


def _strs(d: Mapping[str, Any], key: str, where: str) -> tuple[str, ...]:
    v = d.get(key, [])
    if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
        raise AlertsConfigError(f"{where}: {key} must be a list of strings")
    return tuple(v)


def _crew(d: Mapping[str, Any], i: int, resolve: bool) -> Crew:
    where = f"[[alerts.crew]] #{i + 1}"
    if not isinstance(d, Mapping):
        raise AlertsConfigError(f"{where} must be a table")
    known = {"id", "name", "substations", "members", "channels", "token", "roster"}
    extra = set(d) - known
    if extra:
        raise AlertsConfigError(f"{where}: unknown key(s) {', '.join(sorted(extra))}")
    crew_id = d.get("id")
    if not isinstance(crew_id, str) or not crew_id:
        raise AlertsConfigError(f"{where}: needs an id")
    where = f"crew {crew_id!r}"
    token = d.get("token", "")
    if not isinstance(token, str):
        raise AlertsConfigError(f"{where}: token must be a string")
    if resolve:
        token = secret(token, f"{where} token")
    roster = []
    for j, s in enumerate(d.get("roster", [])):
        if not isinstance(s, Mapping) or not isinstance(s.get("member"), str):
            raise AlertsConfigError(f"{where} roster #{j + 1}: needs a member")
        days = s.get("weekdays", list(range(7)))
        if not isinstance(days, list) or not all(isinstance(x, int) and 0 <= x <= 6
                                                 for x in days):
            raise AlertsConfigError(f"{where} roster #{j + 1}: weekdays are 0 (Mon) .. 6 (Sun)")
        start_h, end_h = float(s.get("start_h", 0.0)), float(s.get("end_h", 24.0))
        if not 0 <= start_h <= 24 or not 0 <= end_h <= 24:
            raise AlertsConfigError(f"{where} roster #{j + 1}: hours are 0..24")
        roster.append(Shift(s["member"], tuple(days), start_h, end_h))
    for name in (*_strs(d, "members", where), *(s.member for s in roster)):
        # a member's name is signed into their link and shown on their page
        if not name.strip() or any(ord(c) < 32 for c in name):
            raise AlertsConfigError(f"{where}: member {name!r} is not a name")
    return Crew(crew_id, str(d.get("name", crew_id)), _strs(d, "substations", where),
                _strs(d, "members", where), _strs(d, "channels", where), token, tuple(roster))


def _channel(d: Mapping[str, Any], i: int, resolve: bool) -> ChannelSpec:
    where = f"[[alerts.channel]] #{i + 1}"
    if not isinstance(d, Mapping):
        raise AlertsConfigError(f"{where} must be a table")
    name, kind = d.get("name"), d.get("kind")
    if not isinstance(name, str) or not name:
        raise AlertsConfigError(f"{where}: needs a name")
    if kind not in CHANNEL_KINDS:
        raise AlertsConfigError(f"channel {name!r}: kind must be one of {', '.join(CHANNEL_KINDS)}")
    spec = ChannelSpec(name, str(kind))
    for key, value in d.items():
        if key not in ("name", "kind"):
            setattr(spec, key, _channel_value(spec, key, value, resolve))
    _check_channel(spec)
    return spec


def _channel_value(spec: ChannelSpec, key: str, value: object, resolve: bool) -> object:
    """One key of a channel, of the type of its default; a string's ${ENV} resolved."""
    name = spec.name
    if not hasattr(spec, key):
        raise AlertsConfigError(f"channel {name!r}: unknown key {key!r}")
    if type(value) is not type(getattr(spec, key)):
        raise AlertsConfigError(f"channel {name!r}: {key} has the wrong type")
    if isinstance(value, str) and resolve:
        return secret(value, f"channel {name!r} {key}")
    return value


def _check_channel(spec: ChannelSpec) -> None:
    """What each kind of channel cannot do without."""
    name = spec.name
    if not 1 <= spec.port <= 65535:
        raise AlertsConfigError(f"channel {name!r}: port must be 1..65535, got {spec.port}")
    if spec.kind in ("apprise", "sms") and not spec.url:
        raise AlertsConfigError(f"channel {name!r}: needs a url")
    if spec.kind == "sms" and "{phone}" not in spec.url:
        raise AlertsConfigError(f"channel {name!r}: an sms url needs a {{phone}} placeholder")
    if spec.kind == "wecom" and not spec.key:
        raise AlertsConfigError(f"channel {name!r}: a wecom robot needs its key")
    if spec.kind == "dingtalk" and not spec.access_token:
        raise AlertsConfigError(f"channel {name!r}: a dingtalk robot needs its access_token")
