"""The MQTT collector: QoS 1 on a persistent session, acked only after a durable write."""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from collector.config import CollectorConfig, MqttConfig
from collector.deadletter import DeadLetters
from collector.payloads import Registered, Rejection, parse_message
from district.readings import KINDS, Reading
from storage.base import Store, StoreRejected, StoreUnavailable

log = logging.getLogger("heatwatch.collector")

HEALTH_MEASUREMENT = "heatwatch_collector"
REJECTIONS_MEASUREMENT = "heatwatch_rejections"


@dataclass(slots=True)
class _Message:
    mid: int
    qos: int
    topic: str
    payload: bytes
    generation: int


@dataclass(slots=True)
class CollectorStats:
    """Counters since start; the health measurement is built from these."""

    messages: int = 0
    readings: int = 0
    rejected: Counter[str] = field(default_factory=Counter)
    batches: int = 0
    acked: int = 0
    stale_acks_dropped: int = 0
    store_retries: int = 0
    connects: int = 0


class MqttCollector:
    """Subscribes to heat/<kind>/+, writes batches to the store, then acks them."""

    def __init__(
        self,
        mqtt_cfg: MqttConfig,
        cfg: CollectorConfig,
        registry: Mapping[str, Registered],
        store: Store,
        deadletters: DeadLetters,
        clock: Callable[[], float] = time.time,
        spool_stats: Callable[[], Mapping[str, float]] | None = None,
    ) -> None:
        self.mqtt_cfg = mqtt_cfg
        self.cfg = cfg
        self.registry = registry
        self.store = store
        self.deadletters = deadletters
        self.clock = clock
        self.spool_stats = spool_stats
        self.stats = CollectorStats()
        # a deque, not a Queue: paho's thread appends and the writer drains in bulk, so the
        # two threads do not hand over the GIL (and a lock) once per message
        self._inbox: deque[_Message] = deque()
        self._wake = threading.Event()
        self._generation = 0
        self._accepting = True
        self._stop = threading.Event()
        self._connected = threading.Event()
        self._logged_causes: set[str] = set()
        self._worker: threading.Thread | None = None
        self._last_health = 0.0
        self._health_readings = 0
        self._client = self._make_client()

    # -- paho wiring -------------------------------------------------------------------------
    def _make_client(self) -> mqtt.Client:
        v5 = self.mqtt_cfg.protocol == "5"
        c = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=self.mqtt_cfg.client_id,
            protocol=mqtt.MQTTv5 if v5 else mqtt.MQTTv311,
            # 3.1.1: a persistent session is clean_session=False; 5 uses clean_start below
            clean_session=None if v5 else False,
            manual_ack=True,
        )
        if self.mqtt_cfg.username:
            c.username_pw_set(self.mqtt_cfg.username, self.mqtt_cfg.password or None)
        c.on_connect = self._on_connect
        c.on_disconnect = self._on_disconnect
        c.on_message = self._on_message
        c.reconnect_delay_set(min_delay=1, max_delay=10)
        return c

    def _connect_properties(self) -> Properties:
        props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        # the broker keeps our session and queued QoS 1 messages while we are down
        props.SessionExpiryInterval = self.mqtt_cfg.session_expiry_s
        # unacked messages the broker may have in flight to us; ids are 16 bits
        props.ReceiveMaximum = self.mqtt_cfg.receive_maximum
        return props

    def _on_connect(self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any,
                    properties: Any) -> None:
        if reason.is_failure:
            log.error("broker refused connection: %s", reason)
            return
        self._generation += 1
        self.stats.connects += 1
        prefix = self.mqtt_cfg.topic_prefix
        # '#' rather than '+' so a malformed topic under a kind is seen and refused with a
        # cause; other subtrees of the prefix (heat/orders/<crew>) are not ours
        client.subscribe([(f"{prefix}/{kind}/#", int(self.mqtt_cfg.qos)) for kind in KINDS])
        log.info("connected to %s:%d (session present: %s)", self.mqtt_cfg.host,
                 self.mqtt_cfg.port, flags.session_present)
        self._connected.set()

    def _on_disconnect(self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any,
                       properties: Any) -> None:
        self._connected.clear()
        if not self._stop.is_set():
            log.warning("disconnected from broker (%s); reconnecting", reason)

    def _on_message(self, client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        if not self._accepting:
            return  # not acked: the broker redelivers it to the next session
        self._inbox.append(_Message(msg.mid, msg.qos, msg.topic, bytes(msg.payload),
                                    self._generation))
        if len(self._inbox) == 1:
            self._wake.set()

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self) -> None:
        if self.mqtt_cfg.protocol == "5":
            self._client.connect_async(
                self.mqtt_cfg.host, self.mqtt_cfg.port, keepalive=self.mqtt_cfg.keepalive_s,
                clean_start=False, properties=self._connect_properties(),
            )
        else:
            self._client.connect_async(self.mqtt_cfg.host, self.mqtt_cfg.port,
                                       keepalive=self.mqtt_cfg.keepalive_s)
        self._client.loop_start()
        self._worker = threading.Thread(target=self._run, name="collector-writer", daemon=True)
        self._worker.start()

    def wait_connected(self, timeout_s: float = 10.0) -> bool:
        return self._connected.wait(timeout_s)

    def stop(self, timeout_s: float = 30.0) -> None:
        """Stop taking messages, flush and ack what we have, then disconnect."""
        self._accepting = False
        self._stop.set()
        if self._worker:
            self._worker.join(timeout_s)
        self._write_health(force=True)
        self._client.disconnect()
        self._client.loop_stop()

    # -- the writer loop ---------------------------------------------------------------------
    def _take_batch(self) -> tuple[list[_Message], list[Reading], list[Rejection]]:
        """Messages parsed in arrival order, until batch_size readings or the flush interval."""
        msgs: list[_Message] = []
        readings: list[Reading] = []
        rejections: list[Rejection] = []
        inbox = self._inbox
        if not inbox:
            self._wake.wait(0.2)
            self._wake.clear()
            if not inbox:
                return msgs, readings, rejections
        deadline = time.monotonic() + self.cfg.flush_interval_ms / 1000
        prefix, limit = self.mqtt_cfg.topic_prefix, self.mqtt_cfg.max_payload_bytes
        while len(readings) + len(rejections) < self.cfg.batch_size:
            if inbox:
                m = inbox.popleft()
                good, bad = parse_message(m.topic, m.payload, self.registry, prefix, limit)
                msgs.append(m)
                readings.extend(good)
                rejections.extend(bad)
                continue
            remaining = deadline - time.monotonic()
            if remaining <= 0 or self._stop.is_set():
                break
            # let the batch gather: short sleeps, not a wake-up per message
            time.sleep(min(remaining, 0.005))
        return msgs, readings, rejections

    def _run(self) -> None:
        while True:
            msgs, readings, rejections = self._take_batch()
            if msgs:
                self._process(msgs, readings, rejections)
            elif self._stop.is_set():
                break
            self._write_health()
        # drain what arrived before we stopped accepting
        while self._inbox:
            self._process(*self._take_batch())

    def _process(self, batch: list[_Message], readings: list[Reading],
                 rejections: list[Rejection]) -> None:
        rejections = self._write_durably(readings, rejections)
        self.stats.messages += len(batch)
        self.stats.readings += len(readings) - sum(r.cause == "store_rejected" for r in rejections)
        self.stats.batches += 1
        for r in rejections:
            self.stats.rejected[r.cause] += 1
            if r.cause not in self._logged_causes:
                self._logged_causes.add(r.cause)
                log.warning("rejected %s on %s: %s (further %s rejections are counted, "
                            "not logged)", r.cause, r.topic, r.detail, r.cause)
        self._ack(batch)

    def _write_durably(self, readings: list[Reading], rejections: list[Rejection]
                       ) -> list[Rejection]:
        """Readings to the store, refusals to the dead letters; returns the refusals."""
        delay = 0.5
        while True:
            try:
                if readings:
                    self.store.write(readings)
                break
            except StoreRejected as e:
                # the store refused the data itself: keep it as dead letters, do not loop
                log.error("store rejected a batch of %d readings: %s", len(readings), e)
                rejections = rejections + [
                    Rejection("store_rejected", str(e)[:200], r.measurement, repr(r).encode())
                    for r in readings
                ]
                break
            except StoreUnavailable as e:
                # not acked: nothing is lost; the broker keeps it and we try again
                self.stats.store_retries += 1
                log.warning("store unavailable (%s); retrying in %.1fs", e, delay)
                time.sleep(delay)
                delay = min(delay * 2, 10.0)
        self.deadletters.add(rejections, round(self.clock() * 1000))
        return rejections

    def _ack(self, batch: list[_Message]) -> None:
        current = self._generation
        for m in batch:
            if m.qos == 0:
                continue
            if m.generation != current:
                # received on a previous connection: the broker resends it on this one
                self.stats.stale_acks_dropped += 1
                continue
            self._client.ack(m.mid, m.qos)
            self.stats.acked += 1

    # -- health ------------------------------------------------------------------------------
    def health_fields(self, elapsed_s: float) -> dict[str, float | int]:
        new = self.stats.readings - self._health_readings
        fields: dict[str, float | int] = {
            "readings_total": self.stats.readings,
            "messages_total": self.stats.messages,
            "rejected_total": sum(self.stats.rejected.values()),
            "readings_per_s": new / elapsed_s if elapsed_s > 0 else 0.0,
            "queue_depth": len(self._inbox),
            "connected": int(self._connected.is_set()),
        }
        if self.spool_stats:
            for k, v in self.spool_stats().items():
                fields[f"spool_{k}"] = float(v)
        return fields

    def write_health(self) -> None:
        """Write the health point now (the loop does it every health_interval_s)."""
        self._write_health(force=True)

    def _write_health(self, force: bool = False) -> None:
        now = self.clock()
        elapsed = now - self._last_health
        if not force and elapsed < self.cfg.health_interval_s:
            return
        fields = self.health_fields(elapsed if self._last_health else 0.0)
        self._health_readings = self.stats.readings
        self._last_health = now
        ts_ms = round(now * 1000)
        tags = {"collector": self.mqtt_cfg.client_id}
        points = [Reading(HEALTH_MEASUREMENT, tags, fields, ts_ms)]
        points += [
            Reading(REJECTIONS_MEASUREMENT, {**tags, "cause": cause}, {"count": n}, ts_ms)
            for cause, n in sorted(self.stats.rejected.items())
        ]
        log.info(
            "health: %.0f readings/s, %d readings, %d rejected %s, queue %d%s",
            fields["readings_per_s"], self.stats.readings, fields["rejected_total"],
            dict(self.stats.rejected) or "", fields["queue_depth"],
            "".join(f", {k} {v:g}" for k, v in fields.items() if k.startswith("spool_")),
        )
        try:
            self.store.write(points)
        except (StoreUnavailable, StoreRejected) as e:
            log.warning("could not write health: %s", e)
