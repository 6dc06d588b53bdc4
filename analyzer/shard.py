"""An analyzer's share of the district (issue 11): `[analyzer] shard = "k/n"` takes the
substations whose stable hash falls to k of n, `substations = [...]` names them. The records
are cut to those substations, their buildings, accounts and devices (weather stations, which
serve the whole city, stay in every shard), so each shard's incidents are exactly the ones a
single analyzer finds for its substations."""

from __future__ import annotations

import hashlib
import zlib
from collections.abc import Iterable

from district.records import Records


def shard_of(substation_id: str, n: int) -> int:
    """The shard (1..n) a substation falls to; stable across runs and machines."""
    digest = hashlib.sha256(substation_id.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") % n + 1


def select(records: Records, shard: tuple[int, int] | None = None,
           substations: Iterable[str] = ()) -> Records:
    """The records of one shard (all of them with neither a shard nor a list)."""
    wanted = set(substations)
    if shard is not None:
        k, n = shard
        wanted = {s for s in records.substations if shard_of(s, n) == k}
    elif not wanted:
        return records
    unknown = wanted - set(records.substations)
    if unknown:
        raise ValueError(f"[analyzer] substations: not in the records: {sorted(unknown)}")
    buildings = {b: x for b, x in records.buildings.items() if x.substation_id in wanted}
    return Records(
        substations={s: x for s, x in records.substations.items() if s in wanted},
        buildings=buildings,
        accounts={a: x for a, x in records.accounts.items() if x.building_id in buildings},
        devices={d: x for d, x in records.devices.items()
                 if x.kind == "weather" or x.substation_id in wanted},
    )


def label(shard: tuple[int, int] | None, substations: Iterable[str] = ()) -> str:
    """A name for the shard's own watermark and state ("" for the whole district)."""
    if shard is not None:
        return f"{shard[0]}-of-{shard[1]}"
    subs = sorted(substations)
    return "" if not subs else "subs-" + str(zlib.crc32(",".join(subs).encode()))
