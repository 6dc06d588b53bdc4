"""A collector's batches: the messages taken together, their readings, and split writes."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from collector.payloads import Rejection
from storage.base import StoreRejected

# what a write may raise about the data itself rather than the store: refusals of the batch
DATA_ERRORS = (StoreRejected, ValueError, TypeError, ArithmeticError)


T = TypeVar("T")


def split_write(write: Callable[[list[T]], None], readings: list[T], offset: int = 0,
                refused: Exception | None = None) -> list[tuple[int, str]]:
    """Write, halving a refused batch; the refused readings' indexes and causes. refused:
    what a write of these same readings (as blocks of lines, say) already raised, so they
    are halved at once rather than written whole again.

    InfluxDB keeps the good points of a refused (400) batch and SQLite none, so the halves
    are written again either way; the same series and time overwrite, so nothing doubles.
    """
    if not readings:
        return []
    if refused is None:
        try:
            write(readings)
            return []
        except DATA_ERRORS as e:
            refused = e
    if len(readings) == 1:
        detail = (str(refused) if isinstance(refused, StoreRejected)
                  else f"{type(refused).__name__}: {refused}")
        return [(offset, detail[:1000])]
    mid = len(readings) // 2
    return (split_write(write, readings[:mid], offset)
            + split_write(write, readings[mid:], offset + mid))


@dataclass(slots=True)
class Message:
    mid: int
    qos: int
    topic: str
    payload: bytes
    generation: int


@dataclass(slots=True)
class Batch:
    """Messages taken together, their readings, and which message each reading came from.

    Readings are lines of line protocol for a LineStore (InfluxDB), Reading objects else.
    A plain message's lines stay one block (joined by newlines) in `readings`, so `count`,
    not len(readings), is how many readings there are; `lines()` cuts the blocks apart
    when single lines are needed (a refused write halved down to the reading at fault).
    """

    msgs: list[Message] = field(default_factory=list)
    readings: list[Any] = field(default_factory=list)
    count: int = 0
    rejections: list[Rejection] = field(default_factory=list)
    # for each message with readings: where its readings start, and their element indexes
    starts: list[int] = field(default_factory=list)
    origins: list[tuple[Message, Sequence[int]]] = field(default_factory=list)

    def add(self, m: Message, good: list[Any], indexes: Sequence[int]) -> None:
        """A message's readings, one per item of good (and of indexes)."""
        self.starts.append(self.count)
        self.origins.append((m, indexes))
        self.readings.extend(good)
        self.count += len(good)

    def add_block(self, m: Message, block: str, n: int) -> None:
        """A plain message's n lines as one block: its elements 0..n-1, in order."""
        self.starts.append(self.count)
        self.origins.append((m, range(n)))
        self.readings.append(block)
        self.count += n

    def lines(self) -> list[Any]:
        """The readings one by one (the blocks cut at their newlines)."""
        if self.count == len(self.readings):
            return self.readings
        return [line for part in self.readings for line in part.split("\n")]


@dataclass(slots=True)
class CollectorStats:
    """Counters since start; the health measurement is built from these."""

    messages: int = 0
    readings: int = 0
    rejected: Counter[str] = field(default_factory=Counter)
    batches: int = 0
    acked: int = 0
    stale_acks_dropped: int = 0
    store_retries: int = 0
    connects: int = 0
    ignored: int = 0
    split_writes: int = 0
