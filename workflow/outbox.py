"""The transactional outbox: messages written with the change that caused them, sent later."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from workflow.db import Conn

SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    dedup_key TEXT NOT NULL UNIQUE,
    channel TEXT NOT NULL,
    target TEXT NOT NULL DEFAULT '',
    title TEXT NOT NULL,
    body TEXT NOT NULL,
    data TEXT NOT NULL DEFAULT '{}',
    created_ms INTEGER NOT NULL,
    next_ms INTEGER NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    status TEXT NOT NULL DEFAULT 'pending',
    sent_ms INTEGER,
    last_error TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS outbox_due ON outbox (status, channel, next_ms);
"""

LINK_PURGED = "（链接已送达，不再保存）"
_LIST_COLS = ("id", "dedup_key", "channel", "target", "title", "attempts", "status",
              "created_ms", "next_ms", "sent_ms", "last_error")


@dataclass(frozen=True, slots=True)
class OutboxRow:
    """One message waiting for (or done with) delivery on one channel."""

    id: int
    dedup_key: str
    channel: str
    target: str
    title: str
    body: str
    data: dict[str, Any]
    attempts: int
    status: str


@dataclass(frozen=True, slots=True)
class Message:
    """A message to enqueue: the dedup key makes a second enqueue of it a no-op."""

    dedup_key: str
    channel: str
    title: str
    body: str
    target: str = ""
    data: dict[str, Any] = field(default_factory=dict)


class Outbox:
    """The outbox repository."""

    def __init__(self, conn: Conn) -> None:
        self._c = conn

    def enqueue(self, m: Message, now_ms: int) -> bool:
        """Add a message unless its dedup key is already there; True if added."""
        cur = self._c.run(
            "INSERT OR IGNORE INTO outbox (dedup_key, channel, target, title, body, data, "
            "created_ms, next_ms) VALUES (?,?,?,?,?,?,?,?)",
            (m.dedup_key, m.channel, m.target, m.title, m.body,
             json.dumps(m.data, ensure_ascii=False, sort_keys=True), now_ms, now_ms))
        return cur.rowcount == 1

    def exists(self, dedup_key: str) -> bool:
        """Whether a message with this dedup key was ever enqueued."""
        return bool(self._c.rows("SELECT 1 FROM outbox WHERE dedup_key=?", (dedup_key,)))

    def due(self, channel: str, now_ms: int, limit: int) -> list[OutboxRow]:
        # 'sending' rows are from a run that died mid-send: the receiver dedups by key
        rows = self._c.rows(
            "SELECT id, dedup_key, channel, target, title, body, data, attempts, status "
            "FROM outbox WHERE status IN ('pending', 'sending') AND channel=? AND next_ms <= ? "
            "ORDER BY id LIMIT ?", (channel, now_ms, limit))
        return [OutboxRow(int(r[0]), r[1], r[2], r[3], r[4], r[5], json.loads(r[6]), int(r[7]),
                          r[8]) for r in rows]

    def pending_channels(self, now_ms: int) -> list[str]:
        return [r[0] for r in self._c.rows("SELECT DISTINCT channel FROM outbox WHERE status "
                                           "IN ('pending', 'sending') AND next_ms <= ?",
                                           (now_ms,))]

    def mark_sending(self, row_id: int) -> None:
        self._c.run("UPDATE outbox SET status='sending', attempts=attempts+1 WHERE id=?",
                    (row_id,))

    def _without_links(self, row_id: int) -> tuple[str, str]:
        """The message's body and data with its links taken out (each opens a page with a
        resident's phone)."""
        r = self._c.one("SELECT body, data FROM outbox WHERE id=?", (row_id,))
        body, data = (r[0], json.loads(r[1])) if r else ("", {})
        links = data.pop("links", None) or {}
        for url in links.values():
            body = body.replace(url, LINK_PURGED)
        return body, json.dumps(data, ensure_ascii=False, sort_keys=True)

    def mark_sent(self, row_id: int, now_ms: int) -> None:
        """Delivered: the message is kept without its links, in its body and in its data."""
        body, data = self._without_links(row_id)
        self._c.run("UPDATE outbox SET status='sent', sent_ms=?, last_error='', body=?, data=? "
                    "WHERE id=?", (now_ms, body, data, row_id))

    def mark_failed(self, row_id: int, next_ms: int, error: str, dead: bool) -> None:
        """A failed attempt: tried again at next_ms, or dead, and then kept without its links
        (nobody will follow them, and nobody may read them from here)."""
        if dead:
            body, data = self._without_links(row_id)
            self._c.run("UPDATE outbox SET status='dead', next_ms=?, last_error=?, body=?, "
                        "data=? WHERE id=?", (next_ms, error[:500], body, data, row_id))
            return
        self._c.run("UPDATE outbox SET status='pending', next_ms=?, last_error=? WHERE id=?",
                    (next_ms, error[:500], row_id))

    def find(self, status: str | None = None) -> list[dict[str, Any]]:
        where = "WHERE status = ?" if status else ""
        rows = self._c.rows(f"SELECT {', '.join(_LIST_COLS)} FROM outbox {where} ORDER BY id",
                            (status,) if status else ())
        return [dict(zip(_LIST_COLS, r, strict=True)) for r in rows]
