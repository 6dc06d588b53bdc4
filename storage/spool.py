"""A bounded on-disk spool of line-protocol batches, and a store that drains it into InfluxDB."""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Protocol

from district.readings import Reading
from storage.base import Frame, StoreRejected, StoreUnavailable
from workflow.private import private_dir

log = logging.getLogger("heatwatch.spool")

SUFFIX = ".lp"
TEMP_SUFFIX = ".tmp"
REJECTED_DIR = "rejected"


class SpoolFull(StoreUnavailable):
    """The spool is at its byte bound; the caller must not ack, the broker keeps the data."""


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class Spool:
    """Batches as sequence-numbered files, each durable before `append` returns."""

    def __init__(self, directory: str | Path, max_bytes: int,
                 clock: Callable[[], float] = time.time) -> None:
        self.directory = Path(directory)
        self.max_bytes = max_bytes
        self._clock = clock
        self._lock = threading.Lock()
        private_dir(self.directory)
        self._sizes: dict[int, int] = {}
        self._born: dict[int, float] = {}
        for p in self.directory.iterdir():
            if p.name.endswith(TEMP_SUFFIX):
                # a batch whose append never returned: its caller did not ack it
                p.unlink(missing_ok=True)
            elif p.suffix == SUFFIX and p.stem.isdigit() and p.is_file():
                st = p.stat()
                self._sizes[int(p.stem)] = st.st_size
                self._born[int(p.stem)] = st.st_mtime
        self._bytes = sum(self._sizes.values())
        self._next = max(self._sizes, default=0) + 1

    def _path(self, seq: int) -> Path:
        return self.directory / f"{seq:020d}{SUFFIX}"

    def append(self, body: bytes) -> int:
        """Write one batch; returns its sequence number once it is on disk (fsync'd)."""
        with self._lock:
            if self._bytes + len(body) > self.max_bytes:
                raise SpoolFull(f"spool {self.directory} is full ({self._bytes} of "
                                f"{self.max_bytes} bytes)")
            seq = self._next
            self._next += 1
            path = self._path(seq)
            temp = path.with_name(path.name + TEMP_SUFFIX)
            fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            try:
                view = memoryview(body)
                while view:
                    view = view[os.write(fd, view):]
                os.fsync(fd)
            except BaseException:
                os.close(fd)
                temp.unlink(missing_ok=True)
                raise
            os.close(fd)
            os.replace(temp, path)
            # the rename is durable only once the directory entry is
            _fsync_dir(self.directory)
            self._sizes[seq] = len(body)
            self._born[seq] = self._clock()
            self._bytes += len(body)
            return seq

    def oldest(self) -> tuple[int, bytes] | None:
        """The first batch not yet removed, or None when empty."""
        with self._lock:
            if not self._sizes:
                return None
            seq = min(self._sizes)
        return seq, self._path(seq).read_bytes()

    def _forget(self, seq: int) -> None:
        self._bytes -= self._sizes.pop(seq, 0)
        self._born.pop(seq, None)

    def remove(self, seq: int) -> None:
        """Drop a batch the store has accepted."""
        with self._lock:
            # no directory fsync: a removal lost in a power cut resends the batch, and
            # resending is harmless (same series and time overwrite)
            self._path(seq).unlink(missing_ok=True)
            self._forget(seq)

    def reject(self, seq: int, refused: bytes | None = None) -> Path:
        """Set a refused batch aside in rejected/ (only its `refused` lines when given)."""
        with self._lock:
            target_dir = self.directory / REJECTED_DIR
            private_dir(target_dir)
            target = target_dir / self._path(seq).name
            if refused is not None:
                fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
                with os.fdopen(fd, "wb") as f:
                    f.write(refused)
                self._path(seq).unlink(missing_ok=True)
            else:
                os.replace(self._path(seq), target)
            self._forget(seq)
            return target

    @property
    def depth_batches(self) -> int:
        with self._lock:
            return len(self._sizes)

    @property
    def depth_bytes(self) -> int:
        with self._lock:
            return self._bytes

    @property
    def oldest_age_s(self) -> float:
        """Seconds since the oldest batch was spooled; 0 when empty."""
        with self._lock:
            if not self._born:
                return 0.0
            born = self._born[min(self._born)]
        return max(0.0, self._clock() - born)


class EncodedStore(Protocol):
    """What the spool needs of a store: encode a batch, and write an encoded one."""

    def encode(self, readings: Sequence[Reading]) -> bytes: ...

    def write_encoded(self, body: bytes) -> None: ...

    def read_window(self, measurement: str, start_ms: int, end_ms: int,
                    fields: Sequence[str] | None = None,
                    tags: Sequence[str] = ("device_id",)) -> Frame: ...

    def latest(self, measurement: str, tags: Sequence[str] = ("device_id",)) -> Frame: ...

    def read_device(self, measurement: str, device_id: str, start_ms: int, end_ms: int,
                    fields: Sequence[str] | None = None) -> Frame: ...

    def read_aggregate(self, measurement: str, start_ms: int, end_ms: int, every_s: int,
                       fields: Sequence[str], fn: str | Sequence[str] = "mean",
                       tags: Sequence[str] = ("device_id",), offset_s: int = 0) -> Frame: ...

    def close(self) -> None: ...


class SpooledStore:
    """A store whose writes go to InfluxDB directly, or to the spool while it is away."""

    def __init__(
        self,
        store: EncodedStore,
        directory: str | Path,
        max_bytes: int = 1 << 30,
        retry_s: float = 1.0,
        log_every_s: float = 60.0,
        max_backoff_s: float = 30.0,
    ) -> None:
        self.store = store
        self.spool = Spool(directory, max_bytes)
        self.retry_s = retry_s
        self.log_every_s = log_every_s
        self.max_backoff_s = max(max_backoff_s, retry_s)
        self.drained = 0
        self.rejected = 0
        self._write_lock = threading.Lock()
        self._changed = threading.Condition()
        self._stop = False
        self._last_log = 0.0
        if self.spool.depth_batches:
            log.warning("spool %s holds %d batches (%d bytes) from before; draining",
                        self.spool.directory, self.spool.depth_batches, self.spool.depth_bytes)
            self._last_log = time.monotonic()
        self._drainer = threading.Thread(target=self._drain, name="spool-drainer", daemon=True)
        self._drainer.start()

    # -- writes -----------------------------------------------------------------------------
    def write(self, readings: Sequence[Reading]) -> None:
        """Returns once the batch is in InfluxDB or in the spool; SpoolFull when neither."""
        if readings:
            self._write_body(self.store.encode(readings))

    def write_lines(self, lines: Sequence[str]) -> None:
        """As write, for lines of line protocol."""
        if lines:
            self._write_body(("\n".join(lines) + "\n").encode("utf-8"))

    def _write_body(self, body: bytes) -> None:
        # several writers may be in flight at once (the collector's pipeline): they go to
        # InfluxDB concurrently, outside the lock; while anything is spooled new batches
        # queue behind it, so the drainer writes them back in the order they came
        if self.spool.depth_batches == 0:
            try:
                self.store.write_encoded(body)
                return
            except StoreUnavailable as e:
                log.warning("influxdb unavailable (%s); spooling to %s", e, self.spool.directory)
                self._last_log = time.monotonic()
        with self._write_lock:
            self.spool.append(body)
        with self._changed:
            self._changed.notify_all()

    # -- draining ---------------------------------------------------------------------------
    def _drain(self) -> None:
        delay = self.retry_s
        while True:
            with self._changed:
                while not self._stop and self.spool.depth_batches == 0:
                    self._changed.wait()
                if self._stop:
                    return
            self._log_depth()
            item = self.spool.oldest()
            if item is None:
                continue
            seq, body = item
            try:
                self.store.write_encoded(body)
            except StoreRejected as e:
                # poison: write the lines it does take, set the refused ones aside, go on;
                # never retry it forever
                try:
                    refused = self._refused_lines([ln for ln in body.split(b"\n") if ln])
                except StoreUnavailable:
                    self._sleep(delay)
                    delay = min(delay * 2, self.max_backoff_s)
                    continue
                with self._changed:
                    path = self.spool.reject(seq, b"".join(ln + b"\n" for ln in refused))
                    self.rejected += 1
                    self._after_batch()
                log.error("influxdb refused %d line(s) of spooled batch %s (kept in %s; the "
                          "rest is stored): %s", len(refused), seq, path, e)
                continue
            except StoreUnavailable:
                self._sleep(delay)
                delay = min(delay * 2, self.max_backoff_s)
                continue
            except Exception:
                log.exception("unexpected error draining spooled batch %s; retrying", seq)
                self._sleep(delay)
                delay = min(delay * 2, self.max_backoff_s)
                continue
            with self._changed:
                self.spool.remove(seq)
                self.drained += 1
                self._after_batch()
            delay = self.retry_s

    def _refused_lines(self, lines: list[bytes]) -> list[bytes]:
        """Write the lines, halving refused pieces; the lines the store refuses one by one."""
        try:
            self.store.write_encoded(b"\n".join(lines) + b"\n")
            return []
        except StoreRejected:
            if len(lines) <= 1:
                return lines
        mid = len(lines) // 2
        return self._refused_lines(lines[:mid]) + self._refused_lines(lines[mid:])

    def write_direct(self, readings: Sequence[Reading]) -> None:
        """Write past the spool's queue (health points, so they land during a stall); while
        InfluxDB is away they are spooled, and SpoolFull when the spool is full too."""
        if not readings:
            return
        body = self.store.encode(readings)
        try:
            self.store.write_encoded(body)
            return
        except StoreUnavailable:
            pass
        with self._write_lock:
            self.spool.append(body)
        with self._changed:
            self._changed.notify_all()

    def _after_batch(self) -> None:
        """Under the condition: say so once the spool is empty, and wake flush()."""
        if self.spool.depth_batches == 0:
            log.info("spool drained (%d batches drained, %d rejected since start)",
                     self.drained, self.rejected)
        self._changed.notify_all()

    def _sleep(self, seconds: float) -> None:
        with self._changed:
            if not self._stop:
                self._changed.wait_for(lambda: self._stop, timeout=seconds)

    def _log_depth(self) -> None:
        now = time.monotonic()
        if now - self._last_log >= self.log_every_s:
            self._last_log = now
            log.warning("spool holds %d batches, %d bytes, oldest %.0f s",
                        self.spool.depth_batches, self.spool.depth_bytes,
                        self.spool.oldest_age_s)

    def flush(self, timeout_s: float = 30.0) -> bool:
        """Wait until the spool is empty; whether it is."""
        deadline = time.monotonic() + timeout_s
        with self._changed:
            while self.spool.depth_batches:
                left = deadline - time.monotonic()
                if left <= 0 or self._stop:
                    return False
                self._changed.wait(min(left, 0.1))
        return True

    def stats(self) -> dict[str, float]:
        """Spool depth and drain counters, for the collector's health point."""
        return {
            "batches": float(self.spool.depth_batches),
            "bytes": float(self.spool.depth_bytes),
            "oldest_age_s": self.spool.oldest_age_s,
            "drained": float(self.drained),
            "rejected": float(self.rejected),
        }

    # -- reads pass through -----------------------------------------------------------------
    def read_window(self, measurement: str, start_ms: int, end_ms: int,
                    fields: Sequence[str] | None = None,
                    tags: Sequence[str] = ("device_id",)) -> Frame:
        """Points with start_ms <= time < end_ms (what InfluxDB has; not what is spooled)."""
        return self.store.read_window(measurement, start_ms, end_ms, fields, tags)

    def latest(self, measurement: str, tags: Sequence[str] = ("device_id",)) -> Frame:
        """The newest point of each device in InfluxDB."""
        return self.store.latest(measurement, tags)

    def read_device(self, measurement: str, device_id: str, start_ms: int, end_ms: int,
                    fields: Sequence[str] | None = None) -> Frame:
        """One device's points from InfluxDB, oldest first."""
        return self.store.read_device(measurement, device_id, start_ms, end_ms, fields)

    def read_aggregate(self, measurement: str, start_ms: int, end_ms: int, every_s: int,
                       fields: Sequence[str], fn: str | Sequence[str] = "mean",
                       tags: Sequence[str] = ("device_id",), offset_s: int = 0) -> Frame:
        """Bucketed aggregates from InfluxDB."""
        return self.store.read_aggregate(measurement, start_ms, end_ms, every_s, fields, fn,
                                         tags, offset_s)

    def close(self) -> None:
        """Stop the drainer (what is spooled stays on disk for next time) and the store."""
        with self._changed:
            self._stop = True
            self._changed.notify_all()
        self._drainer.join(timeout=max(10.0, self.retry_s * 2))
        self.store.close()
