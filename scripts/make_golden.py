"""The documents of the default city, as the `heatwatch` commands print them, on two scenario
folders: the golden outputs that tests/test_golden_outputs.py holds the current code to.

    python scripts/make_golden.py OUT_DIR [--work DIR]

Each case: the scenario's readings (the simulator on its manual clock, as the analyzer's
scenario tests make them) into a SQLite store, then only `heatwatch` commands on a config
file: `analyze --once`, `alerts --once`, and the outputs (billing, dispute md/json,
refunds, notices, report json). It uses nothing but the command line and the scenario
helper, so it runs on older commits too (the goldens were made on 9c383e7).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import io
import os
import re
import shutil
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCENARIOS = ROOT / "tests" / "scenarios" / "analyzer"
HOUSEHOLD_90 = "B07-0101"  # an area-tariff household on S2, set to 90 m² (worked example 1)
METERED = "B02-0103"  # the metered household of the dispute tests

# name: (scenario folder, as of, the report's day, accounts for billing and dispute)
CASES: dict[str, tuple[str, str, str, tuple[str, ...]]] = {
    "pump_trip": ("pump_trip_30h_outage_over_24h_two_days", "2024-12-04T00:00:00+08:00",
                  "2024-12-03", ("B07-0103", METERED)),
    "sensor_open": ("sensor_open_185c_meter_fault_non_human", "2024-12-03T00:00:00+08:00",
                    "2024-12-02", (METERED,)),
}


INSTANT = re.compile(r"(\d{4}-\d\d-\d\d)T\d\d:\d\d:\d\d(?:\.\d+)?(?:[+-]\d\d:\d\d|Z)")


def normalised(text: str, work: Path) -> str:
    """The output with what legitimately varies from run to run written as a mark: the work
    directory's path, and instants of the wall clock (a dispute's generated_at, the refunds'
    as_of), told from the scenarios' 2024 instants by being within two days of now."""
    today = dt.date.today()

    def now_mark(m: re.Match[str]) -> str:
        near = abs((dt.date.fromisoformat(m.group(1)) - today).days) <= 2
        return "<NOW>" if near else m.group(0)

    return INSTANT.sub(now_mark, text.replace(str(work), "<WORK>"))


def _records(work: Path) -> Path:
    """The sample district, with the 90 m² area household of worked example 1."""
    records = work / "records"
    shutil.copytree(ROOT / "district" / "sample", records)
    accounts = records / "accounts.csv"
    lines = accounts.read_text(encoding="utf-8").splitlines()
    for i, line in enumerate(lines):
        if line.startswith(HOUSEHOLD_90 + ","):
            cols = line.split(",")
            cols[3], cols[4] = "90", "area"
            lines[i] = ",".join(cols)
    accounts.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return records


def _readings(folder: str, records: Path, work: Path) -> None:
    """The scenario's readings into <work>/readings.sqlite, as the collector stores them."""
    sys.path.insert(0, str(ROOT))
    from simulators.scenario import load_scenario
    from storage.sqlite import SqliteStore
    from tests.test_analyzer_scenarios import district_readings

    text = (SCENARIOS / folder / "scenario.toml").read_text(encoding="utf-8")
    scenario = work / "scenario.toml"
    scenario.write_text(text.replace('records = ""', f'records = "{records}"'),
                        encoding="utf-8")
    store = SqliteStore(work / "readings.sqlite")
    try:
        store.write(district_readings(load_scenario(scenario)))
    finally:
        store.close()


def _run(argv: list[str]) -> str:
    """One `heatwatch` command in this process; what it printed."""
    from heatwatch.cli import main

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        rc = main(argv)
    if rc:
        raise SystemExit(f"heatwatch {' '.join(argv)}: exit {rc}")
    return out.getvalue()


def make_case(name: str, work: Path, write: Callable[[str, str], None]) -> None:
    folder, at, day, accounts = CASES[name]
    records = _records(work)
    _readings(folder, records, work)
    conf = work / "heatwatch.toml"
    conf.write_text(f'[site]\ndata_dir = "{work}"\nrecords_dir = "{records}"\n',
                    encoding="utf-8")
    c = ["--config", str(conf)]
    _run(["analyze", "--once", "--at", at, *c])
    _run(["alerts", "--once", "--at", at, *c])
    for account in accounts:
        write(f"{name}.billing.{account}.txt", _run(["billing", account, "--season", "2024", *c]))
        write(f"{name}.billing.{account}.json",
              _run(["billing", account, "--season", "2024", "--json", *c]))
        for fmt in ("md", "json"):
            out = work / f"dispute.{account}.{fmt}"  # a new file each (no --force needed)
            _run(["dispute", account, "--season", "2024", "--format", fmt, "--out", str(out),
                  *c])
            write(f"{name}.dispute.{account}.{fmt}", out.read_text(encoding="utf-8"))
    csv = work / "refunds.csv"
    write(f"{name}.refunds.txt", _run(["refunds", "--season", "2024", "--csv", str(csv), *c]))
    write(f"{name}.refunds.csv", csv.read_text(encoding="utf-8"))
    write(f"{name}.refunds.json", _run(["refunds", "--season", "2024", "--json", *c]))
    write(f"{name}.notices.txt", _run(["notices", *c]))
    write(f"{name}.notices.json", _run(["notices", "--json", *c]))
    write(f"{name}.report.json", _run(["report", "--day", day, "--json", "--at", at, *c]))


def make_all(out: Path, work: Path) -> list[Path]:
    """Every case's outputs into `out`, the data in `work`; the files written. The work
    directory's path is written as <WORK> and the wall clock's instants as <NOW>, so that
    outputs compare across runs."""
    for k in [k for k in os.environ if k.startswith("HEATWATCH_")]:
        del os.environ[k]  # the default city: only the config file written here
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for name in CASES:
        case_work = work / name
        case_work.mkdir(parents=True)

        def write(file: str, text: str, case_work: Path = case_work) -> None:
            path = out / file
            path.write_text(normalised(text, case_work), encoding="utf-8")
            written.append(path)

        make_case(name, case_work, write)
    return written


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("out", type=Path)
    p.add_argument("--work", type=Path, default=None, help="keep the data here (default: temp)")
    a = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = a.work or Path(tmp)
        for path in make_all(a.out, work):
            print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
