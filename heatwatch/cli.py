"""The `heatwatch` command: one clear line and a non-zero exit for every user mistake."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import NoReturn

from alerts.templates import TemplateError
from collector.modbus_plan import PlanError
from collector.profiles import ProfileError
from district.records import RecordsError
from documents.browser import BrowserError
from heatwatch.commands.alerts import AlertsCliError, add_alerts_parsers
from heatwatch.commands.calls import add_calls_parsers
from heatwatch.commands.desk import add_desk_parsers
from heatwatch.commands.measurements import add_measurement_parsers
from heatwatch.commands.scorecard import add_scorecard_parser
from heatwatch.common import CommandError
from heatwatch.config import Config, ConfigError, load_config
from heatwatch.errors import UserError
from storage.base import StoreError
from workflow.db import WorkflowError

log = logging.getLogger("heatwatch")


def parse_instant(text: str) -> float:
    """An RFC 3339 instant with an offset, as epoch seconds."""
    try:
        dt = datetime.fromisoformat(text)
    except ValueError:
        raise UserError(f"--at {text!r} is not an RFC 3339 time "
                        "(e.g. 2026-12-01T08:00:00+08:00)") from None
    if dt.tzinfo is None:
        raise UserError(f"--at {text!r} needs a UTC offset (e.g. +08:00)")
    return dt.timestamp()


def _config(args: argparse.Namespace) -> Config:
    return load_config(args.config)


def cmd_collect(args: argparse.Namespace) -> int:
    from heatwatch.services import run_collector

    return run_collector(_config(args))


def cmd_demo(args: argparse.Namespace) -> int:
    # the simulators are imported by the demo's commands only, never by production paths
    from heatwatch.demo import run_demo
    from simulators.scenario import ScenarioError

    try:
        return run_demo(_config(args) if args.config else None, hours=args.hours,
                        data_dir=args.data_dir, scenario_name=args.scenario, speed=args.speed,
                        serve=args.serve)
    except ScenarioError as e:
        raise UserError(str(e)) from None


def cmd_simulate(args: argparse.Namespace) -> int:
    from heatwatch.demo import run_simulator
    from simulators.scenario import ScenarioError

    cfg = _config(args)
    if args.scenario:
        cfg.simulator.scenario = args.scenario
    if args.speed is not None:
        cfg.simulator.speed = args.speed
    try:
        return run_simulator(cfg)
    except ScenarioError as e:
        raise UserError(str(e)) from None


def cmd_analyze(args: argparse.Namespace) -> int:
    from heatwatch.commands.analyze import analyze_command

    if args.to is not None and args.from_ is None:
        raise UserError("--to needs --from (a back-fill over [--from, --to])")
    if args.from_ is not None and (args.once or args.at is not None):
        raise UserError("--from/--to is a back-fill; it does not take --once or --at")
    return analyze_command(_config(args), args.once, args.at, from_=args.from_, to=args.to)


def cmd_devices(args: argparse.Namespace) -> int:
    from heatwatch.commands.devices import devices_command

    return devices_command(_config(args), args.never, args.json)


def cmd_incidents(args: argparse.Namespace) -> int:
    from heatwatch.commands.analyze import incidents_command

    return incidents_command(_config(args), args.all, args.json)


def cmd_billing(args: argparse.Namespace) -> int:
    from heatwatch.commands.billing import billing_command

    return billing_command(_config(args), args.account, args.season, args.json)


def cmd_dispute(args: argparse.Namespace) -> int:
    from heatwatch.commands.dispute import dispute_command

    return dispute_command(_config(args), args.account, args.season, args.out, args.json,
                           args.error_pct, args.dtheta_k, args.dtheta_min_k, args.qp_over_q,
                           args.billed_kwh, format_=args.format, force=args.force)


def cmd_refunds(args: argparse.Namespace) -> int:
    from heatwatch.commands.refunds import refunds_command

    return refunds_command(_config(args), args.season, args.csv, args.json, force=args.force)


def cmd_report(args: argparse.Namespace) -> int:
    from heatwatch.commands.report import report_command

    return report_command(_config(args), args.day, args.format, args.out, args.send, args.json,
                          args.at, force=args.force)


def cmd_records(args: argparse.Namespace) -> int:
    from heatwatch.bootstrap import records

    rec = records(_config(args))
    kinds: dict[str, int] = {}
    for d in rec.devices.values():
        kinds[d.kind] = kinds.get(d.kind, 0) + 1
    print(f"records OK: {len(rec.substations)} substations, {len(rec.buildings)} buildings, "
          f"{len(rec.accounts)} accounts, {len(rec.devices)} devices "
          f"({', '.join(f'{n} {k}' for k, n in sorted(kinds.items()))})")
    return 0


def cmd_deadletters(args: argparse.Namespace) -> int:
    from zoneinfo import ZoneInfo

    from heatwatch.bootstrap import open_deadletters

    cfg = _config(args)
    if args.action == "replay":
        return _replay_deadletters(cfg, args.cause)
    dl = open_deadletters(cfg, read_only=True)
    try:
        counts = dl.counts()
        recent = dl.recent(args.limit, args.cause)
    finally:
        dl.close()
    zone = ZoneInfo(cfg.site.timezone)

    def when(ms: int) -> str:
        # the site's time, as every other command shows it
        return datetime.fromtimestamp(ms / 1000, zone).isoformat(timespec="seconds")

    if args.json:
        print(json.dumps({
            "counts": counts,
            "recent": [{"id": d.id, "received_ms": d.received_ms, "received": when(d.received_ms),
                        "cause": d.cause, "topic": d.topic, "detail": d.detail,
                        "payload_bytes": d.payload_bytes,
                        "payload": d.payload[:512].decode("utf-8", "replace")} for d in recent],
        }, ensure_ascii=False, indent=2))
        return 0
    if not counts:
        print("no dead letters")
        return 0
    print("rejections by cause:")
    for cause, n in counts.items():
        print(f"  {cause:<16} {n}")
    print(f"\nlatest {len(recent)} ({cfg.site.timezone}):")
    for d in recent:
        print(f"  {when(d.received_ms)}  {d.cause:<16} {d.topic:<32} {d.detail}")
    return 0


def _replay_deadletters(cfg: Config, cause: str | None) -> int:
    from collector.payloads import CAUSES
    from collector.replay import replay
    from heatwatch.bootstrap import open_deadletters, open_store, records, registry
    from storage.base import StoreUnavailable

    if not cause:
        raise UserError("deadletters replay needs --cause C (see `heatwatch deadletters`)")
    if cause not in CAUSES:
        raise UserError(f"--cause {cause!r} is not a cause ({', '.join(CAUSES)})")
    reg = registry(records(cfg))
    # straight to the store, not through the spool: the running collector owns the spool
    opened = open_store(cfg, spool=False)
    dl = open_deadletters(cfg)
    try:
        result = replay(dl, cause, reg, opened.store, cfg.mqtt.topic_prefix,
                        cfg.mqtt.max_payload_bytes)
    except StoreUnavailable as e:
        print(f"heatwatch: error: store unavailable, replay stopped (what was replayed "
              f"before stays stored): {e}", file=sys.stderr)
        return 1
    finally:
        dl.close()
        opened.store.close()
    print(result.line(cause))
    return 0


class _Parser(argparse.ArgumentParser):
    """argparse, with a usage mistake as one line like every other mistake."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


# `command(name, fn, help)`: a subcommand with --config that runs fn(args)
Handler = Callable[[argparse.Namespace], int]
CommandAdder = Callable[[str, Handler, str], argparse.ArgumentParser]


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="heatwatch", description=__doc__)
    p.add_argument("--log-level", default=None,
                   help="DEBUG, INFO, WARNING or ERROR (default INFO; the demo: WARNING)")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, fn: Handler, help_: str) -> argparse.ArgumentParser:
        sp = sub.add_parser(name, help=help_, description=help_)
        sp.add_argument("--config", metavar="FILE.toml", help="config file (default: built-in)")
        sp.set_defaults(fn=fn)
        return sp

    _add_running_commands(command)
    _add_analyzer_commands(command)
    _add_document_commands(command)
    add_alerts_parsers(command, _instant_arg, _config)
    add_calls_parsers(command, _instant_arg, _config)
    add_desk_parsers(command, _config)
    add_measurement_parsers(command, _instant_arg, _config)
    add_scorecard_parser(command, _config)
    return p


def _add_running_commands(command: CommandAdder) -> None:
    """The processes and the records: collect, demo, simulate, records, deadletters."""
    command("collect", cmd_collect, "run the collectors until SIGTERM")
    sp = command("demo", cmd_demo, "the whole system on a simulated district, embedded")
    sp.add_argument("--hours", type=float, default=None, help="district hours to simulate")
    sp.add_argument("--data-dir", default=None, help="where the demo keeps its data "
                    "(default: <data_dir>/demo, emptied first)")
    sp.add_argument("--scenario", default=None, help="bundled scenario name or TOML path")
    sp.add_argument("--speed", type=float, default=None, help="district seconds per second")
    sp.add_argument("--serve", action="store_true", help="keep the crews' HTTP endpoint up "
                    "after the summary, on the demo's clock, until Ctrl-C")
    sp = command("simulate", cmd_simulate, "simulated devices: MQTT sensors and Modbus gateways")
    sp.add_argument("--scenario", default=None, help="bundled scenario name or TOML path")
    sp.add_argument("--speed", type=float, default=None, help="district seconds per second")
    command("records", cmd_records, "check the heating company's records and summarise them")
    sp = command("deadletters", cmd_deadletters,
                 "refused readings: counts by cause, latest; `replay --cause C` stores them "
                 "again once the cause is fixed")
    sp.add_argument("action", nargs="?", choices=["replay"], default=None,
                    help="replay: parse and store the dead letters of --cause again")
    sp.add_argument("--cause", default=None)
    sp.add_argument("--limit", type=int, default=20)
    sp.add_argument("--json", action="store_true")


def _season_arg(sp: argparse.ArgumentParser) -> None:
    sp.add_argument("--season", type=int, required=True, metavar="YYYY",
                    help="the season starting in this year")


def _add_analyzer_commands(command: CommandAdder) -> None:
    """analyze, devices, incidents, billing."""
    sp = command("analyze", cmd_analyze, "find cold rooms, meter faults, leaks and outages")
    sp.add_argument("--once", action="store_true", help="one evaluation, then exit")
    sp.add_argument("--at", type=_instant_arg, default=None, help="as of this RFC 3339 instant")
    sp.add_argument("--from", dest="from_", type=_instant_arg, default=None,
                    help="back-fill from this RFC 3339 instant (the same incidents as live)")
    sp.add_argument("--to", type=_instant_arg, default=None,
                    help="end of the back-fill (default: now)")
    sp = command("devices", cmd_devices, "every device and when it first reported; "
                 "--never: those never heard from")
    sp.add_argument("--never", action="store_true")
    sp.add_argument("--json", action="store_true")
    sp = command("incidents", cmd_incidents, "what is open (or --all), as a table or --json")
    sp.add_argument("--all", action="store_true")
    sp.add_argument("--json", action="store_true")
    sp = command("billing", cmd_billing, "an account's season bill, day by day, both ways")
    sp.add_argument("account")
    _season_arg(sp)
    sp.add_argument("--json", action="store_true")


def _add_document_commands(command: CommandAdder) -> None:
    """dispute, refunds, report."""
    sp = command("dispute", cmd_dispute, "the evidence file for a meter-reading dispute")
    sp.add_argument("account")
    _season_arg(sp)
    sp.add_argument("--out", default=None, metavar="FILE", help="write here (default: stdout)")
    sp.add_argument("--force", action="store_true", help="overwrite an existing --out file")
    sp.add_argument("--json", action="store_true", help="the same as --format json")
    sp.add_argument("--format", choices=("html", "pdf", "md", "json"), default=None,
                    help="html or pdf (printable, A4, with charts), md (default) or json")
    sp.add_argument("--error-pct", type=float, default=None, metavar="X",
                    help="measured error of the verification (校表), in percent")
    sp.add_argument("--dtheta-k", type=float, default=10.0, help="Δθ of the verification, K")
    sp.add_argument("--dtheta-min-k", type=float, default=3.0, help="Δθmin of the meter, K")
    sp.add_argument("--qp-over-q", type=float, default=10.0, help="qp / q of the verification")
    sp.add_argument("--billed-kwh", type=float, default=None,
                    help="energy in dispute (default: the season's metered kWh)")
    sp = command("refunds", cmd_refunds, "what each household is owed this season: outage "
                 "compensation and under-temperature refunds, with totals")
    _season_arg(sp)
    sp.add_argument("--csv", default=None, metavar="FILE", help="also write a CSV "
                    "(UTF-8 with BOM, for spreadsheets)")
    sp.add_argument("--force", action="store_true", help="overwrite an existing --csv file")
    sp.add_argument("--json", action="store_true")
    sp = command("report", cmd_report, "the morning report (日报) of one day: compliance, "
                 "outages, leaks, meter faults, orders by crew and the KPI, on A4 in Chinese")
    sp.add_argument("--day", required=True, metavar="YYYY-MM-DD")
    sp.add_argument("--format", choices=("html", "pdf"), default="html")
    sp.add_argument("--out", default=None, metavar="FILE",
                    help="write here (default: <data_dir>/reports/report-<day>.<format>)")
    sp.add_argument("--force", action="store_true", help="overwrite an existing --out file")
    sp.add_argument("--send", default=None, metavar="CHANNEL",
                    help="also mail it now through this [[alerts.channel]] (once per day)")
    sp.add_argument("--json", action="store_true", help="the figures as JSON, nothing written")
    sp.add_argument("--at", type=_instant_arg, default=None,
                    help="as of this RFC 3339 instant (default: the end of the day)")


def _instant_arg(text: str) -> float:
    try:
        return parse_instant(text)
    except UserError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def store_line(e: StoreError) -> str:
    """A store error as one line, with the cause's words instead of its repr."""
    text = str(e)
    cause = e.__cause__
    if cause is not None:
        words = cause.strerror if isinstance(cause, OSError) and cause.strerror else str(cause)
        text = text.replace(repr(cause), words or type(cause).__name__)
    if isinstance(cause, OSError):
        text += " (is it running? [store.influxdb] url)"
    return text


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; a reader that closes the pipe (`| head`) ends it quietly."""
    try:
        code = _run(argv)
        sys.stdout.flush()
        return code
    except BrokenPipeError:
        # Python docs, "Note on SIGPIPE": point stdout at devnull so the flush at exit
        # cannot fail again, and stop without a word: the reader has what it wanted
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0


def _run(argv: Sequence[str] | None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    level = args.log_level or ("WARNING" if args.command == "demo" else "INFO")
    logging.basicConfig(level=getattr(logging, str(level).upper(), logging.INFO),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        fn: Handler = args.fn
        return fn(args)
    except RecordsError as e:
        for problem in e.problems[:50]:
            print(f"heatwatch: records: {problem}", file=sys.stderr)
        if len(e.problems) > 50:
            print(f"heatwatch: records: ... {len(e.problems) - 50} more", file=sys.stderr)
        return 2
    except (ConfigError, UserError, ProfileError, PlanError, AlertsCliError,
            TemplateError, CommandError, BrowserError, WorkflowError) as e:
        print(f"heatwatch: error: {e}", file=sys.stderr)
        return 2
    except StoreError as e:
        print(f"heatwatch: error: {store_line(e)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
