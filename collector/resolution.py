"""A meter's register resolution from its model's profile (issue 25, docs/devices.md "Register
resolution and rated range").

An integer register's `scale` is its last digit: a u32 `energy_kwh` at scale 0.01 counts
0.01 kWh steps. A float register states no resolution. The records' own columns
(`energy_resolution_kwh`, `volume_resolution_m3` in devices.csv) win over the profile; a meter
with neither is read at the rules' default.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

from collector.profiles import TYPES, Profile
from district.records import Records

FIELDS = {"energy_kwh": "energy_resolution_kwh", "volume_m3": "volume_resolution_m3"}


def profile_resolution(profile: Profile, field: str) -> float | None:
    """The resolution an integer register of `field` states (its scale), else None."""
    for r in profile.registers:
        if r.field == field and not TYPES[r.type][2]:
            return abs(r.scale)
    return None


def with_profile_resolutions(records: Records, profiles: Mapping[str, Profile]) -> Records:
    """The records with each meter's empty resolution filled from its `profile` column's
    profile (Modbus or MQTT alike); a profile not found leaves the default."""
    devices = dict(records.devices)
    for did, d in records.devices.items():
        profile = profiles.get(d.profile) if d.kind == "meter" and d.profile else None
        if profile is None:
            continue
        change = {attr: profile_resolution(profile, name) for name, attr in FIELDS.items()
                  if getattr(d, attr) is None}
        change = {k: v for k, v in change.items() if v is not None}
        if change:
            devices[did] = dataclasses.replace(d, **change)  # type: ignore[arg-type]
    return dataclasses.replace(records, devices=devices)
