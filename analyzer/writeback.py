"""The derived series written back to the store, each cycle only the points that changed since
the analyzer's last write of them: what is stored ends up as if every cycle rewrote them all.

InfluxDB keeps one point per series and time, later writes replacing earlier fields, so a
point skipped because it equals the one written last time leaves the store as a rewrite would.
The last write is kept in memory; after a restart the first cycle writes everything again.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor

from analyzer.derived import GridPoints
from storage.base import LineStore, Store
from storage.lineprotocol import encode_columns, series_prefix

LINES_PER_WRITE = 5000  # InfluxDB's own guidance: 5,000-10,000 points per request
IN_FLIGHT = 3


class WriteBack:
    """Writes derived points to a store, skipping those unchanged since the last write."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.written: dict[str, GridPoints] = {}
        self.points_written = 0  # in the last write, for the benches
        self._prefixes: dict[str, tuple[Sequence[Mapping[str, str]], list[str]]] = {}

    def write(self, derived: Sequence[GridPoints]) -> None:
        """Store what changed; what was stored is remembered only once the store took it."""
        lines: list[str] = []
        self.points_written = 0
        for g in derived:
            where = g.changed_since(self.written.get(g.measurement))
            if not where.any():
                continue
            if isinstance(self.store, LineStore):
                rows, ts, fields = g.cells(where)
                lines += encode_columns(self._series(g), rows.tolist(), ts.tolist(), fields)
                self.points_written += len(rows)
            else:
                readings = g.readings(where)
                self.store.write(readings)
                self.points_written += len(readings)
                self.written[g.measurement] = g
        if lines:
            self._write_lines(lines)
        self.written.update({g.measurement: g for g in derived})

    def _write_lines(self, lines: list[str]) -> None:
        """Lines in bodies of LINES_PER_WRITE, IN_FLIGHT of them at once (an hourly meter
        cycle writes a point per meter and account: a city's is a million lines); any failed
        body fails the write (and nothing is remembered as written)."""
        store = self.store
        assert isinstance(store, LineStore)
        bodies = [lines[i:i + LINES_PER_WRITE] for i in range(0, len(lines), LINES_PER_WRITE)]
        if len(bodies) == 1:
            store.write_lines(bodies[0])
            return
        with ThreadPoolExecutor(IN_FLIGHT) as pool:
            for done in [pool.submit(store.write_lines, b) for b in bodies]:
                done.result()

    def _series(self, g: GridPoints) -> list[str]:
        """Each row's escaped series prefix, kept while the rows' tags stay the same object."""
        hit = self._prefixes.get(g.measurement)
        if hit is not None and hit[0] is g.tags:
            return hit[1]
        prefixes = [series_prefix(g.measurement, t) for t in g.tags]
        self._prefixes[g.measurement] = (g.tags, prefixes)
        return prefixes
