"""The transactional outbox: messages written with the change that caused them, sent later."""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from typing import Any

from workflow.db import Conn

# its tables: workflow/migrations (the outbox tables)

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
    lease_ms: int = 0  # the next_ms its claim set: the claim holds while next_ms is still that


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
            "INSERT INTO outbox (dedup_key, channel, target, title, body, data, "
            "created_ms, next_ms) VALUES (?,?,?,?,?,?,?,?) ON CONFLICT DO NOTHING",
            (m.dedup_key, m.channel, m.target, m.title, m.body,
             json.dumps(m.data, ensure_ascii=False, sort_keys=True), now_ms, now_ms))
        return cur.rowcount == 1

    def exists(self, dedup_key: str) -> bool:
        """Whether a message with this dedup key was ever enqueued."""
        return bool(self._c.rows("SELECT 1 FROM outbox WHERE dedup_key=?", (dedup_key,)))

    def due(self, channel: str, now_ms: int, limit: int) -> list[OutboxRow]:
        # 'sending' rows are from a run that died mid-send: the receiver dedups by key
        return self._due(channel, now_ms, limit, "")

    def _due(self, channel: str, now_ms: int, limit: int, lock: str) -> list[OutboxRow]:
        rows = self._c.rows(
            "SELECT id, dedup_key, channel, target, title, body, data, attempts, status, next_ms "
            "FROM outbox WHERE status IN ('pending', 'sending') AND channel=? AND next_ms <= ? "
            f"ORDER BY id LIMIT ?{lock}", (channel, now_ms, limit))
        return [OutboxRow(int(r[0]), r[1], r[2], r[3], r[4], r[5], json.loads(r[6]), int(r[7]),
                          r[8], int(r[9])) for r in rows]

    def claim(self, channel: str, now_ms: int, limit: int, lease_ms: int) -> list[OutboxRow]:
        """Take the channel's due rows for `lease_ms` (their next_ms moves past the lease):
        another deliverer, in this process or another alerts service, does not see them as
        due while it holds. Rows another unit holds are skipped, not waited for (PostgreSQL:
        FOR UPDATE SKIP LOCKED; SQLite's units run one at a time). A run that dies leaves its
        rows due again when the lease ends: they are re-sent with the same dedup key."""
        until = now_ms + lease_ms
        rows = self._due(channel, now_ms, limit, " FOR UPDATE SKIP LOCKED")
        for r in rows:
            self._c.run("UPDATE outbox SET next_ms=? WHERE id=?", (until, r.id))
        return [replace(r, lease_ms=until) for r in rows]

    def start_sending(self, row: OutboxRow, until_ms: int) -> bool:
        """Mark a claimed row sending (one more attempt) and renew its lease to `until_ms`,
        if the claim still holds; False if another deliverer took the row since."""
        return self._c.run("UPDATE outbox SET status='sending', attempts=attempts+1, next_ms=? "
                           "WHERE id=? AND next_ms=? AND status IN ('pending', 'sending')",
                           (until_ms, row.id, row.lease_ms)).rowcount == 1

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
