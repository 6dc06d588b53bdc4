"""paho's Client with a lean receive path for plain QoS 0/1 messages and PUBACKs in one write.

Stock paho spends most of a small message's CPU around it rather than on it: for MQTT 5 it
builds a Properties object (two dicts of every property name) for each PUBLISH, even one
with no properties; it reads every packet with three recv() calls and goes through select()
and its housekeeping once per packet; and each manual ack is a packet of its own, woken
through paho's socket pair. Here:

- a PUBLISH with no properties (the usual device message) is decoded in a few slices and
  handed to `on_plain_message(mid, qos, topic, payload)`; anything else (properties, a topic
  alias, QoS 2, an invalid UTF-8 topic, a malformed packet, paho's logging switched on) goes
  paho's own way to `on_message`;
- the socket is read 64 KiB at a time and every packet already read is handled before paho
  selects again;
- `ack_qos1(mids)` queues the PUBACKs of a whole batch as one socket write: still one PUBACK
  packet per message, as MQTT requires.

These lean on paho internals (`_handle_publish`, `_create_socket`, `_packet_queue`,
`_in_packet`), read in the versions below; with any other paho version the client is stock
paho and only slower. tests/test_mqtt_client.py holds the decoder to paho's own and fails
when the pinned paho is not one of these.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Sequence
from typing import Any

import paho.mqtt
import paho.mqtt.client as mqtt
from paho.mqtt.enums import MQTTErrorCode, MQTTProtocolVersion

# paho versions whose internals this module was written against
KNOWN_PAHO: frozenset[str] = frozenset({"2.2.0"})
LEAN = paho.mqtt.__version__ in KNOWN_PAHO

_READ_BYTES = 65536
# packets handled per select() at most, so keep-alive and writes are not starved
_PACKETS_PER_READ = 1000
_PUBACK = 0x40
_PUBACK_PACKET = struct.Struct("!BBH")


PlainMessage = tuple[int, int, str, bytes]
"""mid, qos, topic, payload of a PUBLISH without properties."""


def decode_plain_publish(header: int, packet: bytes | bytearray,
                         v5: bool) -> PlainMessage | None:
    """A QoS 0/1 PUBLISH without properties, or None for anything paho must decode itself.

    `header` is the fixed header's first byte, `packet` everything after the remaining length.
    """
    qos = (header & 0x06) >> 1
    if qos == 2:
        return None
    n = len(packet)
    if n < 2:
        return None
    slen = (packet[0] << 8) | packet[1]
    if slen == 0:  # MQTT 5 topic alias: paho resolves it
        return None
    pos = 2 + slen
    mid = 0
    if qos:
        if n < pos + 2:
            return None
        mid = (packet[pos] << 8) | packet[pos + 1]
        pos += 2
    if v5:
        if n <= pos or packet[pos] != 0:  # properties present (or truncated)
            return None
        pos += 1
    elif n < pos:
        return None
    try:
        topic = bytes(packet[2:2 + slen]).decode("utf-8")
    except UnicodeDecodeError:
        return None
    return mid, qos, topic, bytes(packet[pos:])


class _ReadBuffer:
    """A socket read in large chunks; paho takes its small reads from the chunk.

    `pending()` tells paho's loop that bytes are waiting here (it asks SSL sockets the same),
    so it does not block in select() while a packet is already read.
    """

    def __init__(self, sock: Any) -> None:
        self._sock = sock
        self._buf = b""
        self._pos = 0

    def recv(self, bufsize: int) -> bytes:
        pos, buf = self._pos, self._buf
        if pos >= len(buf):
            # raises what the socket raises (BlockingIOError, OSError): paho handles those
            buf = self._sock.recv(max(bufsize, _READ_BYTES))
            if len(buf) <= bufsize:
                self._buf, self._pos = b"", 0
                return buf  # type: ignore[no-any-return]
            self._buf, pos = buf, 0
        end = min(pos + bufsize, len(buf))
        self._pos = end
        return buf[pos:end]

    def pending(self) -> int:
        inner = self._sock.pending() if hasattr(self._sock, "pending") else 0
        return len(self._buf) - self._pos + inner

    def buffered(self) -> bool:
        return self._pos < len(self._buf)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)


class CollectorClient(mqtt.Client):
    """A paho Client; see the module docstring for what differs."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.on_plain_message: Callable[[int, int, str, bytes], None] | None = None

    def _create_socket(self) -> Any:
        sock = super()._create_socket()
        if LEAN and self._transport == "tcp":
            return _ReadBuffer(sock)
        return sock

    def loop_read(self, max_packets: int = 1) -> MQTTErrorCode:
        rc = super().loop_read(max_packets)
        # paho reads one packet per select(); the ones already read are handled now
        for _ in range(_PACKETS_PER_READ):
            sock = self._sock
            if rc != MQTTErrorCode.MQTT_ERR_SUCCESS or not isinstance(sock, _ReadBuffer) \
                    or not sock.buffered():
                break
            rc = super().loop_read(max_packets)
        return rc

    def _handle_publish(self) -> MQTTErrorCode:
        handler = self.on_plain_message
        if (not LEAN or handler is None or self._logger is not None
                or self.on_log is not None):
            return super()._handle_publish()
        plain = decode_plain_publish(self._in_packet["command"], self._in_packet["packet"],
                                     self._protocol == MQTTProtocolVersion.MQTTv5)
        if plain is None:
            return super()._handle_publish()
        mid, qos, topic, payload = plain
        with self._in_callback_mutex:
            try:
                handler(mid, qos, topic, payload)
            except Exception as err:
                self._easy_log(mqtt.MQTT_LOG_ERR, "Caught exception in on_plain_message: %s",
                               err)
                if not self.suppress_exceptions:
                    raise
        if qos == 1 and not self._manual_ack:
            return self._send_puback(mid)
        return MQTTErrorCode.MQTT_ERR_SUCCESS

    def ack_qos1(self, mids: Sequence[int]) -> None:
        """PUBACK each of these QoS 1 messages (manual ack), all in one socket write."""
        if not mids:
            return
        if not LEAN:
            for mid in mids:
                self.ack(mid, 1)
            return
        pack = _PUBACK_PACKET.pack
        packet = b"".join([pack(_PUBACK, 2, mid) for mid in mids])
        # one queued write holding len(mids) PUBACK packets; paho only sends it
        self._packet_queue(_PUBACK, packet, 0, 0)
