"""Measurement orders as stored (issue 22): opened, assigned, measured or cancelled, each move
conditional on what the caller read, so of two moves at once one wins; the signatures kept
beside a record are covered by its hash chain."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from heatwatch.measurement_sheet import stored_signatures
from workflow.measurements import Record
from workflow.signatures import Signature, sha256_of
from workflow.unit import WorkflowDb
from workflow.visits import MeasureOrder, VisitConflict

PNG = ("data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAY"
       "AAjCB0C8AAAAASUVORK5CYII=")


def _open(db: WorkflowDb, measurer: str = "") -> MeasureOrder:
    with db.unit() as u:
        return u.visits.open(MeasureOrder(u.counters.next_id("visit", "TW"), "A1", "call",
                                          "CL000001", 1_000, "li", 90_000, measurer=measurer))


def test_an_order_is_assigned_then_measured_once(tmp_path: Path) -> None:
    db = WorkflowDb(tmp_path / "w.sqlite")
    o = _open(db)
    assert (o.order_id, o.state) == ("TW000001", "opened")
    read = db.visits.get(o.order_id)
    assert read is not None
    with db.unit() as u:
        assigned = u.visits.assign(read, "王测温", 2_000, "zhao")
    # a second supervisor, who read the order before the first assigned it, is refused
    with pytest.raises(VisitConflict, match="已被他人处理"), db.unit() as u:
        u.visits.assign(read, "孙测温", 2_001, "qian")
    assert db.visits.get(o.order_id).measurer == "王测温"  # type: ignore[union-attr]
    with db.unit() as u:
        done = u.visits.measured(assigned, "M000001", 3_000)
    assert (done.state, done.record_id) == ("measured", "M000001")
    # the second submission of the same form, read as assigned, changes nothing
    with pytest.raises(VisitConflict), db.unit() as u:
        u.visits.measured(assigned, "M000002", 3_001)
    with pytest.raises(VisitConflict, match="已测温，不能再次提交"), db.unit() as u:
        u.visits.measured(done, "M000002", 3_002)
    with pytest.raises(VisitConflict), db.unit() as u:
        u.visits.cancel(done, 3_003, "zhao", "重复")
    assert [h["action"] for h in db.visits.history(o.order_id)] == \
        ["open", "assign", "measured"]
    assert db.visits.find() == []
    assert [x.order_id for x in db.visits.find(include_closed=True, measurer="王测温")] == \
        [o.order_id]
    db.close()


def test_a_cancelled_order_cannot_be_assigned_and_the_history_is_append_only(
        tmp_path: Path) -> None:
    db = WorkflowDb(tmp_path / "w.sqlite")
    o = _open(db, measurer="王测温")
    assert o.state == "assigned"
    with db.unit() as u:
        gone = u.visits.cancel(o, 2_000, "zhao", "住户已搬离")
    assert (gone.state, gone.note) == ("cancelled", "住户已搬离")
    with pytest.raises(VisitConflict, match="不能派单"), db.unit() as u:
        u.visits.assign(gone, "王测温", 2_001, "zhao")
    with pytest.raises(sqlite3.IntegrityError, match="append-only"), db.unit() as u:
        u.visits._c.run("DELETE FROM measurement_order_audit")
    assert db.visits.of_ref("CL000001")[0].state == "cancelled"
    db.close()


def _signed_record() -> tuple[Record, list[Signature]]:
    sigs = [Signature("measurer", "王测温", 1_500, data=PNG),
            Signature("resident", "住户", 1_600, refused=True, note="对结果有异议")]
    r = Record("", "A1", 1_000, 2_000, "王测温", "T-01", [["bedroom", 15.5]],
               {"height_m": 1.2}, -4.0, -7.0, False, False,
               signatures=[s.entry() for s in sigs])
    return r, sigs


def test_a_drawing_altered_after_signing_breaks_the_chain(tmp_path: Path) -> None:
    path = tmp_path / "w.sqlite"
    db = WorkflowDb(path)
    r, sigs = _signed_record()
    with db.unit() as u:
        r = u.measurements.append(r)
        for s in sigs:
            u.signatures.add(r.record_id, s)
    got = db.measurements.get(r.record_id)
    assert got is not None and got.signatures[0]["sha256"] == sha256_of(PNG)
    assert got.signatures[1]["refused"] and got.signatures[1]["note"] == "对结果有异议"
    assert db.signatures.drawing(r.record_id, "measurer") == PNG
    assert db.measurements.verify() == (1, None, "")
    db.close()
    raw = sqlite3.connect(path)
    raw.executescript("DROP TRIGGER measurement_signature_no_update; "
                      "UPDATE measurement_signature SET data = data || 'AA';")
    raw.close()
    db = WorkflowDb(path)
    assert db.measurements.verify() == (0, "M000001",
                                        "its measurer signature does not match its hash")
    db.close()


def test_the_printed_record_reads_the_stored_signatures(tmp_path: Path) -> None:
    """What the phone page keeps is what the measurement record's PDF shows."""
    db = WorkflowDb(tmp_path / "w.sqlite")
    r, sigs = _signed_record()
    with db.unit() as u:
        r = u.measurements.append(r)
        for s in sigs:
            u.signatures.add(r.record_id, s)
    got = stored_signatures(db, ZoneInfo("Asia/Shanghai"))(r.record_id)
    assert [(s.role, s.name, s.refused, s.note) for s in got] == [
        ("measurer", "王测温", False, ""), ("resident", "住户", True, "对结果有异议")]
    assert got[0].image is not None and got[0].image.startswith(b"\x89PNG")
    assert got[0].signed_at == "1970-01-01 08:00" and got[1].image is None
    assert stored_signatures(db, ZoneInfo("Asia/Shanghai"))("M000404") == []
    db.close()
