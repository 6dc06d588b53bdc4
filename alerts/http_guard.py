"""What keeps the crews' endpoint up against slow or probing clients: a deadline for each
request's headers (uvicorn has none), failed link lookups counted per client (429), and the
once-a-minute record of a phone shown."""

from __future__ import annotations

import asyncio
import threading
import time
from collections import deque
from typing import Any

from uvicorn.protocols.http.h11_impl import H11Protocol


class HeaderDeadline(H11Protocol):
    """uvicorn's h11 protocol, closing a connection that has not sent a whole request head
    within `header_timeout_s` of connecting (or of its last response): a stalled client
    cannot hold a connection and a file open. Body stalls are the handler's read deadline."""

    header_timeout_s = 10.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._head_timer: asyncio.TimerHandle | None = None

    def _arm(self) -> None:
        if self._head_timer is None:
            self._head_timer = self.loop.call_later(self.header_timeout_s, self._stalled)

    def _disarm(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _stalled(self) -> None:
        self._head_timer = None
        if self.cycle is None or self.cycle.response_complete:
            self.transport.close()

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self.cycle is None or self.cycle.response_complete:
            self._arm()  # a request head is (again) on its way: it has its deadline
        super().data_received(data)
        if self.cycle is not None and not self.cycle.response_complete:
            self._disarm()


class FailedLookups:
    """Failed link lookups per client address in the last minute; over the limit: 429."""

    def __init__(self, limit: int, window_s: float = 60.0) -> None:
        self.limit = limit
        self.window_s = window_s
        self._seen: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def _recent(self, client: str, now: float) -> deque[float]:
        q = self._seen.setdefault(client, deque())
        while q and q[0] <= now - self.window_s:
            q.popleft()
        return q

    def blocked(self, client: str) -> bool:
        with self._lock:
            return len(self._recent(client, time.monotonic())) >= self.limit

    def failed(self, client: str) -> None:
        now = time.monotonic()
        with self._lock:
            self._recent(client, now).append(now)
            if len(self._seen) > 10000:  # forget the quiet ones: the table stays small
                for k in [k for k, q in self._seen.items() if not q or q[-1] <= now - 60]:
                    del self._seen[k]


class OncePerMinute:
    """Whether (member, order) was not yet recorded in the last minute of the clock."""

    def __init__(self, every_ms: int = 60_000) -> None:
        self.every_ms = every_ms
        self._last: dict[tuple[str, str], int] = {}
        self._lock = threading.Lock()

    def due(self, member: str, order_id: str, now_ms: int) -> bool:
        with self._lock:
            last = self._last.get((member, order_id))
            if last is not None and now_ms - last < self.every_ms:
                return False
            self._last[(member, order_id)] = now_ms
            return True


# every answer, JSON ones too: nothing framed, sniffed or loaded (pages add their style hash)
BASE_CSP = "default-src 'none'; form-action 'self'; frame-ancestors 'none'"


class SecurityHeaders:
    """ASGI middleware: nosniff and a Content-Security-Policy on every response that does not
    set its own."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Any) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                names = {k.lower() for k, _ in headers}
                if b"content-security-policy" not in names:
                    headers.append((b"content-security-policy", BASE_CSP.encode()))
                if b"x-content-type-options" not in names:
                    headers.append((b"x-content-type-options", b"nosniff"))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, with_headers)
