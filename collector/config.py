"""The `[mqtt]`, `[collector]` and `[modbus]` config sections."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, Literal

from annotated_types import Ge, Gt, Interval, MinLen

Port = Annotated[int, Interval(ge=1, le=65535)]


@dataclass(slots=True)
class MqttConfig:
    host: Annotated[str, MinLen(1)] = "127.0.0.1"
    port: Port = 1883
    username: str = ""
    password: str = ""
    client_id: Annotated[str, MinLen(1)] = "heatwatch-collector"
    # "5" or "3.1.1" (the embedded demo broker speaks 3.1.1)
    protocol: Literal["5", "3.1.1"] = "5"
    topic_prefix: Annotated[str, MinLen(1)] = "heat"
    qos: Literal[0, 1, 2] = 1
    # MQTT: a 16-bit number of seconds; 0 turns keep-alive off
    keepalive_s: Annotated[int, Interval(ge=0, le=65535)] = 30
    # MQTT 5 receive maximum: how many unacked QoS 1 messages the broker may send us;
    # a packet id is 16 bits, so a larger window would wrap ids still in flight
    receive_maximum: Annotated[int, Interval(ge=1, le=65535)] = 10000
    # MQTT 5: a 32-bit number of seconds
    session_expiry_s: Annotated[int, Interval(ge=0, le=2**32 - 1)] = 7 * 24 * 3600
    max_payload_bytes: Annotated[int, Ge(1)] = 256 * 1024
    # several collectors share the load: each message goes to one member of the group
    # (MQTT shared subscription $share/<group>/<prefix>/#); empty: this one takes all
    share_group: str = ""

    def __post_init__(self) -> None:
        if any(c in self.share_group for c in "/+#"):
            raise ValueError("share_group must not contain '/', '+' or '#'")


@dataclass(slots=True)
class CollectorConfig:
    batch_size: Annotated[int, Ge(1)] = 5000
    flush_interval_ms: Annotated[int, Ge(1)] = 100
    # batches written at once; each is acked only after it and every earlier one is stored
    writes_in_flight: Annotated[int, Interval(ge=1, le=64)] = 4
    health_interval_s: Annotated[float, Gt(0)] = 10.0
    deadletter_path: str = ""  # empty: <data_dir>/deadletter.sqlite
    deadletter_payload_bytes: Annotated[int, Ge(0)] = 64 * 1024
    # <prefix>/<kind>/.. subtrees other services publish in (alerts: heat/orders/<crew>):
    # acked and left alone; any other unknown kind is dead-lettered as unknown_kind
    ignore_kinds: list[str] = field(default_factory=lambda: ["orders"])


@dataclass(slots=True)
class ModbusConfig:
    interval_s: Annotated[float, Gt(0)] = 3600.0  # docs/rules.md: meters are read hourly
    timeout_s: Annotated[float, Gt(0)] = 1.0
    retries: Annotated[int, Ge(0)] = 0
    backoff_s: Annotated[float, Gt(0)] = 1.0
    backoff_max_s: Annotated[float, Gt(0)] = 60.0
    max_gap: Annotated[int, Ge(0)] = 0  # registers bridged to merge two reads into one
    # Modbus: one read returns at most 125 registers
    max_read_registers: Annotated[int, Interval(ge=1, le=125)] = 125
    profiles_dir: str = ""  # empty: the bundled collector/profiles

    def __post_init__(self) -> None:
        if self.backoff_s > self.backoff_max_s:
            raise ValueError("backoff_s must not exceed backoff_max_s")
