"""`heatwatch demo`: the whole system on a simulated district, on embedded defaults."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import math
import secrets
import shutil
import sys
import time
from collections import Counter
from decimal import Decimal
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from alerts.service import build_service
from analyzer.runner import Runner, Watermarks
from collector.deadletter import DeadLetters
from collector.modbus_poller import ModbusPoller
from collector.mqtt_collector import MqttCollector
from district.readings import COMM_FAULT_MEASUREMENT, KINDS
from district.records import Records, load_records
from heatwatch import bootstrap
from heatwatch.broker import EmbeddedBroker, free_port
from heatwatch.commands.analyze import analyzer_config, incidents_command, timezone, workflow_path
from heatwatch.config import Config, load_config
from heatwatch.errors import UserError
from heatwatch.services import modbus_poller, simulator_mqtt
from simulators.clock import VirtualClock
from simulators.district import DistrictSim, SimSummary
from simulators.scenario import Scenario, load_scenario
from storage.base import Store
from workflow.incidents import IncidentStore

MARKER = "# written by heatwatch demo: points the commands at the demo's data"

# The analyzer runs every few district hours, as `heatwatch analyze` does every 5 minutes.
ANALYZE_EVERY_H = 2

# A few payloads a misbehaving device might send, to show refusals counted by cause.
BAD_PAYLOADS = [
    ("heat/room/UNKNOWN-1", b'{"ts": 1733097600, "temp_c": 20.5}'),
    ("heat/weather/WX-1", b"{not json"),
    ("heat/weather/WX-1", b'{"outdoor_c": -5}'),
    ("heat/weather/WX-1", b'{"ts": 1733097600, "outdoor_c": "cold"}'),
    ("heat/weather/WX-1", b'{"ts": 1733097600, "outdoor_c": NaN}'),
]


class DemoWorkflow:
    """The analyzer and the alerts service, stepped on district time."""

    def __init__(self, cfg: Config, records: Records, store: Store) -> None:
        tz = timezone(cfg)
        path = workflow_path(cfg)
        self.incidents = IncidentStore(path)
        self.marks = Watermarks(path)
        self.runner = Runner(store, records, self.incidents,
                             analyzer_config(cfg), tz, self.marks)
        self.alerts = build_service(cfg.alerts, records, cfg.site.data_dir, cfg.site.timezone,
                                    clock_ms=lambda: self.now_ms, store=store,
                                    rules=cfg.analyzer.rules(), workflow_path=path)
        self.now_ms = 0
        self.every_ms = int(ANALYZE_EVERY_H * 3600 * 1000)
        self.last_analyzed_ms = 0

    def step(self, now_ms: int, analyze: bool = False) -> None:
        self.now_ms = now_ms
        if analyze or now_ms - self.last_analyzed_ms >= self.every_ms:
            self.runner.run_cycle(now_ms)
            self.last_analyzed_ms = now_ms
        self.alerts.step(now_ms, wait=True)

    def close(self) -> None:
        self.alerts.close()
        self.marks.close()
        self.incidents.close()


def _demo_crews(cfg: Config, records: Records) -> None:
    """One crew per substation, orders and escalations on the embedded broker."""
    channel = {"kind": "mqtt", "host": cfg.mqtt.host, "port": cfg.mqtt.port}
    cfg.alerts.channel = [{"name": "crews-mqtt", **channel},
                          {"name": "supervisor-mqtt", **channel,
                           "topic_prefix": "heat/orders/supervisor"}]
    cfg.alerts.supervisor_channels = ["supervisor-mqtt"]
    cfg.alerts.crew = [
        {"id": f"crew-{sid.lower()}", "name": f"{s.name}维修班组", "substations": [sid],
         "members": [f"{sid.lower()}-a", f"{sid.lower()}-b"], "channels": ["crews-mqtt"],
         "token": secrets.token_urlsafe(12)}
        for sid, s in records.substations.items()
    ]


def _print_workflow(cfg: Config, data: Path) -> None:
    """What the incidents caused: orders, escalations, resident notices, compensation."""
    from workflow.unit import WorkflowDb

    print("\nincidents the analyzer found:")
    incidents_command(cfg, all_=True, json_=False)
    store = WorkflowDb(workflow_path(cfg))
    try:
        orders = store.orders.find(include_closed=True)
        print(f"\nwork orders: {len(orders)}")
        for o in orders:
            print(f"  {o.order_id:<14} {o.kind:<16} {o.crew:<10} {o.state}")
        rows = store.deadlines.find()
        warned = [d for d in rows if d.warned_ms is not None]
        breached = [d for d in rows if d.breached_ms is not None]
        print(f"\nescalations to the supervisor: {len(warned)} at 80 % of a limit, "
              f"{len(breached)} at breach (no crew acted in the demo)")
        notices = store.notices.find()
        print(f"\nresident notices (outage over 24 h): {len(notices)}")
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


class PollTime:
    """The district time of the poll in progress, as the poller's clock."""

    def __init__(self, t_s: float) -> None:
        self.t_s = t_s

    def __call__(self) -> float:
        return self.t_s


async def _poll_on_clock(poller: ModbusPoller, clock: VirtualClock, poll_at: PollTime,
                         end_s: float, interval_s: float, store: Store, faults: Counter[str],
                         workflow: DemoWorkflow) -> None:
    """Meters polled at each district interval boundary, as the collector would hourly;
    the analyzer and the alerts service run on the same district clock."""
    # the first boundary at or after the start: a scenario starting on the hour is polled then
    t = math.ceil(poll_at.t_s / interval_s) * interval_s
    while t <= end_s:
        await clock.sleep_until(t)
        poll_at.t_s = t
        readings = await poller.run_once(at=t)
        faults.update(r.tags.get("cause", "") for r in readings
                      if r.measurement == COMM_FAULT_MEASUREMENT)
        await asyncio.to_thread(store.write, readings)
        await asyncio.to_thread(workflow.step, int(t * 1000))
        t += interval_s


def _publish_bad(port: int) -> int:
    c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="heatwatch-demo-bad-device",
                    protocol=mqtt.MQTTv311)
    c.connect("127.0.0.1", port)
    c.loop_start()
    infos = [c.publish(t, p, qos=1) for t, p in BAD_PAYLOADS]
    for i in infos:
        i.wait_for_publish(10)
    c.disconnect()
    c.loop_stop()
    return len(infos)


def run_demo(cfg: Config | None = None, hours: float | None = None, data_dir: str | None = None,
             scenario_name: str | None = None, speed: float | None = None,
             quiet: bool = False) -> int:
    cfg = cfg or load_config(None)
    data = Path(data_dir or Path(cfg.site.data_dir) / "demo").resolve()
    marker = data / "heatwatch.toml"
    if data.exists() and any(data.iterdir()):
        # only a folder an earlier demo made is emptied, never one the user keeps data in
        if not (marker.is_file() and marker.read_text(encoding="utf-8").startswith(MARKER)):
            raise UserError(f"{data} is not empty and was not made by heatwatch demo; "
                            "pass an empty or new folder with --data-dir")
        shutil.rmtree(data)
    data.mkdir(parents=True, exist_ok=True)
    cfg.site.data_dir = str(data)
    cfg.store.backend = "sqlite"
    cfg.store.sqlite.path = ""
    cfg.collector.deadletter_path = ""
    cfg.mqtt.protocol = "3.1.1"  # the embedded broker speaks 3.1.1
    cfg.mqtt.username = cfg.mqtt.password = ""
    # district hours pass in wall seconds here: timeouts and reconnect waits shrink to match
    cfg.modbus.timeout_s = 0.3
    cfg.modbus.backoff_s, cfg.modbus.backoff_max_s = 0.05, 0.2
    marker.write_text(f'{MARKER}\n[site]\ndata_dir = "{data}"\n[store]\nbackend = "sqlite"\n',
                      encoding="utf-8")
    scenario = load_scenario(scenario_name or "demo")
    if hours is not None:
        scenario = dataclasses.replace(scenario, duration_s=min(scenario.duration_s,
                                                                hours * 3600))
    if speed:
        scenario = dataclasses.replace(scenario, speed=speed)
    records = load_records(scenario.records_dir)
    broker = EmbeddedBroker(free_port())
    broker.start()
    cfg.mqtt.host, cfg.mqtt.port = broker.host, broker.port
    _demo_crews(cfg, records)
    say = (lambda *a: None) if quiet else print
    say(f"heatwatch demo: scenario {scenario.name!r}, {len(records.accounts)} households, "
        f"{len(records.devices)} devices, {scenario.duration_s / 3600:g} district hours "
        f"at {scenario.speed:g}x")
    say(f"  embedded MQTT broker on {broker.host}:{broker.port}, SQLite store in {data}")
    opened = bootstrap.open_store(cfg)
    deadletters = bootstrap.open_deadletters(cfg)
    collector = MqttCollector(cfg.mqtt, cfg.collector, bootstrap.registry(records),
                              opened.store, deadletters)
    workflow = DemoWorkflow(cfg, records, opened.store)
    wall_start = time.monotonic()
    try:
        collector.start()
        if not collector.wait_connected(30):
            raise RuntimeError("the collector could not connect to the embedded broker")
        sim_summary, faults, bound = asyncio.run(_simulate(cfg, scenario, records, opened.store,
                                                           workflow, quiet))
        published = sum(sim_summary.messages.values()) + _publish_bad(broker.port)
        deadline = time.monotonic() + 60
        while collector.stats.messages < published and time.monotonic() < deadline:
            time.sleep(0.1)
        # the last evaluation, once every reading is in: as of the end of the scenario
        workflow.step(int(scenario.end_s * 1000), analyze=True)
    finally:
        workflow.close()
        collector.stop()
        broker.stop()
    elapsed = time.monotonic() - wall_start
    if not quiet:
        _print_summary(opened.store, deadletters, sim_summary, faults, bound, data, elapsed,
                       collector)
        _print_workflow(cfg, data)
    opened.store.close()
    deadletters.close()
    return 0


async def _simulate(cfg: Config, scenario: Scenario, records: Records, store: Store,
                    workflow: DemoWorkflow, quiet: bool
                    ) -> tuple[SimSummary, dict[str, Counter[str]], dict[str, str]]:
    clock = VirtualClock(scenario.start_s, scenario.speed)
    sim = DistrictSim(records, scenario, clock, simulator_mqtt(cfg),
                      cfg.simulator.gateway_host, free_ports=True)
    await sim.start()
    # the gateways listen on free ports; sim.records names them, so the plan follows
    # readings carry the poll's scheduled district time: when the demo's own work makes a
    # poll late in wall time, the free-running clock would stamp it hours late
    poll_at = PollTime(scenario.start_s)
    poller = modbus_poller(cfg, sim.records, store.write, clock=poll_at)
    bar = ProgressBar(scenario.start_s)
    faults: Counter[str] = Counter()
    try:
        run = asyncio.create_task(sim.run(progress=None if quiet else
                                          (lambda f: bar(f, clock.now()))))
        if poller is not None:
            await _poll_on_clock(poller, clock, poll_at, scenario.end_s, cfg.modbus.interval_s,
                                 store, faults, workflow)
        summary = await run
    finally:
        if poller is not None:
            poller.close()
        await sim.stop()
        if not quiet:
            bar.done()
    by_gateway: dict[str, Counter[str]] = {}
    bound_to_record = {v: k for k, v in summary.gateways.items()}
    if poller is not None:
        for key, st in poller.stats().items():
            by_gateway[bound_to_record.get(key, key)] = st.faults
    return summary, by_gateway, summary.gateways


def _print_summary(store: Store, deadletters: DeadLetters, sim: SimSummary,
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
