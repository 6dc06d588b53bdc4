"""The `[simulator]` config section: `heatwatch simulate`'s devices (the demo's; kept beside the
config loader so production paths never import `simulators`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from annotated_types import Ge, Interval, MinLen


@dataclass(slots=True)
class SimulatorConfig:
    scenario: Annotated[str, MinLen(1)] = "sample"  # a bundled name or a scenario TOML path
    speed: Annotated[float, Ge(0)] = 0.0  # district seconds per wall second; 0: the scenario's
    gateway_host: Annotated[str, MinLen(1)] = "127.0.0.1"
    port_offset: Annotated[int, Interval(ge=-65535, le=65535)] = 0
    free_ports: bool = False
    # not the collector's: both keep persistent sessions on the broker
    client_id: Annotated[str, MinLen(1)] = "heatwatch-simulator"
