"""The outdoor temperature a measurement is judged against (issue 22), from the stored readings:
the household's substation's own outdoor sensor, else the weather station (the order
`heatwatch refunds` reads them in). A measurer does not type it: the visit's hour and its day's
mean (local day) are filled in from the store."""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from district.records import Records
from storage.base import Frame, Store, StoreError

HOUR_MS = 3_600_000


@dataclass(frozen=True, slots=True)
class Outdoor:
    """The outdoor temperature of a visit: its hour's mean and its day's mean so far (None:
    no reading), and where they come from ("substation", "weather" or "")."""

    hour_c: float | None
    day_mean_c: float | None
    source: str


def _mean(values: npt.NDArray[np.float64]) -> float | None:
    ok = values[np.isfinite(values)]
    return None if not len(ok) else round(float(ok.mean()), 1)


def _pick(frame: Frame, keep: npt.NDArray[np.bool_], hour: tuple[int, int]
          ) -> tuple[float | None, float | None]:
    """The hour's and the day's mean of the kept rows' outdoor_c."""
    vals = frame.fields.get("outdoor_c")
    if vals is None or not keep.any():
        return None, None
    in_hour = keep & (frame.ts_ms >= hour[0]) & (frame.ts_ms < hour[1])
    return _mean(vals[in_hour]), _mean(vals[keep])


def outdoor_at(store: Store, records: Records, account_id: str, at_ms: int,
               tz: dt.tzinfo) -> Outdoor:
    """The outdoor temperature at a household's visit; a store that cannot be read, or an
    unknown account, gives none (the measurer or clerk then states the day's mean)."""
    acc = records.accounts.get(account_id)
    if acc is None:
        return Outdoor(None, None, "")
    sid = records.buildings[acc.building_id].substation_id
    day = dt.datetime.fromtimestamp(at_ms / 1000, tz).date()
    start = int(dt.datetime.combine(day, dt.time(), tz).timestamp() * 1000)
    end = int(dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), tz).timestamp() * 1000)
    hour = (at_ms - (at_ms - start) % HOUR_MS, at_ms - (at_ms - start) % HOUR_MS + HOUR_MS)
    try:
        own = store.read_window("substation", start, end, ["outdoor_c"], tags=("substation_id",))
        h, d = _pick(own, own.tags.get("substation_id", np.array([])) == sid, hour)
        if d is not None:
            return Outdoor(h, d, "substation")
        wx = store.read_window("weather", start, end, ["outdoor_c"])
    except StoreError:
        return Outdoor(None, None, "")
    h, d = _pick(wx, np.ones(len(wx), dtype=bool), hour)
    if d is None or math.isnan(d):
        return Outdoor(None, None, "")
    return Outdoor(h, d, "weather")
