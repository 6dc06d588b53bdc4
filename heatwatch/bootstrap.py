"""Wire adapters to the core: the one place that knows which store, broker and files, and
the one place that builds the services and daily jobs (the alerts service with its morning
report, the analyzer's runner, the MQTT collector and the Modbus poller)."""

from __future__ import annotations

import datetime as dt
import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from collector.deadletter import DeadLetters
from collector.payloads import Registered
from district.readings import Reading
from district.records import Records, load_records
from heatwatch.common import timezone
from heatwatch.config import Config
from heatwatch.errors import UserError
from storage.base import Store, StoreError

if TYPE_CHECKING:
    from alerts.messages import Messenger
    from alerts.routing import Routing
    from alerts.service import AlertsService
    from analyzer.runner import Runner, Watermarks
    from collector.modbus_poller import ModbusPoller, Sink
    from collector.mqtt_collector import MqttCollector
    from desk.intake import Intake
    from desk.outdoor import Outdoor
    from documents.daily import DailyReport
    from workflow.incidents import IncidentStore
    from workflow.unit import Repositories, WorkflowDb


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
    return with_resolutions(cfg, load_records(cfg.records_path()))


def with_resolutions(cfg: Config, rec: Records) -> Records:
    """Each meter's register resolution: the records' columns, else its model's profile
    (collector/resolution.py); profiles are read only when a meter names one."""
    if not any(d.kind == "meter" and d.profile for d in rec.devices.values()):
        return rec
    from collector.profiles import load_profiles
    from collector.resolution import with_profile_resolutions

    return with_profile_resolutions(rec, load_profiles(cfg.modbus.profiles_dir or None))


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


def workflow_file(cfg: Config) -> Path | str:
    """The workflow database, for the commands that only read or act on what is in it (a
    PostgreSQL URL is taken as there: opening it says so if it is not)."""
    target = cfg.workflow_target()
    if isinstance(target, str):
        return target
    return require_file(cfg, target, "workflow database", "`heatwatch analyze` (or `alerts`)")


def workflow_exists(cfg: Config) -> bool:
    """Whether there is a workflow database to read (a configured PostgreSQL always is)."""
    target = cfg.workflow_target()
    return isinstance(target, str) or target.exists()


def open_workflow(cfg: Config, busy_timeout_s: float | None = None) -> WorkflowDb:
    """The workflow database as configured (`[site] workflow_url`, else the SQLite file)."""
    from workflow.unit import WorkflowDb

    return WorkflowDb(cfg.workflow_target(), busy_timeout_s or cfg.site.workflow_busy_timeout_s,
                      cfg.site.workflow_statement_timeout_s)


def incident_store(cfg: Config) -> IncidentStore:
    """The analyzer's side of the configured workflow database."""
    from workflow.incidents import IncidentStore

    return IncidentStore(cfg.workflow_target(), cfg.site.workflow_busy_timeout_s,
                         cfg.site.workflow_statement_timeout_s)


def watermarks(cfg: Config) -> Watermarks:
    from analyzer.runner import Watermarks

    return Watermarks(cfg.workflow_target(), cfg.site.workflow_busy_timeout_s)


def open_store(cfg: Config, read_only: bool = False, spool: bool = True) -> OpenedStore:
    """The configured store; InfluxDB behind the on-disk spool. `read_only` (the reporting
    commands): no spool, and a SQLite store that is not there is an error, not a new file;
    `spool=False` (a dead-letter replay): InfluxDB written directly."""
    if cfg.store.backend == "influxdb":
        from storage.arrivals import ArrivalsLog
        from storage.influx import InfluxStore
        from storage.spool import SpooledStore

        # every write logs the hours it touched, so analyzers re-read only those
        influx = ArrivalsLog(InfluxStore.from_config(cfg.store.influxdb))
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


# -- services and daily jobs --------------------------------------------------------------------

def alerts_service(cfg: Config, store: Store | None = None, daily_jobs: bool = False,
                   records_: Records | None = None,
                   clock_ms: Callable[[], int] | None = None) -> AlertsService:
    """The alerts service as configured; `store` gets the work_orders series; `daily_jobs`:
    the morning report too, when [alerts.report] names channels. The service reads its own
    ${ENV} secrets here, when it starts, and only here."""
    from alerts.config import AlertsConfigError
    from alerts.service import build_service, wall_clock_ms
    from alerts.templates import TemplateError

    try:
        svc = build_service(cfg.alerts, records(cfg) if records_ is None else records_,
                            cfg.site.data_dir, cfg.site.timezone, store=store,
                            rules=cfg.analyzer.rules(),
                            workflow=open_workflow(cfg, cfg.alerts.http.busy_timeout_s),
                            clock_ms=clock_ms or wall_clock_ms)
    except AlertsConfigError as e:
        raise UserError(f"{cfg.source}: [alerts] {e}") from None
    except TemplateError as e:
        raise UserError(str(e)) from None
    if daily_jobs and cfg.alerts.report.channels:
        # matplotlib and Chromium only for a service that prints
        from heatwatch.morning_report import MorningReportJob

        svc.daily_jobs.append(MorningReportJob(
            cfg, svc, lambda db, day, as_of_ms: daily_report(cfg, db, day, as_of_ms)))
    if daily_jobs:
        # issue 24: yesterday's scorecards and early warnings, before the morning report
        from heatwatch.early_job import EarlyWarningJob

        svc.daily_jobs.insert(0, EarlyWarningJob(
            cfg, records(cfg) if records_ is None else records_,
            lambda: open_store(cfg, spool=False).store))
    return svc


def daily_report(cfg: Config, db: Repositories, day: dt.date, as_of_ms: int | None = None
                 ) -> DailyReport:
    """The day's report from the workflow and the store, as configured."""
    from documents.daily import gather

    subs = records(cfg).substations.values()
    names = {s.substation_id: s.name for s in subs}
    design = {s.substation_id: s.design_outdoor_c for s in subs}
    opened = open_store(cfg)
    try:
        return gather(db, opened.store, day, timezone(cfg), as_of_ms, names, design,
                      cfg.analyzer.rules(), cfg.alerts.limits)
    finally:
        opened.store.close()


def analyzer_runner(cfg: Config, records_: Records, store: Store, name: str | None = None,
                    progress: Callable[[int, int], None] | None = None) -> Runner:
    """The analyzer over `store`, its incidents and watermarks in the workflow database
    (close_runner closes them). `name`: a shard's label ("" for the whole district), its
    own watermark and window state when incremental; None (the demo): neither."""
    from analyzer.runner import Runner
    from analyzer.state import WindowState

    mark = "cycle" if not name else f"cycle {name}"
    runner = Runner(store, records_, incident_store(cfg), cfg.analyzer, timezone(cfg),
                    watermarks(cfg), mark=mark, progress=progress)
    if name is not None and cfg.analyzer.incremental:
        state_dir = cfg.data_path("", "analyzer_state" + (f"_{name}" if name else ""))
        runner.state = WindowState(runner.reader, state_dir)
    return runner


def close_runner(runner: Runner) -> None:
    if runner.watermarks is not None:
        runner.watermarks.close()
    runner.workflow.close()


def mqtt_collector(cfg: Config, records_: Records, opened: OpenedStore,
                   deadletters: DeadLetters,
                   on_fatal: Callable[[BaseException], None] | None = None) -> MqttCollector:
    """MQTT devices into the opened store, refusals into the dead letters; `on_fatal`: what a
    dead writer does (default: the process exits)."""
    from collector.mqtt_collector import MqttCollector

    collector = MqttCollector(cfg.mqtt, cfg.collector, registry(records_), opened.store,
                              deadletters, spool_stats=opened.spool_stats,
                              health_sink=opened.health_sink)
    if on_fatal is not None:
        collector.on_fatal = on_fatal
    return collector


def modbus_poller(cfg: Config, records_: Records, sink: Sink,
                  clock: Callable[[], float] = time.time) -> ModbusPoller | None:
    """The poll plan for the records' Modbus meters; None when there are none."""
    from collector.modbus_plan import build_plan
    from collector.modbus_poller import ModbusPoller
    from collector.profiles import load_profiles

    m = cfg.modbus
    plan = build_plan(records_, load_profiles(m.profiles_dir or None), max_gap=m.max_gap,
                      max_count=m.max_read_registers)
    if not plan.gateways:
        return None
    return ModbusPoller(plan, sink, clock=clock, interval_s=m.interval_s, timeout_s=m.timeout_s,
                        retries=m.retries, backoff_s=m.backoff_s, backoff_max_s=m.backoff_max_s)


# -- the service desk (issue 21) ------------------------------------------------------------

def build_intake(cfg: Config, db: WorkflowDb, store: Store | None = None) -> Intake:
    """The desk's intake on this config's records, rules, crews and calendar (and, if given,
    the readings store: what the data shows of a cold-room call)."""
    from alerts.routing import Routing
    from desk.intake import Intake
    from policy.calendar import CalendarError

    try:
        calendar = cfg.desk.china_calendar()
    except CalendarError as e:
        raise UserError(f"{cfg.source}: [desk.calendar] {e}") from None
    routing = Routing(cfg.alerts.crews(resolve=False), cfg.site.timezone)
    return Intake(db, records(cfg), cfg.desk.limits, calendar,
                  cfg.analyzer.rules().season, routing, cfg.alerts.limits, cfg.site.timezone,
                  store, cfg.analyzer.rules().rooms, desk_messenger(cfg, routing),
                  cfg.analyzer.rules())


def desk_messenger(cfg: Config, routing: Routing) -> Messenger:
    """The crews' messages as the alerts service writes them: the same templates, and links
    signed with the same key (the alerts service delivers what is in the outbox)."""
    from alerts.config import AlertsConfigError, secret
    from alerts.links import LinkSigner, load_key
    from alerts.messages import Messenger
    from alerts.templates import TemplateError, load_templates

    try:
        link_secret = secret(cfg.alerts.http.link_secret, "[alerts.http] link_secret")
        templates = load_templates(cfg.alerts.templates_path or None,
                                   cfg.analyzer.rules(), cfg.alerts.limits)
    except (AlertsConfigError, TemplateError) as e:
        raise UserError(f"{cfg.source}: [alerts] {e}") from None
    signer = LinkSigner(lambda: load_key(link_secret, cfg.site.data_dir),
                        cfg.alerts.http.link_ttl_h * 3600)
    return Messenger(cfg.alerts, routing, templates, cfg.site.timezone, signer)


def readings_or_none(cfg: Config) -> OpenedStore | None:
    """The readings store if there is one to read; the desk works without it."""
    try:
        return open_store(cfg, read_only=True)
    except (UserError, StoreError, OSError):  # noqa: B014 (StoreError may be an OSError)
        return None


def measurement_outdoor(cfg: Config, account_id: str, at_ms: int) -> Outdoor:
    """The outdoor temperature of a measurement visit (issue 22): its hour's and its day's
    mean, from the stored weather or substation readings (none without a store)."""
    from desk.outdoor import Outdoor, outdoor_at

    opened = readings_or_none(cfg)
    if opened is None:
        return Outdoor(None, None, "")
    try:
        return outdoor_at(opened.store, records(cfg), account_id, at_ms, timezone(cfg))
    finally:
        opened.store.close()


def measurement_outdoor_mean(cfg: Config, store: Store | None, recs: Records
                             ) -> Callable[[str, dt.datetime], float | None]:
    """The phone page's outdoor hook (desk.measure_page.OutdoorMean) over the desk's own open
    store and records: a visit's day's outdoor mean, nothing reopened or reloaded per visit."""
    from desk.outdoor import outdoor_at

    tz = timezone(cfg)

    def mean(account_id: str, at: dt.datetime) -> float | None:
        if store is None:
            return None
        return outdoor_at(store, recs, account_id, int(at.timestamp() * 1000), tz).day_mean_c

    return mean
