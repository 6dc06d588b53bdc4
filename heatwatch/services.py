"""Long-running services as docker-compose runs them; each stops cleanly on SIGTERM."""

from __future__ import annotations

import logging
import signal
import threading

from collector.mqtt_collector import MqttCollector
from district.config import Config
from heatwatch import bootstrap

log = logging.getLogger("heatwatch.service")


def stop_event_on_signals() -> threading.Event:
    stop = threading.Event()

    def handler(signum: int, frame: object) -> None:
        log.info("received %s; shutting down", signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)
    return stop


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
