"""Long-running services as docker-compose runs them; each stops cleanly on SIGTERM."""

from __future__ import annotations

import asyncio
import logging
import math
import os
import signal
import threading
import time

from collector.modbus_poller import ModbusPoller, Sink
from collector.mqtt_collector import EXIT_WRITER_DIED
from district.readings import Reading
from heatwatch import bootstrap
from heatwatch.config import Config

log = logging.getLogger("heatwatch.service")


def stop_event_on_signals() -> threading.Event:
    stop = threading.Event()

    def handler(signum: int, frame: object) -> None:
        log.info("received %s; shutting down", signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)
    return stop


MODBUS_HEALTH_MEASUREMENT = "heatwatch_modbus"


def modbus_health(poller: ModbusPoller, now_s: float) -> list[Reading]:
    """Each gateway's schedule and outcomes as points, so a dead gateway shows on the wall."""
    points = []
    for key, st in poller.stats().items():
        fields: dict[str, float | int | bool] = {
            "cycles": st.cycles, "meters_ok": st.meters_ok, "faults": sum(st.faults.values()),
            "connected": int(st.connected), "overruns": st.overruns,
            "max_skew_s": st.max_skew_s, "backoff_s": float(st.backoff_s),
        }
        for name in ("last_skew_s", "last_duration_s"):
            value = float(getattr(st, name))
            if math.isfinite(value):
                fields[name] = value
        points.append(Reading(MODBUS_HEALTH_MEASUREMENT, {"gateway": key}, fields,
                              round(now_s * 1000)))
    return points


def _run_poller_until(poller: ModbusPoller, stop: threading.Event, sink: Sink,
                      health_interval_s: float) -> threading.Thread:
    async def main() -> None:
        aio_stop = asyncio.Event()

        async def watch() -> None:
            last_health = time.monotonic()
            while not stop.is_set():
                await asyncio.sleep(0.2)
                if time.monotonic() - last_health >= health_interval_s:
                    last_health = time.monotonic()
                    points = modbus_health(poller, time.time())
                    down = [p.tags["gateway"] for p in points
                            if not p.fields["connected"] and p.fields["cycles"]]
                    if down:
                        log.warning("modbus: %d gateway(s) not connected: %s", len(down),
                                    ", ".join(down[:10]))
                    try:
                        await asyncio.to_thread(sink, points)
                    except Exception as e:  # health is best effort; readings are not
                        log.warning("modbus: could not write gateway health: %s", e)
            aio_stop.set()

        watcher = asyncio.create_task(watch())
        await poller.run_forever(aio_stop)
        await watcher

    t = threading.Thread(target=asyncio.run, args=(main(),), name="modbus-poller")
    t.start()
    return t


def run_collector(cfg: Config, stop: threading.Event | None = None) -> int:
    """MQTT devices and Modbus meters into the store until stopped: flush, ack, disconnect."""
    records = bootstrap.records(cfg)
    stop = stop or stop_event_on_signals()
    opened = bootstrap.open_store(cfg)
    poller = bootstrap.modbus_poller(cfg, records, opened.store.write)
    deadletters = bootstrap.open_deadletters(cfg)
    failed: list[BaseException] = []

    def writer_died(error: BaseException) -> None:
        # never live on half-dead: stop everything and exit non-zero so we are restarted;
        # a shutdown that hangs is cut short
        failed.append(error)
        timer = threading.Timer(60.0, os._exit, (EXIT_WRITER_DIED,))
        timer.daemon = True
        timer.start()
        stop.set()

    collector = bootstrap.mqtt_collector(cfg, records, opened, deadletters, on_fatal=writer_died)
    collector.start()
    poller_thread = (_run_poller_until(poller, stop, opened.store.write,
                                       cfg.collector.health_interval_s) if poller else None)
    log.info("collector running: %d devices, store %s, broker %s:%d, %d Modbus gateways",
             len(records.devices), cfg.store.backend, cfg.mqtt.host, cfg.mqtt.port,
             len(poller.plan.gateways) if poller else 0)
    try:
        stop.wait()
    finally:
        if poller_thread:
            poller_thread.join()
        collector.stop()
        opened.store.close()
        deadletters.close()
        log.info("collector stopped: %d readings, %d rejected, %d acked",
                 collector.stats.readings, sum(collector.stats.rejected.values()),
                 collector.stats.acked)
    if failed:
        log.critical("collector exits with status %d: its writer died (%s)", EXIT_WRITER_DIED,
                     failed[0])
        return EXIT_WRITER_DIED
    return 0
