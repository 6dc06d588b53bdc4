"""The whole-city meter kernel against its time before issue 25 (bench/meter_baseline.py, the
kernel at commit c7d579b), side by side in one process.

Same synthetic meters as bench/analyze.py (chunks of 10,000, 48 h hourly). Each round times
the baseline and the current `detect_meter_faults` on every chunk, alternating which goes
first, in process CPU time on one thread; each chunk's best time is kept and the sums are
compared (the machine is noisy: best-of per chunk keeps the least disturbed runs). Issue
25's bound: within 10 % of the baseline.

    .venv/bin/python bench/meter_speed.py [--scale 1.0] [--rounds 5]
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from analyzer.grid import HOUR_MS, TimeAxis  # noqa: E402
from analyzer.kernels import meter_signs  # noqa: E402
from bench import meter_baseline  # noqa: E402
from policy.rules import MeterRules  # noqa: E402

BOUND = 1.10


def _cpu(fn: Callable[[int], Any], i: int) -> float:
    t0 = time.process_time()
    fn(i)
    return time.process_time() - t0


def compare(scale: float, rounds: int, chunk: int = 10_000, seed: int = 7) -> int:
    """Print both kernels' best CPU time and their ratio; 0 when within the bound."""
    from bench.analyze import HOURS, make_city, make_meters

    city = make_city(scale)
    axis = TimeAxis(0, HOUR_MS, HOURS)
    rules = MeterRules()
    firsts = list(range(0, city.n_meters, chunk))
    data = [make_meters(min(chunk, city.n_meters - f), np.random.default_rng(seed + 1 + f))
            for f in firsts]
    old_grids = [meter_baseline.MeterGrid(**m) for m in data]
    new_grids = [meter_signs.MeterGrid(**m) for m in data]
    n_suspect = sum(meter_signs.suspect_rows(g, rules, axis).size for g in new_grids)
    n_old = sum(meter_baseline.suspect_rows(g, rules).size for g in old_grids)

    kernels: dict[str, Callable[[int], Any]] = {
        "baseline (c7d579b)": lambda i: meter_baseline.detect_meter_faults(old_grids[i], axis,
                                                                          rules),
        "current": lambda i: meter_signs.detect_meter_faults(new_grids[i], axis, rules),
    }
    # the best time of each chunk, each round alternating which kernel goes first: a chunk
    # takes ~20 ms, so a burst of other load spoils one chunk's round, not the whole figure
    best = {name: [float("inf")] * len(firsts) for name in kernels}
    for r in range(rounds + 1):
        for i in range(len(firsts)):
            order = list(kernels.items())
            for name, fn in order if (r + i) % 2 == 0 else order[::-1]:
                s = _cpu(fn, i)
                if r:
                    best[name][i] = min(best[name][i], s)
    base, cur = (sum(best[name]) for name in kernels)
    print(f"{city.n_meters:,} meters × {HOURS} h in {len(firsts)} chunks; suspect rows: "
          f"baseline {n_old:,} ({n_old / city.n_meters:.1%}), current {n_suspect:,} "
          f"({n_suspect / city.n_meters:.1%})")
    print(f"meter kernel, sum of each chunk's best of {rounds} (CPU s, one thread):")
    for name, s in (("baseline (c7d579b)", base), ("current", cur)):
        print(f"  {name:<20} {s:8.3f}")
    print(f"  ratio current/baseline {cur / base:.3f} (bound {BOUND:.2f})")
    return 0 if cur <= BOUND * base else 1


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scale", type=float, default=1.0, help="share of the city (1.0 = full)")
    ap.add_argument("--rounds", type=int, default=5, help="alternating timed rounds")
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args(argv)
    return compare(args.scale, args.rounds, seed=args.seed)


if __name__ == "__main__":
    raise SystemExit(main())
