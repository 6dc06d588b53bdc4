"""Simulated MQTT devices' wire side: payloads per docs/devices.md and a QoS 1 publisher."""

from __future__ import annotations

import datetime as dt
import json
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from district.readings import FieldValue

DISTRICT_TZ = dt.timezone(dt.timedelta(hours=8))
TS_FORMS = ("epoch_int", "epoch_float", "rfc3339")


class MqttUnavailable(Exception):
    """The broker could not be reached or refused us."""


@dataclass(frozen=True, slots=True)
class MqttSettings:
    """Where and how the simulated devices publish."""

    host: str = "127.0.0.1"
    port: int = 1883
    username: str = ""
    password: str = ""
    client_id: str = "heatwatch-simulator"
    topic_prefix: str = "heat"
    qos: int = 1
    keepalive_s: int = 30
    max_inflight: int = 200
    connect_timeout_s: float = 10.0


class Sink(Protocol):
    """Where device messages go: a broker, or a list in a pure test."""

    def publish(self, topic: str, payload: bytes) -> None:
        ...


def topic_for(prefix: str, kind: str, device_id: str) -> str:
    """contract: heat/<kind>/<id>."""
    return f"{prefix}/{kind}/{device_id}"


def format_ts(t: float, form: str) -> int | float | str:
    """contract: ts is epoch seconds (int or float) or RFC 3339 with offset."""
    if form == "epoch_int":
        return int(round(t))
    if form == "epoch_float":
        return round(t, 3)
    if form == "rfc3339":
        return dt.datetime.fromtimestamp(t, DISTRICT_TZ).isoformat(timespec="seconds")
    raise ValueError(f"unknown ts form {form!r}")


def reading_object(t: float, form: str, fields: dict[str, FieldValue]) -> dict[str, Any]:
    """One reading as it goes on the wire: ts first, then the fields."""
    return {"ts": format_ts(t, form), **fields}


def encode_payload(objects: Sequence[dict[str, Any]]) -> bytes:
    """One object, or an array when a device flushes its backlog."""
    body: Any = objects[0] if len(objects) == 1 else list(objects)
    return json.dumps(body, ensure_ascii=False, separators=(",", ":"),
                      allow_nan=False).encode("utf-8")


def encode_payload_array(objs: Sequence[dict[str, Any]]) -> bytes:
    """A backlog flush: always a JSON array, even of one reading."""
    return json.dumps(objs, ensure_ascii=False, separators=(",", ":"),
                      allow_nan=False).encode("utf-8")


class RecordingSink:
    """Keeps what would have been published; for dry runs and pure tests."""

    def __init__(self) -> None:
        self.messages: list[tuple[str, bytes]] = []

    def publish(self, topic: str, payload: bytes) -> None:
        self.messages.append((topic, payload))


class MqttPublisher:
    """A paho 2.x client with a persistent session: QoS 1 messages survive a broker restart."""

    # paho keeps every unacked QoS 1 message and resends it after reconnecting; the
    # session (clean_session False) keeps the broker's side; flush() waits for the acks.

    def __init__(self, settings: MqttSettings) -> None:
        self.settings = settings
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2,
                                  client_id=settings.client_id, clean_session=False,
                                  protocol=mqtt.MQTTv311)
        if settings.username:
            self.client.username_pw_set(settings.username, settings.password or None)
        self.client.max_inflight_messages_set(settings.max_inflight)
        self.client.max_queued_messages_set(0)  # 0: unbounded; a device never drops a reading
        self.client.reconnect_delay_set(1, 2)
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_publish = self._on_publish
        self._lock = threading.Condition()
        self._outstanding: set[int] = set()
        self._early: set[int] = set()  # acks that beat publish() returning
        self._connected = threading.Event()
        self._refused = ""
        self.sent = 0
        self.acked = 0
        self.reconnects = 0

    def _on_connect(self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any,
                    properties: Any) -> None:
        if reason.is_failure:
            self._refused = str(reason)
            return
        if self._connected.is_set() or self.sent:
            self.reconnects += 1
        self._connected.set()

    def _on_disconnect(self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any,
                       properties: Any) -> None:
        self._connected.clear()

    def _on_publish(self, client: mqtt.Client, userdata: Any, mid: int, reason: Any,
                    properties: Any) -> None:
        with self._lock:
            if mid in self._outstanding:
                self._outstanding.discard(mid)
            else:
                self._early.add(mid)
            self.acked += 1
            self._lock.notify_all()

    def start(self) -> None:
        """Connect and start the network thread; MqttUnavailable if the broker never answers."""
        s = self.settings
        self.client.connect_async(s.host, s.port, keepalive=s.keepalive_s)
        self.client.loop_start()
        deadline = time.monotonic() + s.connect_timeout_s
        while not self._connected.wait(0.05):
            if self._refused or time.monotonic() > deadline:
                self.client.loop_stop()
                why = self._refused or f"no answer within {s.connect_timeout_s:g}s"
                raise MqttUnavailable(f"MQTT broker {s.host}:{s.port}: {why}")

    def publish(self, topic: str, payload: bytes) -> None:
        info = self.client.publish(topic, payload, qos=self.settings.qos)
        self.sent += 1
        if self.settings.qos == 0:
            return
        # never call paho while holding our lock: paho calls on_publish under its own
        with self._lock:
            if info.mid in self._early:
                self._early.discard(info.mid)
            else:
                self._outstanding.add(info.mid)

    def pending(self) -> int:
        with self._lock:
            return len(self._outstanding)

    def flush(self, timeout_s: float = 30.0) -> bool:
        """Wait until the broker has acked every message; False on timeout."""
        deadline = time.monotonic() + timeout_s
        with self._lock:
            while self._outstanding:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._lock.wait(min(left, 0.1))
        return True

    def close(self, timeout_s: float = 30.0) -> bool:
        """Flush, then disconnect; True when nothing was left unacked."""
        ok = self.flush(timeout_s)
        self.client.disconnect()
        self.client.loop_stop()
        return ok
