"""The optional trailing columns of `devices.csv`: a device's commissioned date and a meter's
register resolutions (district/records.py reads the required ones)."""

from __future__ import annotations

import datetime as dt
import math


def commissioned(row: dict[str, str], where: str, problems: list[str]) -> dt.date | None:
    """The optional commissioned date: from when the device is expected to report."""
    text = row.get("commissioned", "")
    if not text:
        return None
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        problems.append(f"{where}: commissioned {text!r} is not a date YYYY-MM-DD")
        return None


def resolution(row: dict[str, str], column: str, kind: str, where: str,
                problems: list[str]) -> float | None:
    """An optional register resolution of a meter: a positive number, or empty."""
    text = row.get(column, "")
    try:
        value = float(text) if text else None
    except ValueError:
        value = math.nan
    if value is not None and (kind != "meter" or not math.isfinite(value) or value <= 0):
        problems.append(f"{where}: {column} {text!r}: a meter's resolution, a positive number")
        return None
    return value
