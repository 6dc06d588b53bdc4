"""Measurement records as stored (issue 22): append-only, chained by hash; a row altered in
SQLite breaks the chain at that record; a correction keeps both records."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import psycopg
import pytest

from workflow.db import WorkflowError
from workflow.measurements import GENESIS, MeasurementConflict, Record, StoredInstrument
from workflow.unit import WorkflowDb


def _record(account: str, c: float, **kw: object) -> Record:
    base: dict[str, object] = dict(
        record_id="", account_id=account, measured_ms=1_000, reported_ms=2_000,
        measurer="王测温", instrument_id="T-01", readings=[["bedroom", c], ["living", c + 0.2]],
        conditions={"height_m": 1.2}, outdoor_mean_c=-4.0, design_c=-7.0,
        outside_window=False, late=False)
    base.update(kw)
    return Record(**base)  # type: ignore[arg-type]


def test_records_chain_and_verify(workflow_target: Path | str) -> None:
    db = WorkflowDb(workflow_target)
    with db.unit() as u:
        a = u.measurements.append(_record("A1", 15.5))
        b = u.measurements.append(_record("A2", 19.0))
    assert (a.record_id, a.prev_hash, b.prev_hash) == ("M000001", GENESIS, a.hash)
    assert db.measurements.get("M000002") == b
    assert [r.record_id for r in db.measurements.find("A1")] == ["M000001"]
    assert db.measurements.verify() == (2, None, "")
    db.close()


def test_the_tables_refuse_updates_and_a_duplicate_instrument(workflow_target: Path | str
                                                               ) -> None:
    db = WorkflowDb(workflow_target)
    inst = StoredInstrument("T-01", 0.2, "JD-1", "2027-06-30", 0)
    with db.unit() as u:
        u.measurements.add_instrument(inst)
        u.measurements.append(_record("A1", 15.5))
    with pytest.raises(MeasurementConflict), db.unit() as u:
        u.measurements.add_instrument(inst)
    # SQLite: a RAISE(ABORT) trigger; PostgreSQL: the workflow_append_only() trigger
    with pytest.raises((sqlite3.IntegrityError, psycopg.Error), match="append-only"), \
            db.unit() as u:
        u.measurements._c.run("UPDATE measurement_record SET account_id='X'")
    with pytest.raises(WorkflowError):
        db.measurements.append(_record("A1", 15.5))
    db.close()


def test_an_altered_row_breaks_the_chain_at_that_record(tmp_path: Path) -> None:
    path = tmp_path / "w.sqlite"
    db = WorkflowDb(path)
    with db.unit() as u:
        for c in (15.5, 16.0, 18.6):
            u.measurements.append(_record("A1", c))
    db.close()
    raw = sqlite3.connect(path)
    raw.executescript("DROP TRIGGER measurement_record_no_update; "
                      "UPDATE measurement_record SET readings='[[\"bedroom\", 18.5]]' "
                      "WHERE record_id='M000002';")
    raw.close()
    db = WorkflowDb(path)
    assert db.measurements.verify() == (1, "M000002", "its content does not match its hash")
    db.close()
