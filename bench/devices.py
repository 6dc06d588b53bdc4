"""A light MQTT 3.1.1 QoS 1 publisher for the benches: packets built before the clock starts,
written to the socket in runs, PUBACKs counted as they come.

On a 2-core machine the load generator shares the cores with what it measures. paho spends
about 110 µs of CPU per message of 100 readings (its packet queue, its loop thread, one
MQTTMessageInfo each); this spends a few. Every message is still a real QoS 1 PUBLISH that
mosquitto must acknowledge, with at most `window` unacknowledged at once.
"""

from __future__ import annotations

import socket
import struct
import time
from collections.abc import Sequence

_CONNECT = 0x10
_CONNACK = 0x20
_PUBLISH_QOS1 = 0x32
_PUBACK = 0x40


def _remaining_length(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n % 128, n // 128
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _packet(kind: int, body: bytes) -> bytes:
    return bytes([kind]) + _remaining_length(len(body)) + body


def _text(s: str) -> bytes:
    raw = s.encode("utf-8")
    return struct.pack("!H", len(raw)) + raw


def connect_packet(client_id: str, keepalive_s: int = 60) -> bytes:
    """CONNECT, MQTT 3.1.1, clean session."""
    return _packet(_CONNECT, _text("MQTT") + bytes([4, 0x02]) + struct.pack("!H", keepalive_s)
                   + _text(client_id))


def publish_packet(topic: str, payload: bytes, mid: int) -> bytes:
    """PUBLISH at QoS 1 with packet id mid (1..65535)."""
    return _packet(_PUBLISH_QOS1, _text(topic) + struct.pack("!H", mid) + payload)


class RawPublisher:
    """One device-side connection publishing prebuilt QoS 1 messages."""

    def __init__(self, port: int, client_id: str, window: int = 1000) -> None:
        self.window = window
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=60)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock.sendall(connect_packet(client_id))
        ack = self._read_exactly(4)
        if ack[0] != _CONNACK or ack[3] != 0:
            raise ConnectionError(f"mosquitto refused the connection: CONNACK {ack!r}")
        self._pending = b""

    def packets(self, msgs: Sequence[tuple[str, bytes]]) -> list[bytes]:
        """The messages as PUBLISH packets, ids 1..65535 in turn (window < 65535 keeps each
        id unacknowledged at most once)."""
        assert self.window < 65_535
        return [publish_packet(t, p, i % 65_535 + 1) for i, (t, p) in enumerate(msgs)]

    def send(self, packets: Sequence[bytes], run: int = 64) -> None:
        """Write every packet, at most `window` unacknowledged; return once all are acked."""
        self.sock.settimeout(None)  # blocking; MSG_DONTWAIT picks up PUBACKs between runs
        sent = acked = 0
        while acked < len(packets):
            if sent < len(packets) and sent - acked < self.window:
                end = min(len(packets), sent + run, acked + self.window)
                self.sock.sendall(b"".join(packets[sent:end]))
                sent = end
                acked += self._pubacks(socket.MSG_DONTWAIT)
            else:
                acked += self._pubacks(0)

    def _pubacks(self, flags: int) -> int:
        try:
            data = self.sock.recv(65_536, flags)
        except BlockingIOError:
            return 0
        if not data:
            raise ConnectionError("mosquitto closed the connection")
        data = self._pending + data
        whole = len(data) // 4 * 4
        self._pending = data[whole:]
        if any(data[i] != _PUBACK for i in range(0, whole, 4)):
            raise ConnectionError(f"expected only PUBACKs from mosquitto, got {data[:8]!r}")
        return whole // 4

    def _read_exactly(self, n: int) -> bytes:
        buf = b""
        deadline = time.monotonic() + 60
        while len(buf) < n:
            if time.monotonic() > deadline:
                raise TimeoutError("no CONNACK from mosquitto")
            chunk = self.sock.recv(n - len(buf))
            if not chunk:
                raise ConnectionError("mosquitto closed the connection")
            buf += chunk
        return buf

    def close(self) -> None:
        self.sock.sendall(b"\xe0\x00")  # DISCONNECT
        self.sock.close()
