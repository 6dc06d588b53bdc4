"""What `heatwatch demo` prints at its end: readings stored, comm faults, refusals, where the
data is, and what the incidents caused (orders, crews, escalations, notices, the KPI)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import sys
from collections import Counter
from decimal import Decimal
from pathlib import Path

from collector.deadletter import DeadLetters
from collector.mqtt_collector import MqttCollector
from district.readings import COMM_FAULT_MEASUREMENT, KINDS
from heatwatch.commands.analyze import incidents_command
from heatwatch.common import timezone
from heatwatch.config import Config
from policy.causes import num
from simulators.crews import CrewLog
from simulators.summary import SimSummary
from storage.base import Store


@dataclasses.dataclass(slots=True)
class CrewReport:
    """What the simulated crews and customer service did."""

    crews: dict[str, CrewLog]
    customer_service: Counter[str]


def write_morning_report(cfg: Config, start_s: float, end_s: float) -> Path:
    """Yesterday's morning report as of the demo's end (the first day if it had no
    yesterday), as HTML beside the demo's data."""
    from documents import report as printed
    from heatwatch.bootstrap import daily_report, open_workflow
    from heatwatch.morning_report import default_path

    tz = timezone(cfg)
    end = dt.datetime.fromtimestamp(end_s, tz)
    day = max(end.date() - dt.timedelta(days=1), dt.datetime.fromtimestamp(start_s, tz).date())
    db = open_workflow(cfg)
    try:
        rep = daily_report(cfg, db, day, int(end_s * 1000))
    finally:
        db.close()
    return printed.write(rep, default_path(cfg, day, "html"), "html", end)


def print_workflow(cfg: Config, data: Path, report: CrewReport, start_s: float,
                    end_s: float) -> None:
    """What the incidents caused: orders, crews' actions, escalations, notices, compensation,
    and last the repair-timeliness KPI."""
    from heatwatch.bootstrap import open_workflow
    from heatwatch.commands.alerts import kpi_command

    print("\nincidents the analyzer found:")
    incidents_command(cfg, all_=True, json_=False)
    store = open_workflow(cfg)
    try:
        orders = store.orders.find(include_closed=True)
        print(f"\nwork orders: {len(orders)}")
        for o in orders:
            print(f"  {o.order_id:<14} {o.kind:<16} {o.crew:<10} {o.state}")
        rows = store.deadlines.find()
        warned = [d for d in rows if d.warned_ms is not None]
        breached = [d for d in rows if d.breached_ms is not None]
        print("\ncrews' phones (simulated, through the crew HTTP endpoint from the link in "
              "each message):")
        for crew_id, log in sorted(report.crews.items()):
            taps = ", ".join(f"{a} {log.taps[a]}" for a in ("accept", "contact", "arrive",
                                                             "resolve"))
            refused = sum(log.refused.values())
            print(f"  {crew_id:<10} {taps}; not taken {log.ignored}"
                  + (f"; refused {refused}" if refused else ""))
        cs = report.customer_service
        print(f"return visits by customer service: {cs['visit']}, orders closed: "
              f"{cs['close']} (the others' visits fall due after the demo)")
        print(f"\nescalations to the supervisor: {len(warned)} at 80 % of a limit, "
              f"{len(breached)} at breach")
        notices = store.notices.find()
        over_h = num(cfg.analyzer.rules().outages.over_h)
        print(f"\nresident notices (outage over {over_h} h): {len(notices)}")
        for n in notices[:5]:
            print(f"  {n['account_id']:<10} {n['building_id']:<8} {n['delivery']:<8} "
                  f"{n['reason']}")
        if len(notices) > 5:
            print(f"  ... {len(notices) - 5} more (heatwatch notices --config "
                  f"{data / 'heatwatch.toml'})")
        comp = store.compensation.find()
        if comp:
            total = sum(Decimal(str(c.get("amount_cny", 0))) for c in comp)
            print(f"compensation records: {len(comp)}, {total} 元 in all")
    finally:
        store.close()
    config = data / "heatwatch.toml"
    # issue 20: the commands as of the demo's end reproduce these figures (not as of today)
    at = dt.datetime.fromtimestamp(end_s, timezone(cfg)).isoformat()
    print(f"\nrepair timeliness, orders decided by the end (heatwatch kpi --by crew "
          f"--at {at} --config {config}):")
    kpi_command(cfg, "crew", "all", False, at=end_s)
    kpi_command(cfg, "all", "all", False, at=end_s)
    print(f"late orders, each step's due and done time: heatwatch orders --all --late "
          f"--at {at} --config {config}")
    path = write_morning_report(cfg, start_s, end_s)
    print(f"\nmorning report (日报), {path.stem.removeprefix('report-')}: {path}")


def print_summary(store: Store, deadletters: DeadLetters, sim: SimSummary,
                   faults: dict[str, Counter[str]], bound: dict[str, str], data: Path,
                   elapsed_s: float, collector: MqttCollector) -> None:
    print(f"\ndone in {elapsed_s:.0f} s wall time")
    print("\nreadings stored, per kind:")
    for kind in (*KINDS, COMM_FAULT_MEASUREMENT):
        n = len(store.read_window(kind, 0, 2**53))
        print(f"  {kind:<12} {n:>8,}")
    print("\ncomm faults per gateway (records address):")
    any_fault = False
    for gw in sorted(faults):
        if faults[gw]:
            any_fault = True
            causes = ", ".join(f"{c} {n}" for c, n in sorted(faults[gw].items()))
            print(f"  {gw:<22} {causes}")
    if not any_fault:
        print("  none")
    print(f"  ({len(bound)} gateways; the others answered every poll)")
    print("\nrejected MQTT readings, per cause:")
    counts = deadletters.counts()
    for cause, n in counts.items():
        print(f"  {cause:<16} {n}")
    if not counts:
        print("  none")
    print(f"\nbehaviours injected: {len(sim.behaviours)}")
    for b in sim.behaviours:
        print("  " + "  ".join(f"{k}={v}" for k, v in b.items()))
    print(f"\nthe data is in {data}:")
    print(f"  readings      {data / 'readings.sqlite'}  (SQLite, one table per measurement)")
    print(f"  dead letters  {data / 'deadletter.sqlite'}")
    print(f"  config        {data / 'heatwatch.toml'}  (try: heatwatch deadletters --config "
          f"{data / 'heatwatch.toml'})")
    print(f"  collector     {collector.stats.messages:,} messages, "
          f"{collector.stats.readings:,} readings, {collector.stats.acked:,} acked")


class ProgressBar:
    """One line on stderr, redrawn in place."""

    def __init__(self, start_s: float, width: int = 32) -> None:
        self.start_s, self.width = start_s, width
        self.last = -1

    def __call__(self, fraction: float, now_s: float) -> None:
        pct = int(fraction * 100)
        if not sys.stderr.isatty():
            pct -= pct % 10  # a log file gets a line per tenth, not a redraw per percent
        if pct == self.last:
            return
        self.last = pct
        filled = int(fraction * self.width)
        when = dt.datetime.fromtimestamp(now_s, dt.timezone(dt.timedelta(hours=8)))
        tty = sys.stderr.isatty()
        bar = "#" * filled + "." * (self.width - filled)
        line = f"  [{bar}] {pct:3d}%  district time {when:%Y-%m-%d %H:%M}"
        sys.stderr.write("\r" + line if tty else line + "\n")
        sys.stderr.flush()

    def done(self) -> None:
        sys.stderr.write("\n")
