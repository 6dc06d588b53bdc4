"""The dead-letter store: every refused reading with its cause, topic and raw payload."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from collector.payloads import Rejection
from workflow.private import private_file

_SCHEMA = """
CREATE TABLE IF NOT EXISTS deadletter (
    id INTEGER PRIMARY KEY,
    received_ms INTEGER NOT NULL,
    cause TEXT NOT NULL,
    topic TEXT NOT NULL,
    detail TEXT NOT NULL,
    payload_bytes INTEGER NOT NULL,
    payload BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS deadletter_cause ON deadletter (cause, received_ms);
"""


@dataclass(frozen=True, slots=True)
class DeadLetter:
    received_ms: int
    cause: str
    topic: str
    detail: str
    payload_bytes: int
    payload: bytes
    id: int = 0

    @property
    def truncated(self) -> bool:
        """Only the first keep_payload_bytes were kept: it cannot be replayed."""
        return len(self.payload) < self.payload_bytes


class DeadLetters:
    """SQLite in WAL mode; a write is committed before the message is acknowledged."""

    def __init__(self, path: Path | str, keep_payload_bytes: int = 64 * 1024) -> None:
        self.path = Path(path)
        private_file(self.path)  # 0600 before SQLite opens it: its -wal and -shm take its mode
        self.keep_payload_bytes = keep_payload_bytes
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.executescript(_SCHEMA)

    def add(self, rejections: Sequence[Rejection], received_ms: int) -> None:
        if not rejections:
            return
        rows = [
            (received_ms, r.cause, r.topic, r.detail, len(r.raw), r.raw[: self.keep_payload_bytes])
            for r in rejections
        ]
        with self._lock, self._db:
            self._db.executemany(
                "INSERT INTO deadletter (received_ms, cause, topic, detail, payload_bytes, payload)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                rows,
            )

    def settle(self, replayed: Sequence[int],
               refused: Sequence[tuple[Rejection, int]]) -> None:
        """One transaction: forget replayed dead letters, keep what their replay refused."""
        with self._lock, self._db:
            self._db.executemany("DELETE FROM deadletter WHERE id = ?",
                                 [(i,) for i in replayed])
            self._db.executemany(
                "INSERT INTO deadletter (received_ms, cause, topic, detail, payload_bytes, payload)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                [(ms, r.cause, r.topic, r.detail, len(r.raw), r.raw[: self.keep_payload_bytes])
                 for r, ms in refused])

    def counts(self) -> dict[str, int]:
        with self._lock:
            rows = self._db.execute(
                "SELECT cause, COUNT(*) FROM deadletter GROUP BY cause ORDER BY cause"
            ).fetchall()
        return {cause: int(n) for cause, n in rows}

    def recent(self, limit: int = 20, cause: str | None = None) -> list[DeadLetter]:
        q = ("SELECT received_ms, cause, topic, detail, payload_bytes, payload, id "
             "FROM deadletter")
        args: tuple[object, ...] = ()
        if cause:
            q += " WHERE cause = ?"
            args = (cause,)
        q += " ORDER BY id DESC LIMIT ?"
        with self._lock:
            rows = self._db.execute(q, (*args, limit)).fetchall()
        return [DeadLetter(int(a), b, c, d, int(e), bytes(f), int(g))
                for a, b, c, d, e, f, g in rows]

    def oldest(self, cause: str, after_id: int = 0, limit: int = 1000) -> list[DeadLetter]:
        """Dead letters of one cause in the order they came, from after_id on."""
        with self._lock:
            rows = self._db.execute(
                "SELECT received_ms, cause, topic, detail, payload_bytes, payload, id "
                "FROM deadletter WHERE cause = ? AND id > ? ORDER BY id LIMIT ?",
                (cause, after_id, limit)).fetchall()
        return [DeadLetter(int(a), b, c, d, int(e), bytes(f), int(g))
                for a, b, c, d, e, f, g in rows]

    def close(self) -> None:
        with self._lock:
            self._db.close()
