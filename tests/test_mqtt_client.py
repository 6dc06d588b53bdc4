"""The collector's paho client: its lean decoder agrees with paho's, its buffered reads lose
nothing, and a real broker takes its PUBACKs written together."""

from __future__ import annotations

import socket
import struct
import threading
import time
from pathlib import Path

import paho.mqtt
import paho.mqtt.client as mqtt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from paho.mqtt import _packet
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from collector.mqtt_client import LEAN, CollectorClient, _ReadBuffer, decode_plain_publish
from tests.harness import wait_for
from tests.services import Mosquitto


def test_the_pinned_paho_takes_the_lean_path() -> None:
    # the lean path reads paho internals; a new paho must be read again before it is added
    # to KNOWN_PAHO (until then it works, only slower)
    assert LEAN, f"paho-mqtt {paho.mqtt.__version__}: check collector/mqtt_client.py against it"


def _properties(expiry: int | None, user: tuple[str, str] | None,
                content_type: str | None) -> bytes:
    props = Properties(PacketTypes.PUBLISH)
    if expiry is not None:
        props.MessageExpiryInterval = expiry
    if user is not None:
        props.UserProperty = user
    if content_type is not None:
        props.ContentType = content_type
    return bytes(props.pack())


@settings(max_examples=400, deadline=None)
@given(qos=st.integers(0, 2), dup=st.booleans(), retain=st.booleans(),
       topic=st.one_of(st.text(max_size=40).map(str.encode), st.binary(max_size=40)),
       mid=st.integers(1, 65535), v5=st.booleans(),
       expiry=st.one_of(st.none(), st.integers(0, 2**32 - 1)),
       user=st.one_of(st.none(), st.tuples(st.text(max_size=8), st.text(max_size=8))),
       content_type=st.one_of(st.none(), st.text(max_size=8)),
       payload=st.binary(max_size=200))
def test_a_plain_publish_decodes_as_paho_decodes_it_and_the_rest_is_left_to_paho(
        qos: int, dup: bool, retain: bool, topic: bytes, mid: int, v5: bool,
        expiry: int | None, user: tuple[str, str] | None, content_type: str | None,
        payload: bytes) -> None:
    header = 0x30 | (dup << 3) | (qos << 1) | retain
    props = _properties(expiry, user, content_type) if v5 else b""
    packet = (struct.pack("!H", len(topic)) + topic
              + (struct.pack("!H", mid) if qos else b"") + props + payload)
    protocol = MQTTProtocolVersion.MQTTv5 if v5 else MQTTProtocolVersion.MQTTv311
    lean = decode_plain_publish(header, bytearray(packet), v5)
    try:
        valid_topic = topic.decode("utf-8") if topic else None
    except UnicodeDecodeError:
        valid_topic = None
    plain = qos < 2 and valid_topic is not None and (not v5 or props == b"\x00")
    if not plain:
        assert lean is None
        return
    ref = _packet.decode_publish(header, bytearray(packet), protocol)
    assert lean == (ref.mid, ref.qos, ref.topic.decode("utf-8"), bytes(ref.payload))
    assert isinstance(lean[3], bytes)


@settings(max_examples=400, deadline=None)
@given(header=st.integers(0x30, 0x3F), packet=st.binary(max_size=60), v5=st.booleans())
def test_any_bytes_are_decoded_as_paho_decodes_them_or_left_to_paho(
        header: int, packet: bytes, v5: bool) -> None:
    lean = decode_plain_publish(header, packet, v5)  # never raises
    if lean is None:
        return
    protocol = MQTTProtocolVersion.MQTTv5 if v5 else MQTTProtocolVersion.MQTTv311
    ref = _packet.decode_publish(header, packet, protocol)
    assert lean == (ref.mid, ref.qos, ref.topic.decode("utf-8"), bytes(ref.payload))


@settings(max_examples=60, deadline=None)
@given(data=st.binary(min_size=1, max_size=200_000),
       writes=st.lists(st.integers(1, 70_000), min_size=1, max_size=20),
       reads=st.lists(st.integers(1, 70_000), min_size=1, max_size=20))
def test_buffered_reads_return_the_stream_in_order(data: bytes, writes: list[int],
                                                   reads: list[int]) -> None:
    a, b = socket.socketpair()
    try:
        def writer() -> None:
            pos, k = 0, 0
            while pos < len(data):
                n = writes[k % len(writes)]
                a.sendall(data[pos:pos + n])
                pos, k = pos + n, k + 1

        t = threading.Thread(target=writer)
        t.start()
        buf = _ReadBuffer(b)
        got = bytearray()
        k = 0
        while len(got) < len(data):
            chunk = buf.recv(reads[k % len(reads)])
            assert 0 < len(chunk) <= reads[k % len(reads)]
            got += chunk
            assert buf.pending() >= 0
            k += 1
        t.join()
        assert bytes(got) == data
        assert buf.pending() == 0 and not buf.buffered()
        assert buf.fileno() == b.fileno()  # the rest is the socket's own
    finally:
        a.close()
        b.close()


def _subscriber(port: int, client_id: str, got: list[tuple[str, int, str, bytes]],
                mids: list[int]) -> CollectorClient:
    c = CollectorClient(CallbackAPIVersion.VERSION2, client_id=client_id,
                        protocol=mqtt.MQTTv5, manual_ack=True)

    def plain(mid: int, qos: int, topic: str, payload: bytes) -> None:
        got.append(("plain", qos, topic, payload))
        mids.append(mid)

    def message(client: mqtt.Client, userdata: object, msg: mqtt.MQTTMessage) -> None:
        got.append(("paho", msg.qos, msg.topic, bytes(msg.payload)))
        mids.append(msg.mid)

    c.on_plain_message = plain
    c.on_message = message
    props = Properties(PacketTypes.CONNECT)
    props.SessionExpiryInterval = 600
    subscribed = threading.Event()
    c.on_subscribe = lambda *_: subscribed.set()
    c.connect("127.0.0.1", port, clean_start=False, properties=props)
    c.subscribe("heat/#", 1)
    c.loop_start()
    assert subscribed.wait(30), "no SUBACK"
    return c


@pytest.mark.services
def test_messages_with_and_without_properties_arrive_in_order_and_acks_written_together_hold(
        tmp_path: Path, mosquitto: Mosquitto) -> None:
    got: list[tuple[str, int, str, bytes]] = []
    mids: list[int] = []
    sub = _subscriber(mosquitto.port, "lean-sub", got, mids)
    pub = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="lean-pub", protocol=mqtt.MQTTv5)
    pub.connect("127.0.0.1", mosquitto.port)
    pub.loop_start()
    with_props = Properties(PacketTypes.PUBLISH)
    with_props.UserProperty = ("source", "gateway-7")
    sent: list[tuple[str, int, str, bytes]] = []
    infos = []
    for i in range(600):
        topic, payload = f"heat/room/r{i % 7}", f'{{"ts": {i}, "temp_c": 20.5}}'.encode()
        props = with_props if i % 100 == 50 else None
        infos.append(pub.publish(topic, payload, qos=1, properties=props))
        sent.append(("paho" if props else "plain", 1, topic, payload))
    for info in infos:
        info.wait_for_publish(30)
    wait_for(lambda: len(got) >= len(sent), 30, "every message received")
    assert got == sent  # in order, the ones with properties through paho's own path
    # ack the first 400 (in two writes), then leave: the broker keeps the other 200
    sub.ack_qos1(mids[:150])
    sub.ack_qos1(mids[150:400])
    time.sleep(0.5)
    sub.disconnect()
    sub.loop_stop()
    again: list[tuple[str, int, str, bytes]] = []
    again_sub = _subscriber(mosquitto.port, "lean-sub", again, [])
    wait_for(lambda: len(again) >= 200, 30, "the unacked messages again")
    time.sleep(0.5)  # nothing more comes
    again_sub.disconnect()
    again_sub.loop_stop()
    pub.disconnect()
    pub.loop_stop()
    assert [(t, p) for _, _, t, p in again] == [(t, p) for _, _, t, p in sent[400:]]
