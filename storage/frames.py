"""Frame helpers both backends share: empty frames, ordering, aggregate arguments."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from storage.base import Frame

AGGREGATES = ("mean", "min", "max", "sum", "count")


def empty_frame(fields: Sequence[str] | None, tags: Sequence[str]) -> Frame:
    """A frame with no rows, carrying the requested keys."""
    return Frame(
        ts_ms=np.array([], dtype=np.int64),
        tags={t: np.array([], dtype=np.str_) for t in tags},
        fields={f: np.array([], dtype=np.float64) for f in fields or ()},
    )


def sort_frame(frame: Frame, keys: Sequence[str]) -> Frame:
    """Rows ordered by the given tag columns, then time (stable)."""
    if len(frame) < 2:
        return frame
    order = np.lexsort([frame.ts_ms] + [frame.tags[k] for k in reversed(keys)])
    return Frame(
        ts_ms=frame.ts_ms[order],
        tags={k: v[order] for k, v in frame.tags.items()},
        fields={k: v[order] for k, v in frame.fields.items()},
    )


def aggregate_columns(fields: Sequence[str], fn: str | Sequence[str]
                      ) -> list[tuple[str, str, str]]:
    """(function, field, output name): one function keeps the field's name; several name
    each output `<fn>_<field>`, computed in one pass over the data."""
    if isinstance(fn, str):
        return [(fn, f, f) for f in fields]
    return [(g, f, f"{g}_{f}") for f in fields for g in fn]


def check_aggregate(every_s: int, fields: Sequence[str], fn: str | Sequence[str]) -> None:
    """The aggregate arguments both backends accept."""
    for g in ([fn] if isinstance(fn, str) else list(fn) or [""]):
        if g not in AGGREGATES:
            raise ValueError(f"aggregate {g!r} is not one of {', '.join(AGGREGATES)}")
    if every_s <= 0:
        raise ValueError("every_s must be positive")
    if not fields:
        raise ValueError("read_aggregate needs at least one field")
