"""The benches' light publisher speaks MQTT that a real mosquitto takes: every message arrives
once, whole, at a QoS 1 subscriber, and it returns only after every PUBACK."""

from __future__ import annotations

import threading

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from bench.devices import RawPublisher, _remaining_length
from tests.services import Mosquitto

pytestmark = pytest.mark.services


def test_remaining_length_is_the_mqtt_varint() -> None:
    # the examples of MQTT 3.1.1, section 2.2.3
    assert _remaining_length(0) == b"\x00"
    assert _remaining_length(127) == b"\x7f"
    assert _remaining_length(128) == b"\x80\x01"
    assert _remaining_length(16_383) == b"\xff\x7f"
    assert _remaining_length(16_384) == b"\x80\x80\x01"
    assert _remaining_length(2_097_152) == b"\x80\x80\x80\x01"


def test_every_message_arrives_once_and_whole(mosquitto: Mosquitto) -> None:
    # sizes across the 1-, 2- and 3-byte remaining lengths; a window smaller than the run
    msgs = [(f"heat/room/q{i % 7:04d}", bytes([i % 251]) * size)
            for i, size in enumerate([0, 1, 100, 126, 127, 200, 16_000, 16_384, 70_000] * 30)]
    got: list[tuple[str, bytes]] = []
    done = threading.Event()
    subscribed = threading.Event()

    def on_message(c: mqtt.Client, u: object, m: mqtt.MQTTMessage) -> None:
        got.append((m.topic, bytes(m.payload)))
        if len(got) >= len(msgs):
            done.set()

    sub = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="devices-sub")
    sub.on_message = on_message
    sub.on_subscribe = lambda *a: subscribed.set()
    sub.connect("127.0.0.1", mosquitto.port)
    sub.subscribe("heat/#", 1)
    sub.loop_start()
    try:
        assert subscribed.wait(10)
        dev = RawPublisher(mosquitto.port, "devices-pub", window=5)
        dev.send(dev.packets(msgs), run=8)
        dev.close()
        assert done.wait(30), f"{len(got)} of {len(msgs)} arrived"
    finally:
        sub.loop_stop()
        sub.disconnect()
    assert sorted(got) == sorted(msgs)
