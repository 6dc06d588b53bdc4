"""A measurement record judged by the city's rules (issue 22): one function that the CLI
(`heatwatch measurements add/correct`) and the measurer's phone page both build records with,
so a record means the same whichever way it came in.

An expired or too coarse instrument is refused; a time outside the measuring windows, a
condition missed and a late report are marked on the record, not refused.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

from policy.measurements import (
    Conditions,
    Instrument,
    MeasurementRules,
    condition_problems,
    in_window,
    instrument_problem,
    reported_late,
)
from workflow.db import WorkflowError
from workflow.measurements import Record, StoredInstrument


class MeasurementRefused(WorkflowError):
    """A measurement the rules refuse (the instrument); the message is Chinese, one line."""


def instrument_of(stored: StoredInstrument) -> Instrument:
    return Instrument(stored.instrument_id, stored.accuracy_k, stored.certificate,
                      dt.date.fromisoformat(stored.expires))


def check_instrument(stored: StoredInstrument, on: dt.date, rules: MeasurementRules) -> None:
    """MeasurementRefused with the reason when the instrument may not measure on `on`."""
    why = instrument_problem(instrument_of(stored), on, rules)
    if why:
        raise MeasurementRefused(f"测温被拒绝: {why}")


@dataclasses.dataclass(frozen=True, slots=True)
class Taken:
    """What the measurer took: when, with what, the readings and the conditions (local,
    aware times)."""

    account_id: str
    measured: dt.datetime
    measurer: str
    instrument: StoredInstrument
    readings: list[list[Any]]
    conditions: Conditions
    extra: dict[str, Any] = dataclasses.field(default_factory=dict)


def judged_record(t: Taken, reported: dt.datetime, outdoor_mean_c: float | None,
                  design_c: float | None, rules: MeasurementRules) -> Record:
    """The record of a measurement, judged; not yet chained (Measurements.append does).
    ValueError: the configured windows cannot be read."""
    check_instrument(t.instrument, t.measured.date(), rules)
    cond = t.conditions
    stored = dataclasses.asdict(cond) | {"closed_since": cond.closed_since.isoformat(),
                                         "closed_since_s": cond.closed_since.timestamp()}
    return Record("", t.account_id, int(t.measured.timestamp() * 1000),
                  int(reported.timestamp() * 1000), t.measurer, t.instrument.instrument_id,
                  t.readings, stored | t.extra, outdoor_mean_c, design_c,
                  not in_window(t.measured, rules), reported_late(t.measured, reported, rules),
                  condition_problems(cond, t.measured, rules))
