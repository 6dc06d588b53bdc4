"""Long-running services as docker-compose runs them; each stops cleanly on SIGTERM."""

from __future__ import annotations

import asyncio
import logging
import signal
import threading

from collector.mqtt_collector import MqttCollector
from district.config import Config
from heatwatch import bootstrap
from simulators.mqtt_devices import MqttSettings

log = logging.getLogger("heatwatch.service")


def stop_event_on_signals() -> threading.Event:
    stop = threading.Event()

    def handler(signum: int, frame: object) -> None:
        log.info("received %s; shutting down", signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)
    return stop


def simulator_mqtt(cfg: Config) -> MqttSettings:
    m = cfg.mqtt
    return MqttSettings(host=m.host, port=m.port, username=m.username, password=m.password,
                        client_id=cfg.simulator.client_id, topic_prefix=m.topic_prefix,
                        qos=m.qos)


def run_simulator(cfg: Config) -> int:
    """Simulated devices on real protocols, on the scenario's virtual clock."""
    from heatwatch.cli import UserError
    from simulators.district import simulate
    from simulators.scenario import ScenarioError, load_scenario

    records = bootstrap.records(cfg)
    try:
        scenario = load_scenario(cfg.simulator.scenario, records)
    except ScenarioError as e:
        raise UserError(str(e)) from None
    s = cfg.simulator
    summary = asyncio.run(simulate(scenario, simulator_mqtt(cfg), records=records,
                                   speed=s.speed or None, gateway_host=s.gateway_host,
                                   port_offset=s.port_offset, free_ports=s.free_ports))
    print("\n".join(summary.lines()))
    return 0


def run_collector(cfg: Config, stop: threading.Event | None = None) -> int:
    """MQTT devices into the store until stopped: flush, ack, then disconnect."""
    records = bootstrap.records(cfg)
    stop = stop or stop_event_on_signals()
    opened = bootstrap.open_store(cfg)
    deadletters = bootstrap.open_deadletters(cfg)
    collector = MqttCollector(cfg.mqtt, cfg.collector, bootstrap.registry(records), opened.store,
                              deadletters, spool_stats=opened.spool_stats)
    collector.start()
    log.info("collector running: %d devices, store %s, broker %s:%d", len(records.devices),
             cfg.store.backend, cfg.mqtt.host, cfg.mqtt.port)
    try:
        stop.wait()
    finally:
        collector.stop()
        opened.store.close()
        deadletters.close()
        log.info("collector stopped: %d readings, %d rejected, %d acked",
                 collector.stats.readings, sum(collector.stats.rejected.values()),
                 collector.stats.acked)
    return 0
