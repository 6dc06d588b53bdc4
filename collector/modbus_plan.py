"""The Modbus poll plan: profiles and devices.csv turned, once, into what the loop runs."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from collector.profiles import Profile
from district.records import Device, Records

# Modbus application protocol: a read of holding/input registers carries at most 125 words
MAX_READ_REGISTERS: Final = 125


class PlanError(Exception):
    """Devices that cannot be polled as configured; the message names them."""

    def __init__(self, problems: list[str] | str) -> None:
        self.problems = [problems] if isinstance(problems, str) else problems
        head = self.problems[0] if self.problems else "the plan is invalid"
        more = f" (and {len(self.problems) - 1} more)" if len(self.problems) > 1 else ""
        super().__init__(head + more)


@dataclass(frozen=True, slots=True)
class Read:
    """One request: function code, first register address, number of registers."""

    function: int
    address: int
    count: int

    @property
    def end(self) -> int:
        return self.address + self.count


@dataclass(frozen=True, slots=True)
class MeterPoll:
    """One meter on a gateway: its unit id, tags, profile and the reads that cover it."""

    device_id: str
    unit: int
    tags: dict[str, str]
    profile: Profile
    reads: tuple[Read, ...]


@dataclass(frozen=True, slots=True)
class GatewayPlan:
    """One RS-485 gateway: one connection, its meters in unit order."""

    host: str
    port: int
    meters: tuple[MeterPoll, ...]

    @property
    def key(self) -> str:
        return f"{self.host}:{self.port}"


@dataclass(frozen=True, slots=True)
class PollPlan:
    """Every gateway to poll and, per profile, the grouped reads."""

    gateways: tuple[GatewayPlan, ...]
    reads: dict[str, tuple[Read, ...]]

    @property
    def meter_count(self) -> int:
        return sum(len(g.meters) for g in self.gateways)


def group_reads(profile: Profile, max_gap: int = 0,
                max_count: int = MAX_READ_REGISTERS) -> tuple[Read, ...]:
    """Neighbouring registers merged into as few reads of at most max_count as possible."""
    # a gap of up to max_gap unused registers is read through rather than split
    if not 1 <= max_count <= MAX_READ_REGISTERS:
        raise PlanError(f"max_count {max_count} is outside 1..{MAX_READ_REGISTERS}")
    if max_gap < 0:
        raise PlanError(f"max_gap {max_gap} must not be negative")
    reads: list[Read] = []
    start = end = -1
    for reg in profile.registers:  # sorted by address, never overlapping
        if reg.count > max_count:
            raise PlanError(f"{profile.path}: {reg.field} needs {reg.count} registers, "
                            f"more than max_count {max_count}")
        if start >= 0 and reg.address - end <= max_gap and reg.end - start <= max_count:
            end = reg.end
            continue
        if start >= 0:
            reads.append(Read(profile.function, start, end - start))
        start, end = reg.address, reg.end
    reads.append(Read(profile.function, start, end - start))
    return tuple(reads)


def build_plan(records: Records, profiles: Mapping[str, Profile], max_gap: int = 0,
               max_count: int = MAX_READ_REGISTERS,
               devices_csv: str | Path = "devices.csv") -> PollPlan:
    """The plan for every modbus device in the records; PlanError lists every bad device."""
    problems: list[str] = []
    by_gateway: dict[tuple[str, int], list[Device]] = {}
    for d in records.devices.values():
        if d.protocol != "modbus":
            continue
        if d.port is None or d.unit is None or not d.host:
            problems.append(f"{devices_csv}: device {d.device_id!r} lacks host, port or unit")
            continue
        if d.profile not in profiles:
            known = ", ".join(sorted(profiles)) or "none"
            problems.append(f"{devices_csv}: device {d.device_id!r} names unknown profile "
                            f"{d.profile!r} (known: {known})")
            continue
        by_gateway.setdefault((d.host, d.port), []).append(d)

    reads = {name: group_reads(p, max_gap, max_count) for name, p in profiles.items()}
    gateways: list[GatewayPlan] = []
    for (host, port), devices in sorted(by_gateway.items()):
        devices.sort(key=lambda d: (d.unit or 0, d.device_id))
        for a, b in zip(devices, devices[1:], strict=False):
            if a.unit == b.unit:
                # one RS-485 address answers for one meter only
                problems.append(f"{devices_csv}: devices {a.device_id!r} and {b.device_id!r} "
                                f"share unit {a.unit} on gateway {host}:{port}")
        meters = tuple(MeterPoll(d.device_id, d.unit or 0, d.tags(), profiles[d.profile],
                                 reads[d.profile]) for d in devices)
        gateways.append(GatewayPlan(host, port, meters))
    if problems:
        raise PlanError(problems)
    return PollPlan(tuple(gateways), reads)
