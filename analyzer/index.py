"""The district as index arrays, built once from the records: the row orders the grids use and
how devices, buildings, substations and accounts relate."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from district.records import Records
from policy.rooms import is_counted

FloatGrid = npt.NDArray[np.float64]
BoolGrid = npt.NDArray[np.bool_]


@dataclass(frozen=True, slots=True, eq=False)
class DistrictIndex:
    """Device, building and substation orders the grids use, and how they relate."""

    substations: list[str]
    design_outdoor_c: FloatGrid
    buildings: list[str]
    building_sub: npt.NDArray[np.intp]
    substation_device: list[str]  # each substation's own device ("" if none)
    weather_stations: list[str]
    rooms: list[str]
    room_sub: npt.NDArray[np.intp]
    room_building: npt.NDArray[np.intp]
    room_counted: BoolGrid
    meters: list[str]
    meter_building: npt.NDArray[np.intp]
    meter_tags: list[dict[str, str]]
    meter_gateway: list[str]
    # each meter's declared register resolution (records, else its profile); NaN: the default
    meter_energy_res: FloatGrid
    meter_volume_res: FloatGrid
    accounts_per_sub: npt.NDArray[np.int64]
    billed_accounts: list[str]  # accounts with a meter, in meter order of their first meter
    billed_meter: npt.NDArray[np.intp]
    account_tags: list[dict[str, str]]

    @classmethod
    def from_records(cls, rec: Records) -> DistrictIndex:
        subs = sorted(rec.substations)
        sub_i = {s: i for i, s in enumerate(subs)}
        bld = sorted(rec.buildings)
        bld_i = {b: i for i, b in enumerate(bld)}
        rooms = sorted(d.device_id for d in rec.devices_of("room"))
        meters = sorted(d.device_id for d in rec.devices_of("meter"))
        dev = rec.devices
        per_sub = np.zeros(len(subs), dtype=np.int64)
        for a in rec.accounts.values():
            per_sub[sub_i[rec.buildings[a.building_id].substation_id]] += 1
        billed: dict[str, int] = {}
        for i, m in enumerate(meters):
            billed.setdefault(dev[m].account_id, i)
        accounts = sorted(billed)
        own: dict[str, str] = {}
        for d in sorted(rec.devices_of("substation"), key=lambda d: d.device_id):
            own.setdefault(d.substation_id, d.device_id)
        return cls(
            substations=subs,
            design_outdoor_c=np.array([rec.substations[s].design_outdoor_c for s in subs]),
            buildings=bld,
            building_sub=np.array([sub_i[rec.buildings[b].substation_id] for b in bld],
                                  dtype=np.intp),
            substation_device=[own.get(s, "") for s in subs],
            weather_stations=sorted(d.device_id for d in rec.devices_of("weather")),
            rooms=rooms,
            room_building=np.array([bld_i[dev[r].building_id] for r in rooms], dtype=np.intp),
            room_sub=np.array([sub_i[dev[r].substation_id] for r in rooms], dtype=np.intp),
            # docs/rules.md: only bedrooms and living rooms are held to 18 °C
            room_counted=np.array([is_counted(dev[r].room_type) for r in rooms]),
            meters=meters,
            meter_building=np.array([bld_i[dev[m].building_id] for m in meters], dtype=np.intp),
            meter_tags=[{k: v for k, v in dev[m].tags().items() if k != "room_type"}
                        for m in meters],
            meter_gateway=[f"{dev[m].host}:{dev[m].port}" if dev[m].protocol == "modbus" else ""
                           for m in meters],
            meter_energy_res=_declared([dev[m].energy_resolution_kwh for m in meters]),
            meter_volume_res=_declared([dev[m].volume_resolution_m3 for m in meters]),
            accounts_per_sub=per_sub,
            billed_accounts=accounts,
            billed_meter=np.array([billed[a] for a in accounts], dtype=np.intp),
            account_tags=[{"account_id": a, "building_id": rec.accounts[a].building_id,
                           "substation_id": rec.buildings[rec.accounts[a].building_id]
                           .substation_id} for a in accounts],
        )


def _declared(values: list[float | None]) -> FloatGrid:
    return np.array([np.nan if v is None else v for v in values], dtype=np.float64)
