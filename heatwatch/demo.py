"""`heatwatch demo`: the whole system on a simulated district, on embedded defaults."""

from __future__ import annotations

import asyncio
import math
import shutil
import threading
import time
import urllib.request
from collections import Counter
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from alerts.http import serve_in_thread
from alerts.lifecycle import OrderError
from collector.modbus_poller import ModbusPoller
from collector.mqtt_collector import MqttCollector
from district.readings import COMM_FAULT_MEASUREMENT
from district.records import Records, load_records
from heatwatch import bootstrap
from heatwatch.broker import EmbeddedBroker, free_port
from heatwatch.config import Config, load_config
from heatwatch.demo_calls import print_demo_calls
from heatwatch.demo_guard import check_demo_args, demo_scenario, hold_demo_folder
from heatwatch.demo_serve import serve_until_signal
from heatwatch.demo_summary import CrewReport, ProgressBar, print_summary, print_workflow
from heatwatch.errors import UserError
from simulators.clock import VirtualClock
from simulators.crews import CrewHabits, CustomerService, SimulatedCrew
from simulators.district import DistrictSim
from simulators.mqtt_devices import MqttSettings
from simulators.scenario import Scenario, load_scenario
from simulators.summary import SimSummary
from storage.base import Store

MARKER = "# written by heatwatch demo: points the commands at the demo's data"

# The alerts service runs after each hourly meter poll, the analyzer after every second one
# (`heatwatch analyze` runs every 5 minutes; in the demo an analysis costs the district's
# time, which waits for it).
ANALYZE_EVERY_H = 2.0

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
        self.runner = bootstrap.analyzer_runner(cfg, records, store)
        # the district clock once the simulation runs: crews' taps are stamped with it
        self.district: VirtualClock | None = None
        self.alerts = bootstrap.alerts_service(cfg, store, records_=records,
                                               clock_ms=self.clock_ms)
        self.now_ms = 0
        self.every_ms = int(ANALYZE_EVERY_H * 3600 * 1000)
        self.last_analyzed_ms = 0
        # the meter poll and the alerts ticker both step: one at a time, never back in time
        self._lock = threading.Lock()
        # the simulated crews' phones, by crew id (set once they listen)
        self.phones: dict[str, SimulatedCrew] = {}
        # the wall instant `demo --serve` began serving after the summary
        self.serving_since: float | None = None

    def clock_ms(self) -> int:
        """The district's time; after the demo, its end, running on at 1x once serving (a
        link signed and checked on the same clock opens: issue 20 item 5)."""
        if self.district is not None:
            return int(self.district.now() * 1000)
        if self.serving_since is not None:
            return self.now_ms + int((time.monotonic() - self.serving_since) * 1000)
        return self.now_ms

    def step(self, now_ms: int, analyze: bool = False) -> None:
        with self._lock:
            now_ms = max(now_ms, self.now_ms)
            self.now_ms = now_ms
            # the district waits for the analysis: a busy machine shows the same district,
            # and an order reaches its crew at the district time it was opened
            with self.district.held() if self.district is not None else nullcontext():
                if analyze or now_ms - self.last_analyzed_ms >= self.every_ms:
                    self.runner.run_cycle(now_ms)
                    self.last_analyzed_ms = now_ms
                self.alerts.step(now_ms, wait=True)
                self._until_phones_ring(now_ms)

    def _until_phones_ring(self, now_ms: int, timeout_s: float = 5.0) -> None:
        """Hold the district until the orders opened now reach their crews' phones: the
        embedded broker, busy with the district's devices, must not make crews late."""
        waiting = [(o.order_id, self.phones[o.crew]) for o in self.alerts.db.orders.find()
                   if o.opened_ms == now_ms and o.crew in self.phones]
        deadline = time.monotonic() + timeout_s
        while any(oid not in phone.received for oid, phone in waiting):
            if time.monotonic() > deadline:
                return  # a phone that missed it hears at the next retry; the district goes on
            time.sleep(0.01)

    def act(self, order_id: str, action: str, actor: str) -> bool:
        """A dispatcher's action (`heatwatch orders <action>`); False when it is refused."""
        try:
            self.alerts.act(order_id, action, actor)
        except OrderError:
            return False
        return True

    def awaiting_visit(self) -> list[tuple[str, float]]:
        """The orders resolved (the data confirmed the fix): customer service calls back."""
        return [(o.order_id, (o.resolved_ms or o.updated_ms) / 1000)
                for o in self.alerts.db.orders.find() if o.state == "resolved"]

    def close(self) -> None:
        self.alerts.close()
        bootstrap.close_runner(self.runner)


def _demo_crews(cfg: Config, records: Records, http_port: int) -> None:
    """One crew per substation, orders and escalations on the embedded broker; the links in
    their messages point at the crews' HTTP endpoint on loopback."""
    cfg.alerts.http.enabled = True
    cfg.alerts.http.host = "127.0.0.1"
    cfg.alerts.http.port = http_port
    cfg.alerts.http.base_url = f"http://127.0.0.1:{http_port}"
    channel = {"kind": "mqtt", "host": cfg.mqtt.host, "port": cfg.mqtt.port}
    cfg.alerts.channel = [{"name": "crews-mqtt", **channel},
                          {"name": "supervisor-mqtt", **channel,
                           "topic_prefix": "heat/orders/supervisor"}]
    cfg.alerts.supervisor_channels = ["supervisor-mqtt"]
    cfg.alerts.crew = [
        {"id": f"crew-{sid.lower()}", "name": f"{s.name}维修班组", "substations": [sid],
         "members": [f"{sid.lower()}-a", f"{sid.lower()}-b"], "channels": ["crews-mqtt"]}
        for sid, s in records.substations.items()
    ] + [
        # no substations: the catch-all, e.g. a whole Modbus gateway gone quiet
        {"id": "crew-network", "name": "通讯维护班组", "members": ["net-a"],
         "channels": ["crews-mqtt"]}
    ]


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
        # the district waits for the poll and the analysis after it (however long they take
        # on a busy machine), so it never runs ahead of what the workflow has seen
        with clock.held():
            poll_at.t_s = t
            readings = await poller.run_once(at=t)
            faults.update(r.tags.get("cause", "") for r in readings
                          if r.measurement == COMM_FAULT_MEASUREMENT)
            await asyncio.to_thread(store.write, readings)
            await asyncio.to_thread(workflow.step, int(t * 1000))
        t += interval_s


def _wait_http(url: str, timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise RuntimeError(f"the crews' HTTP endpoint did not start: {url}") from None
            time.sleep(0.05)


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


def _demo_data_dir(cfg: Config, data_dir: str | None) -> Path:
    """An empty folder for the demo's data (an earlier demo's is emptied), and the config
    pointed at it: SQLite, the embedded broker, Modbus waits shrunk to district speed."""
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
    return data


def run_demo(cfg: Config | None = None, hours: float | None = None, data_dir: str | None = None,
             scenario_name: str | None = None, speed: float | None = None,
             quiet: bool = False, serve: bool = False) -> int:
    cfg = cfg or load_config(None)
    check_demo_args(hours, speed)
    lock = hold_demo_folder(Path(data_dir or Path(cfg.site.data_dir) / "demo"))
    try:
        return _demo(cfg, data_dir, demo_scenario(scenario_name, hours, speed), quiet, serve)
    finally:
        lock.close()


def _demo(cfg: Config, data_dir: str | None, scenario: Scenario, quiet: bool,
          serve: bool = False) -> int:
    data = _demo_data_dir(cfg, data_dir)
    records = bootstrap.with_resolutions(cfg, load_records(scenario.records_dir))
    broker = EmbeddedBroker(free_port())
    broker.start()
    cfg.mqtt.host, cfg.mqtt.port = broker.host, broker.port
    _demo_crews(cfg, records, free_port())
    if not quiet:
        print(f"heatwatch demo: scenario {scenario.name!r}, {len(records.accounts)} "
              f"households, {len(records.devices)} devices, {scenario.duration_s / 3600:g} "
              f"district hours at {scenario.speed:g}x")
        print(f"  embedded MQTT broker on {broker.host}:{broker.port}, SQLite store in {data}")
    opened = bootstrap.open_store(cfg)
    deadletters = bootstrap.open_deadletters(cfg)
    collector = bootstrap.mqtt_collector(cfg, records, opened, deadletters)
    workflow = DemoWorkflow(cfg, records, opened.store)
    wall_start = time.monotonic()
    server = serve_in_thread(workflow.alerts.actions, workflow.alerts.phone_of)
    try:
        try:
            sim_summary, faults, bound, report = _run_district(
                cfg, scenario, records, opened.store, workflow, collector, broker, quiet)
        finally:
            collector.stop()
            broker.stop()
        elapsed = time.monotonic() - wall_start
        if not quiet:
            print_summary(opened.store, deadletters, sim_summary, faults, bound, data,
                          elapsed, collector)
            print_demo_calls(cfg, opened.store, int(scenario.end_s * 1000))
            print_workflow(cfg, data, report, scenario.start_s, scenario.end_s)
        if serve:  # issue 20 item 5: the crews' endpoint up on the demo's clock until Ctrl-C
            serve_until_signal(workflow, data, cfg.alerts.http.base_url)
    finally:
        server.should_exit = True
        workflow.close()
    opened.store.close()
    deadletters.close()
    return 0


def _run_district(cfg: Config, scenario: Scenario, records: Records, store: Store,
                  workflow: DemoWorkflow, collector: MqttCollector, broker: EmbeddedBroker,
                  quiet: bool
                  ) -> tuple[SimSummary, dict[str, Counter[str]], dict[str, str], CrewReport]:
    """The crews' endpoint, the collector and the simulated district until the scenario ends,
    then the last evaluation once every reading is in."""
    _wait_http(f"{cfg.alerts.http.base_url}/health")
    collector.start()
    if not collector.wait_connected(30):
        raise RuntimeError("the collector could not connect to the embedded broker")
    done = asyncio.run(_simulate(cfg, scenario, records, store, workflow, quiet))
    published = sum(done[0].messages.values()) + _publish_bad(broker.port)
    deadline = time.monotonic() + 60
    while collector.stats.messages < published and time.monotonic() < deadline:
        time.sleep(0.1)
    # the last evaluation, once every reading is in: as of the end of the scenario
    workflow.district = None
    workflow.step(int(scenario.end_s * 1000), analyze=True)
    return done


async def _simulate(cfg: Config, scenario: Scenario, records: Records, store: Store,
                    workflow: DemoWorkflow, quiet: bool
                    ) -> tuple[SimSummary, dict[str, Counter[str]], dict[str, str], CrewReport]:
    clock = VirtualClock(scenario.start_s, scenario.speed)
    workflow.district = clock
    # each crew's phones on its MQTT topic; customer service calls back after each repair
    service = CustomerService(workflow.act, clock, scenario.seed,
                              awaiting=workflow.awaiting_visit)
    habits = CrewHabits(limits=workflow.alerts.cfg.limits)
    crews = [SimulatedCrew(c.crew_id, c.members, clock, scenario.seed, cfg.mqtt.host,
                           cfg.mqtt.port, habits=habits)
             for c in workflow.alerts.cfg.crews() if c.channels]
    loop = asyncio.get_running_loop()
    for c in crews:
        # listening before the first order is dispatched, or its message is lost
        await asyncio.to_thread(c.listen, loop)
    side: list[asyncio.Task[Any]] = [asyncio.create_task(c.run(scenario.end_s))
                                     for c in crews]
    workflow.phones = {c.crew_id: c for c in crews}
    side.append(asyncio.create_task(service.run(scenario.end_s)))
    sim = DistrictSim(records, scenario, clock, simulator_mqtt(cfg),
                      cfg.simulator.gateway_host, free_ports=True)
    await sim.start()
    # the gateways listen on free ports; sim.records names them, so the plan follows
    # readings carry the poll's scheduled district time: when the demo's own work makes a
    # poll late in wall time, the free-running clock would stamp it hours late
    poll_at = PollTime(scenario.start_s)
    poller = bootstrap.modbus_poller(cfg, sim.records, store.write, clock=poll_at)
    bar = ProgressBar(scenario.start_s)
    faults: Counter[str] = Counter()
    try:
        run = asyncio.create_task(sim.run(progress=None if quiet else
                                          (lambda f: bar(f, clock.now()))))
        if poller is not None:
            await _poll_on_clock(poller, clock, poll_at, scenario.end_s, cfg.modbus.interval_s,
                                 store, faults, workflow)
        summary = await run
        await asyncio.gather(*side)
    finally:
        for task in side:
            task.cancel()
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
    report = CrewReport({c.crew_id: c.log for c in crews}, service.done)
    return summary, by_gateway, summary.gateways, report


# -- `heatwatch simulate`: the simulated devices alone, on real protocols --------------------------

def simulator_mqtt(cfg: Config) -> MqttSettings:
    m = cfg.mqtt
    return MqttSettings(host=m.host, port=m.port, username=m.username, password=m.password,
                        client_id=cfg.simulator.client_id, topic_prefix=m.topic_prefix,
                        qos=m.qos)


def run_simulator(cfg: Config) -> int:
    """Simulated devices on real protocols, on the scenario's virtual clock."""
    from simulators.district import simulate

    records = bootstrap.records(cfg)
    scenario = load_scenario(cfg.simulator.scenario, records)
    s = cfg.simulator
    summary = asyncio.run(simulate(scenario, simulator_mqtt(cfg), records=records,
                                   speed=s.speed or None, gateway_host=s.gateway_host,
                                   port_offset=s.port_offset, free_ports=s.free_ports))
    print("\n".join(summary.lines()))
    return 0
