"""The MQTT collector: QoS 1 on a persistent session, acked only after a durable write.

It stays one file: paho's network thread, the writer and the ack path share the session
generation, the batches in flight and the counters, and one class keeps that locking in view.
"""

from __future__ import annotations

import bisect
import logging
import os
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import wait as wait_futures
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from collector.batches import DATA_ERRORS, Batch, CollectorStats, Message, split_write
from collector.config import CollectorConfig, MqttConfig
from collector.connection import ConnectionLog
from collector.deadletter import DeadLetters
from collector.mqtt_client import CollectorClient
from collector.payload_lines import parse_lines, parse_plain
from collector.payloads import Registered, Rejection, element_of, parse_indexed
from district.readings import Reading
from storage.base import LineStore, Store, StoreUnavailable
from storage.lineprotocol import LineEncoder

log = logging.getLogger("heatwatch.collector")

HEALTH_MEASUREMENT = "heatwatch_collector"
REJECTIONS_MEASUREMENT = "heatwatch_rejections"
# exit status of a collector whose writer thread died: the supervisor restarts it
EXIT_WRITER_DIED = 70

class _Abandoned(Exception):
    """Stopping while the store is away: the batch is not acked, the broker keeps it."""


def _exit_process(error: BaseException) -> None:
    """The default for a dead writer: leave now, loudly, so systemd or compose restarts us."""
    logging.shutdown()
    os._exit(EXIT_WRITER_DIED)


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
        health_sink: Callable[[Sequence[Reading]], None] | None = None,
        on_fatal: Callable[[BaseException], None] = _exit_process,
    ) -> None:
        self.mqtt_cfg = mqtt_cfg
        self.cfg = cfg
        self.registry = registry
        self.store = store
        self.deadletters = deadletters
        self.clock = clock
        self.spool_stats = spool_stats
        # health goes here: past the spool, so it is written even while batches stall
        self.health_sink = health_sink or store.write
        self.on_fatal = on_fatal
        self.failed: BaseException | None = None
        self.stats = CollectorStats()
        # a deque, not a Queue: paho's thread appends and the writer drains in bulk, so the
        # two threads do not hand over the GIL (and a lock) once per message
        self._inbox: deque[Message] = deque()
        self._wake = threading.Event()
        self._generation = 0
        self._accepting = True
        self._stop = threading.Event()
        self._connected = threading.Event()
        self._logged_causes: set[str] = set()
        self._worker: threading.Thread | None = None
        self._last_health = 0.0
        self._health_readings = 0
        self._stalled_since: float | None = None
        self._health_error = ""
        self._ignore = frozenset(cfg.ignore_kinds)
        self._link = ConnectionLog(mqtt_cfg.host, mqtt_cfg.port, mqtt_cfg.client_id)
        # InfluxDB takes lines built straight from the payloads: no Reading per point
        self._lines = isinstance(store, LineStore)
        self._encoder = LineEncoder()
        self._client = self._make_client()

    # -- paho wiring -------------------------------------------------------------------------
    def _make_client(self) -> CollectorClient:
        v5 = self.mqtt_cfg.protocol == "5"
        c = CollectorClient(
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
        c.on_connect_fail = self._on_connect_fail
        c.on_disconnect = self._on_disconnect
        c.on_message = self._on_message
        c.on_plain_message = self._receive
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
            log.error("broker %s:%d refused the connection: %s", self.mqtt_cfg.host,
                      self.mqtt_cfg.port, reason)
            return
        self._generation += 1
        self.stats.connects += 1
        self._link.connected()
        prefix = self.mqtt_cfg.topic_prefix
        # the whole prefix, not heat/<kind>/+: an unknown kind or a malformed topic is seen
        # and refused with a cause; ignore_kinds are other services' subtrees (heat/orders)
        topic = f"{prefix}/#"
        if self.mqtt_cfg.share_group:
            # the broker hands each message to one collector of the group
            topic = f"$share/{self.mqtt_cfg.share_group}/{topic}"
        client.subscribe([(topic, int(self.mqtt_cfg.qos))])
        log.info("connected to %s:%d (session present: %s)", self.mqtt_cfg.host,
                 self.mqtt_cfg.port, flags.session_present)
        self._connected.set()

    def _on_connect_fail(self, client: mqtt.Client, userdata: Any) -> None:
        # paho calls this inside its `except OSError`, so the cause is the active exception
        self._link.connect_failed(sys.exc_info()[1])

    def _on_disconnect(self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any,
                       properties: Any) -> None:
        was_connected = self._connected.is_set()
        self._connected.clear()
        if self._stop.is_set():
            return
        self._link.disconnected(was_connected, reason)

    def _on_message(self, client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        # what the lean path leaves to paho (properties, QoS 2, ...); most come to _receive
        self._receive(msg.mid, msg.qos, msg.topic, bytes(msg.payload))

    def _receive(self, mid: int, qos: int, topic: str, payload: bytes) -> None:
        if not self._accepting:
            return  # not acked: the broker redelivers it to the next session
        self._inbox.append(Message(mid, qos, topic, payload, self._generation))
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
    def _take_batch(self, idle_wait_s: float = 0.2) -> Batch:
        """Messages parsed in arrival order, until batch_size readings or the flush interval."""
        batch = Batch()
        inbox = self._inbox
        if not inbox:
            self._wake.wait(idle_wait_s)
            self._wake.clear()
            if not inbox:
                return batch
        deadline = time.monotonic() + self.cfg.flush_interval_ms / 1000
        while batch.count + len(batch.rejections) < self.cfg.batch_size:
            if inbox:
                self._parse_into(batch, inbox.popleft())
                continue
            remaining = deadline - time.monotonic()
            if remaining <= 0 or self._stop.is_set():
                break
            # let the batch gather: short sleeps, not a wake-up per message
            time.sleep(min(remaining, 0.005))
        return batch

    def _parse_into(self, batch: Batch, m: Message) -> None:
        prefix = self.mqtt_cfg.topic_prefix
        batch.msgs.append(m)
        if self._ignore:
            parts = m.topic.split("/", 2)
            if len(parts) > 1 and parts[0] == prefix and parts[1] in self._ignore:
                self.stats.ignored += 1
                return
        good: list[Any]
        if self._lines:
            plain = parse_plain(m.topic, m.payload, self.registry, self._encoder, prefix,
                                self.mqtt_cfg.max_payload_bytes)
            if plain is not None:  # the usual message: its lines as one block
                batch.add_block(m, *plain)
                return
            good, indexes, bad = parse_lines(m.topic, m.payload, self.registry, self._encoder,
                                             prefix, self.mqtt_cfg.max_payload_bytes)
        else:
            good, indexes, bad = parse_indexed(m.topic, m.payload, self.registry, prefix,
                                               self.mqtt_cfg.max_payload_bytes)
        if good:
            batch.add(m, good, indexes)
        batch.rejections.extend(bad)

    def process(self, messages: Sequence[tuple[str, bytes]]) -> None:
        """Parse, store and dead-letter these messages now, in this thread (not acked)."""
        batch = Batch()
        for topic, payload in messages:
            self._parse_into(batch, Message(0, 0, topic, payload, self._generation))
        self._finish(batch, self._store_batch(batch))

    def _run(self) -> None:
        """Parse batches and write up to writes_in_flight of them at once; ack in order.

        A batch is acked only once its own write is durable and every batch taken before
        it has been acked: a write that fails or never returns holds back the acks of all
        that came after it, so the broker redelivers them.
        """
        in_flight = self.cfg.writes_in_flight
        pending: deque[tuple[Batch, Future[list[tuple[int, str]]]]] = deque()
        pool = ThreadPoolExecutor(in_flight, thread_name_prefix="collector-write")
        try:
            while True:
                batch = self._take_batch(0.01 if pending else 0.2)
                if batch.msgs:
                    pending.append((batch, pool.submit(self._store_batch, batch)))
                elif self._stop.is_set() and not self._inbox:
                    break
                self._settle(pending, block=len(pending) >= in_flight)
                self._write_health()
            while pending:  # what was taken before we stopped accepting
                self._settle(pending, block=True)
        except _Abandoned:
            log.warning("stopped while the store was unavailable: %d messages left unacked "
                        "for the broker to redeliver",
                        len(self._inbox) + sum(len(b.msgs) for b, _ in pending))
        except BaseException as e:
            self.failed = e
            self._connected.clear()
            self._stop.set()  # writes still in flight give up, unacked
            log.critical("collector writer died (%s: %s); stopping the process so it is "
                         "restarted, unacked messages are redelivered by the broker",
                         type(e).__name__, e, exc_info=True)
            self.on_fatal(e)
        finally:
            pool.shutdown(wait=False, cancel_futures=True)

    def _settle(self, pending: deque[tuple[Batch, Future[list[tuple[int, str]]]]],
                block: bool) -> None:
        """Finish the written batches at the head of the line, in the order they were taken;
        with block, wait for the oldest first. A failed write raises here."""
        while pending:
            batch, written = pending[0]
            if not written.done():
                if not block:
                    return
                wait_futures([written])
            refused = written.result()  # raises what the write raised: nothing more is acked
            pending.popleft()
            self._finish(batch, refused)
            block = False

    def _store_batch(self, batch: Batch) -> list[tuple[int, str]]:
        """Write the batch durably (in a pool thread); the refused readings' indexes."""
        if not batch.readings:
            return []
        try:  # plain messages as blocks of lines, cut into single lines only if refused
            self._write_waiting(batch.readings)
            return []
        except DATA_ERRORS as e:
            return split_write(self._write_waiting, batch.lines(), refused=e)

    def _finish(self, batch: Batch, refused: list[tuple[int, str]]) -> None:
        """After a durable write: dead letters committed, counts, then the acks."""
        rejections = batch.rejections
        if refused:
            self.stats.split_writes += 1
            rejections = rejections + [self._store_rejection(batch, i, detail)
                                       for i, detail in refused]
            log.error("store refused %d of %d readings; the rest are stored (first: %s)",
                      len(refused), batch.count, refused[0][1])
        for r in rejections:
            self.stats.rejected[r.cause] += 1
            if r.cause not in self._logged_causes:
                self._logged_causes.add(r.cause)
                log.warning("rejected %s on %s: %s (further %s rejections are counted, "
                            "not logged)", r.cause, r.topic, r.detail, r.cause)
        self.deadletters.add(rejections, round(self.clock() * 1000))
        self._ack(batch.msgs)
        # counted once acked, so `messages` never runs ahead of `acked` for an observer
        self.stats.readings += batch.count - len(refused)
        self.stats.batches += 1
        self.stats.messages += len(batch.msgs)

    def _store_rejection(self, batch: Batch, i: int, detail: str) -> Rejection:
        k = bisect.bisect_right(batch.starts, i) - 1
        m, indexes = batch.origins[k]
        return Rejection("store_rejected", detail, m.topic,
                         element_of(m.topic, m.payload, indexes[i - batch.starts[k]]))

    def _write_waiting(self, readings: list[Any]) -> None:
        """store.write, waiting out StoreUnavailable (not acked: the broker keeps the data)."""
        delay = 0.5
        while True:
            try:
                if self._lines:
                    self.store.write_lines(readings)  # type: ignore[attr-defined]
                else:
                    self.store.write(readings)
                self._stalled_since = None
                return
            except StoreUnavailable as e:
                self.stats.store_retries += 1
                if self._stalled_since is None:
                    self._stalled_since = time.monotonic()
                log.warning("store unavailable (%s); retrying in %.1fs", e, delay)
                # health keeps being written (and logged) while we wait
                wake = time.monotonic() + delay
                while (left := wake - time.monotonic()) > 0:
                    if self._stop.wait(min(left, 0.5)):
                        raise _Abandoned() from e
                    self._write_health()
                delay = min(delay * 2, 10.0)

    def _ack(self, batch: list[Message]) -> None:
        current = self._generation
        qos1: list[int] = []
        for m in batch:
            if m.qos == 0:
                continue
            if m.generation != current:
                # received on a previous connection: the broker resends it on this one
                self.stats.stale_acks_dropped += 1
                continue
            if m.qos == 1:
                qos1.append(m.mid)
            else:
                self._client.ack(m.mid, m.qos)
            self.stats.acked += 1
        # one PUBACK per message, sent in one write
        self._client.ack_qos1(qos1)

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
            "stalled_s": (0.0 if self._stalled_since is None
                          else time.monotonic() - self._stalled_since),
            "ignored_total": self.stats.ignored,
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
            "health: %.0f readings/s, %d readings, %d rejected %s, queue %d, %s%s%s",
            fields["readings_per_s"], self.stats.readings, fields["rejected_total"],
            dict(self.stats.rejected) or "", fields["queue_depth"],
            "connected" if fields["connected"] else "NOT CONNECTED",
            f", STALLED {fields['stalled_s']:.0f} s (store unavailable)"
            if fields["stalled_s"] else "",
            "".join(f", {k} {v:g}" for k, v in fields.items() if k.startswith("spool_")),
        )
        try:
            self.health_sink(points)
            self._health_error = ""
        except Exception as e:  # health is best effort; it must never stop the writer
            if str(e) != self._health_error:  # once per cause, not every interval
                log.warning("could not write health: %s", e)
            self._health_error = str(e)
