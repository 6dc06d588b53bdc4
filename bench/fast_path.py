"""End to end on real services: a leak's readings published → its work order in the outbox,
and an outage passing 24 h → the residents' notices (issue 11).

    .venv/bin/python -m bench.fast_path

Runs tests/test_fast_path.py (mosquitto, the collector, influxd with the arrivals log, the
analyzer loop with each kind at its own pace, the alerts loop; substation_interval_s = 3 s
there) and prints the figures it measured beside the old analyzer's: one full-window cycle
every interval_s (300 s), so a leak waited up to a whole interval plus a full cycle.
"""

from __future__ import annotations

import re
import subprocess
import sys

from analyzer.config import AnalyzerConfig


def main() -> None:
    proc = subprocess.run([sys.executable, "-m", "pytest", "tests/test_fast_path.py", "-q", "-s",
                           "-p", "no:cacheprovider"], capture_output=True, text=True, check=False)
    figures = re.findall(r"^(leak evidence published -> .*|outage passes 24 h -> .*)$",
                         proc.stdout, re.M)
    if proc.returncode != 0 or not figures:
        sys.stdout.write(proc.stdout[-3000:] + proc.stderr[-2000:])
        raise SystemExit("bench.fast_path: the run failed")
    cfg = AnalyzerConfig()
    print("incremental analyzer (substation_interval_s = 3 s in the run):")
    for f in figures:
        print(f"  {f}")
    print(f"default [analyzer] substation_interval_s = {cfg.substation_interval_s:.0f} s: "
          f"a leak's order at most one substation interval plus one cycle after its evidence")
    print(f"old analyzer: one full-window cycle every interval_s = {cfg.interval_s:.0f} s: up "
          f"to {cfg.interval_s:.0f} s plus a full cycle (bench.analyze_cycle's 'old' column)")


if __name__ == "__main__":
    main()
