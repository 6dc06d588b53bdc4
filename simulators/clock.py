"""District time: a virtual clock that runs faster than the wall, and a manual one for tests."""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from typing import Protocol


class Clock(Protocol):
    """What the simulators read time from; never time.time() inside logic."""

    def now(self) -> float:
        """District time in epoch seconds."""
        ...

    async def sleep_until(self, district_t: float) -> None:
        """Return once district time has reached district_t."""
        ...

    def held(self) -> contextlib.AbstractContextManager[None]:
        """District time stands still inside: work that happens at one district instant."""
        ...


class VirtualClock:
    """District time runs `speed` times wall time from start_epoch_s (1 day in 10 s: 8640)."""

    def __init__(self, start_epoch_s: float, speed: float,
                 wall: Callable[[], float] = time.monotonic) -> None:
        if not speed > 0:
            raise ValueError(f"speed must be positive, got {speed!r}")
        self.start_epoch_s = float(start_epoch_s)
        self.speed = float(speed)
        self._wall = wall
        self._wall0 = wall()
        self._lock = threading.Lock()
        self._holds = 0
        self._held_at = 0.0

    def now(self) -> float:
        with self._lock:
            w = self._held_at if self._holds else self._wall()
            return self.start_epoch_s + (w - self._wall0) * self.speed

    @contextlib.contextmanager
    def held(self) -> Iterator[None]:
        """District time stands still inside (from any thread), then runs on from there:
        work that must happen at one district instant (the demo's analysis) does, however
        long it takes on the wall."""
        with self._lock:
            if not self._holds:
                self._held_at = self._wall()
            self._holds += 1
        try:
            yield
        finally:
            with self._lock:
                self._holds -= 1
                if not self._holds:
                    self._wall0 += self._wall() - self._held_at

    def wall_s_until(self, district_t: float) -> float:
        """Wall seconds left until district_t (0 if it has passed)."""
        return max(0.0, (district_t - self.now()) / self.speed)

    async def sleep_until(self, district_t: float) -> None:
        while (left := self.wall_s_until(district_t)) > 0:
            # held: the time left does not shrink, so wait a little, never spin
            await asyncio.sleep(max(left, 0.005) if self._holds else left)


class ManualClock:
    """A clock that moves only when told: tests advance it instead of sleeping."""

    def __init__(self, start_epoch_s: float) -> None:
        self.t = float(start_epoch_s)

    def now(self) -> float:
        return self.t

    def advance(self, dt_s: float) -> float:
        """Move district time forward by dt_s; return the new time."""
        if dt_s < 0:
            raise ValueError("a clock does not run backwards")
        self.t += dt_s
        return self.t

    async def sleep_until(self, district_t: float) -> None:
        # a manual clock never waits: whoever sleeps until t moves time to t
        self.t = max(self.t, district_t)
        await asyncio.sleep(0)

    def held(self) -> contextlib.AbstractContextManager[None]:
        return contextlib.nullcontext()  # it stands still anyway
