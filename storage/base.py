"""The store interface every backend keeps, and the errors it raises."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from district.readings import Reading


class StoreError(Exception):
    """A store failure."""


class StoreUnavailable(StoreError):
    """The store cannot be reached now; the same write may succeed later."""


class StoreRejected(StoreError):
    """The store refused the data itself; retrying the same write will not help."""


@dataclass(slots=True)
class Frame:
    """A window of one measurement as arrays, sorted by device then time.

    `fields` hold float64 with NaN where a point lacks the field (bools as 0/1);
    `tags` hold the requested tag columns as arrays of str.
    """

    ts_ms: npt.NDArray[np.int64]
    tags: dict[str, npt.NDArray[np.str_]] = field(default_factory=dict)
    fields: dict[str, npt.NDArray[np.float64]] = field(default_factory=dict)

    def __len__(self) -> int:
        return int(self.ts_ms.shape[0])

    @property
    def device_id(self) -> npt.NDArray[np.str_]:
        return self.tags["device_id"]


class Store(Protocol):
    """Write batches of readings; read windows back as arrays."""

    def write(self, readings: Sequence[Reading]) -> None:
        """Store the batch durably before returning; same series and time overwrite."""
        ...

    def read_window(
        self,
        measurement: str,
        start_ms: int,
        end_ms: int,
        fields: Sequence[str] | None = None,
        tags: Sequence[str] = ("device_id",),
    ) -> Frame:
        """Points with start_ms <= time < end_ms; all fields when `fields` is None."""
        ...

    def latest(self, measurement: str, tags: Sequence[str] = ("device_id",)) -> Frame:
        """The newest point of each device of a measurement."""
        ...

    def read_device(
        self,
        measurement: str,
        device_id: str,
        start_ms: int,
        end_ms: int,
        fields: Sequence[str] | None = None,
    ) -> Frame:
        """One device's points with start_ms <= time < end_ms, oldest first (its raw
        readings, for evidence); all fields when `fields` is None."""
        ...

    def read_aggregate(
        self,
        measurement: str,
        start_ms: int,
        end_ms: int,
        every_s: int,
        fields: Sequence[str],
        fn: str | Sequence[str] = "mean",
        tags: Sequence[str] = ("device_id",),
        offset_s: int = 0,
    ) -> Frame:
        """One row per tag group and bucket with data (ts_ms: bucket start), computed in the
        store; buckets align to the epoch shifted by offset_s. One fn (mean, min, max, sum,
        count) keeps the field names; several give `<fn>_<field>` in one pass."""
        ...

    def close(self) -> None:
        ...


@runtime_checkable
class LineStore(Protocol):
    """A store that takes line protocol as it is (InfluxDB and its spool): the collector
    writes lines built straight from the payloads, with no Reading per point."""

    def write_lines(self, lines: Sequence[str]) -> None:
        """Store the lines (one point each, precision ms) durably before returning."""
        ...
