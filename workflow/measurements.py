"""Measurement visits as stored (issue 22): the instrument register and the measurement records.

Both are append-only (triggers refuse UPDATE and DELETE). Each record carries the sha256 of its
content and of the previous record's hash, over canonical JSON: a chain. A correction is a new
record naming the one it corrects, the reason and the supervisor who approved it; both remain.
`verify` walks the chain and names the first record that does not hold.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from typing import Any

from workflow.db import Conn, Row, WorkflowError
from workflow.signatures import Signatures

SCHEMA = """
CREATE TABLE IF NOT EXISTS measurement_instrument (
    instrument_id TEXT PRIMARY KEY,
    accuracy_k REAL NOT NULL,
    certificate TEXT NOT NULL,
    expires TEXT NOT NULL,
    added_ms INTEGER NOT NULL
);
CREATE TRIGGER IF NOT EXISTS measurement_instrument_no_update
BEFORE UPDATE ON measurement_instrument
BEGIN SELECT RAISE(ABORT, 'measurement_instrument is append-only'); END;
CREATE TRIGGER IF NOT EXISTS measurement_instrument_no_delete
BEFORE DELETE ON measurement_instrument
BEGIN SELECT RAISE(ABORT, 'measurement_instrument is append-only'); END;
CREATE TABLE IF NOT EXISTS measurement_record (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    record_id TEXT NOT NULL UNIQUE,
    account_id TEXT NOT NULL,
    measured_ms INTEGER NOT NULL,
    reported_ms INTEGER NOT NULL,
    measurer TEXT NOT NULL,
    instrument_id TEXT NOT NULL,
    readings TEXT NOT NULL,
    conditions TEXT NOT NULL,
    outdoor_mean_c REAL,
    design_c REAL,
    outside_window INTEGER NOT NULL,
    late INTEGER NOT NULL,
    problems TEXT NOT NULL,
    corrects TEXT NOT NULL DEFAULT '',
    reason TEXT NOT NULL DEFAULT '',
    approved_by TEXT NOT NULL DEFAULT '',
    signatures TEXT NOT NULL DEFAULT '[]',
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS measurement_record_account ON measurement_record (account_id);
CREATE TRIGGER IF NOT EXISTS measurement_record_no_update BEFORE UPDATE ON measurement_record
BEGIN SELECT RAISE(ABORT, 'measurement_record is append-only'); END;
CREATE TRIGGER IF NOT EXISTS measurement_record_no_delete BEFORE DELETE ON measurement_record
BEGIN SELECT RAISE(ABORT, 'measurement_record is append-only'); END;
"""

# the chain's first record follows this
GENESIS = "0" * 64
# the stored columns of a record, in order; all but `hash` are hashed
_FIELDS = ("record_id", "account_id", "measured_ms", "reported_ms", "measurer", "instrument_id",
           "readings", "conditions", "outdoor_mean_c", "design_c", "outside_window", "late",
           "problems", "corrects", "reason", "approved_by", "signatures", "prev_hash", "hash")
_JSON = ("readings", "conditions", "problems", "signatures")


class MeasurementConflict(WorkflowError):
    """An instrument or record that cannot be added as asked (a duplicate, an unknown one)."""


@dataclass(frozen=True, slots=True)
class StoredInstrument:
    instrument_id: str
    accuracy_k: float
    certificate: str
    expires: str
    added_ms: int


@dataclass(slots=True)
class Record:
    """One measurement record. `readings` are [room kind, °C] pairs; `conditions` what the
    measurer recorded; `problems` the conditions missed (marked, not refused)."""

    record_id: str
    account_id: str
    measured_ms: int
    reported_ms: int
    measurer: str
    instrument_id: str
    readings: list[list[Any]]
    conditions: dict[str, Any]
    outdoor_mean_c: float | None
    design_c: float | None
    outside_window: bool
    late: bool
    problems: list[str] = field(default_factory=list)
    corrects: str = ""
    reason: str = ""
    approved_by: str = ""
    # the signatures (workflow.signatures.Signature.entry): who, when, refused, the drawing's
    # sha256; the drawings themselves are kept beside the record
    signatures: list[dict[str, Any]] = field(default_factory=list)
    prev_hash: str = ""
    hash: str = ""

    def content(self) -> dict[str, Any]:
        """What the hash covers: every field but the hash itself (no signatures: as the
        records before signatures were hashed)."""
        d = asdict(self)
        d.pop("hash")
        if not d["signatures"]:
            d.pop("signatures")
        return d

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def canonical(d: dict[str, Any]) -> bytes:
    """Canonical JSON: sorted keys, no spaces, UTF-8."""
    return json.dumps(d, sort_keys=True, separators=(",", ":"), ensure_ascii=False
                      ).encode("utf-8")


def digest(r: Record) -> str:
    return hashlib.sha256(canonical(r.content())).hexdigest()


def _record(row: Row) -> Record:
    d = dict(zip(_FIELDS, row, strict=True))
    for k in _JSON:
        d[k] = json.loads(d[k])
    d["outside_window"], d["late"] = bool(d["outside_window"]), bool(d["late"])
    return Record(**d)


class Measurements:
    """The instrument register and the chain of measurement records."""

    def __init__(self, conn: Conn) -> None:
        self._c = conn

    def add_instrument(self, i: StoredInstrument) -> None:
        if self.instrument(i.instrument_id) is not None:
            raise MeasurementConflict(f"instrument {i.instrument_id} is already registered "
                                      "(the register is append-only)")
        self._c.run("INSERT INTO measurement_instrument VALUES (?,?,?,?,?)",
                    (i.instrument_id, i.accuracy_k, i.certificate, i.expires, i.added_ms))

    def instrument(self, instrument_id: str) -> StoredInstrument | None:
        r = self._c.one("SELECT * FROM measurement_instrument WHERE instrument_id=?",
                        (instrument_id,))
        return None if r is None else StoredInstrument(*r)

    def instruments(self) -> list[StoredInstrument]:
        return [StoredInstrument(*r) for r in self._c.rows(
            "SELECT * FROM measurement_instrument ORDER BY instrument_id")]

    def append(self, r: Record) -> Record:
        """Chain and store a record; its id is given here (M000001, …). Returns it as stored."""
        last = self._c.one("SELECT seq, hash FROM measurement_record ORDER BY seq DESC LIMIT 1")
        r.record_id = f"M{(last[0] if last else 0) + 1:06d}"
        r.prev_hash = last[1] if last else GENESIS
        r.hash = digest(r)
        d = r.as_dict()
        values = [json.dumps(d[k], ensure_ascii=False) if k in _JSON else d[k] for k in _FIELDS]
        self._c.run(f"INSERT INTO measurement_record ({', '.join(_FIELDS)}) "
                    f"VALUES ({', '.join('?' * len(_FIELDS))})", values)
        return r

    def get(self, record_id: str) -> Record | None:
        r = self._c.one(f"SELECT {', '.join(_FIELDS)} FROM measurement_record WHERE record_id=?",
                        (record_id,))
        return None if r is None else _record(r)

    def find(self, account_id: str | None = None) -> list[Record]:
        """Every record in chain order (of one account when given)."""
        where, args = ("WHERE account_id=?", (account_id,)) if account_id else ("", ())
        return [_record(r) for r in self._c.rows(
            f"SELECT {', '.join(_FIELDS)} FROM measurement_record {where} ORDER BY seq", args)]

    def corrected(self) -> dict[str, str]:
        """record id → the id of the latest record correcting it."""
        return {old: new for old, new in self._c.rows(
            "SELECT corrects, record_id FROM measurement_record WHERE corrects != '' "
            "ORDER BY seq")}

    def verify(self) -> tuple[int, str | None, str]:
        """Walk the chain: (records checked, the first broken record's id or None, why)."""
        prev = GENESIS
        rows = self._c.rows(f"SELECT {', '.join(_FIELDS)} FROM measurement_record ORDER BY seq")
        for n, row in enumerate(rows):
            try:
                r = _record(row)
            except (ValueError, TypeError):
                return n, str(row[0]), "its stored fields cannot be read"
            if r.prev_hash != prev:
                return n, r.record_id, "it does not follow the previous record's hash"
            if digest(r) != r.hash:
                return n, r.record_id, "its content does not match its hash"
            why = Signatures(self._c).broken(r.record_id, r.signatures)
            if why:
                return n, r.record_id, why
            prev = r.hash
        return len(rows), None, ""
