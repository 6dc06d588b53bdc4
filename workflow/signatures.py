"""The signatures on measurement records (issue 22): the measurer's and the resident's drawings,
each with its time, or a resident's refusal with the measurer's note.

The drawing itself (a PNG data URL) is kept here, append-only, keyed by the record; the record
carries each signature's sha256 in its hashed content (`Record.signatures`), so the chain
covers the drawings too, and `Measurements.verify` finds a drawing changed after signing.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from dataclasses import dataclass
from typing import Any

from workflow.db import Conn

SCHEMA = """
CREATE TABLE IF NOT EXISTS measurement_signature (
    record_id TEXT NOT NULL,
    role TEXT NOT NULL,
    data TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    PRIMARY KEY (record_id, role)
);
CREATE TRIGGER IF NOT EXISTS measurement_signature_no_update
BEFORE UPDATE ON measurement_signature
BEGIN SELECT RAISE(ABORT, 'measurement_signature is append-only'); END;
CREATE TRIGGER IF NOT EXISTS measurement_signature_no_delete
BEFORE DELETE ON measurement_signature
BEGIN SELECT RAISE(ABORT, 'measurement_signature is append-only'); END;
"""

ROLES = ("measurer", "resident")
PNG_PREFIX = "data:image/png;base64,"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
MAX_PNG_BYTES = 200_000


class SignatureError(ValueError):
    """A drawing that is not a signature we keep (not a PNG, too large); one line."""


def png_bytes(data_url: str) -> bytes:
    """The PNG of a canvas's data URL; SignatureError if it is anything else."""
    if not data_url.startswith(PNG_PREFIX):
        raise SignatureError("签名不是PNG图像")
    try:
        raw = base64.b64decode(data_url[len(PNG_PREFIX):], validate=True)
    except (binascii.Error, ValueError):
        raise SignatureError("签名图像无法识别") from None
    if not raw.startswith(PNG_MAGIC):
        raise SignatureError("签名不是PNG图像")
    if len(raw) > MAX_PNG_BYTES:
        raise SignatureError("签名图像过大")
    return raw


def sha256_of(data_url: str) -> str:
    return hashlib.sha256(data_url.encode("ascii")).hexdigest()


@dataclass(frozen=True, slots=True)
class Signature:
    """One signature as the record holds it (`data` is kept beside the record, not in it)."""

    role: str
    signer: str
    signed_ms: int
    refused: bool = False
    note: str = ""
    data: str = ""

    def entry(self) -> dict[str, Any]:
        """What the record's hashed content holds of it: the drawing's digest, not the
        drawing."""
        return {"role": self.role, "signer": self.signer, "signed_ms": self.signed_ms,
                "refused": self.refused, "note": self.note,
                "sha256": sha256_of(self.data) if self.data else ""}


class Signatures:
    """The drawings of the records' signatures."""

    def __init__(self, conn: Conn) -> None:
        self._c = conn

    def add(self, record_id: str, s: Signature) -> None:
        if s.data:
            self._c.run("INSERT INTO measurement_signature (record_id, role, data, sha256) "
                        "VALUES (?,?,?,?)", (record_id, s.role, s.data, sha256_of(s.data)))

    def drawing(self, record_id: str, role: str) -> str:
        """The PNG data URL of a record's signature ('' when refused or missing)."""
        r = self._c.one("SELECT data FROM measurement_signature WHERE record_id=? AND role=?",
                        (record_id, role))
        return str(r[0]) if r else ""

    def broken(self, record_id: str, entries: list[dict[str, Any]]) -> str:
        """Why a record's signatures do not hold ('' when they do): a drawing missing, or
        not the one whose digest the record holds."""
        for e in entries:
            if not e.get("sha256"):
                continue
            data = self.drawing(record_id, str(e.get("role")))
            if not data:
                return f"its {e.get('role')} signature is missing"
            if sha256_of(data) != e["sha256"]:
                return f"its {e.get('role')} signature does not match its hash"
        return ""
