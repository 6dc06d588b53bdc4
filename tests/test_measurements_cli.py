"""`heatwatch measurements` and `heatwatch instruments` end to end (issue 22): the real CLI
(heatwatch.cli.main) on a real workflow file. Worked example 10 through measurements, a
healthy visit, an expired instrument, a time outside the window, tampering and a correction."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from heatwatch.cli import main
from heatwatch.config import load_config
from tests.records_fixture import ACCOUNTS as FIXTURE_ACCOUNTS
from tests.records_fixture import write_records
from workflow.unit import WorkflowDb

ACCOUNTS = FIXTURE_ACCOUNTS + "H40,B1,2-101,40,area,13800000003\nH75,B1,2-102,75,area,\n"
DAY = "2026-12-03"
MORNING = f"{DAY}T08:30:00+08:00"


class Cli:
    """The heatwatch command on one config: a district with a 40 m² household, a measurer
    (wang), a supervisor (zhao), a clerk (li) and one registered thermometer (T-01)."""

    def __init__(self, tmp: Path, capsys: pytest.CaptureFixture[str]) -> None:
        write_records(tmp / "records", accounts=ACCOUNTS)
        self.cfg = tmp / "c.toml"
        self.cfg.write_text(f'[site]\ndata_dir = "{tmp / "var"}"\n'
                            f'records_dir = "{tmp / "records"}"\n', encoding="utf-8")
        self.capsys = capsys
        self.workflow = load_config(str(self.cfg)).workflow_path()
        self.workflow.parent.mkdir(parents=True, exist_ok=True)
        db = WorkflowDb(self.workflow)
        with db.unit() as u:
            for name, role in (("wang", "measurer"), ("zhao", "supervisor"), ("li", "clerk")):
                u.staff.put(name, role, "x", 0)
        db.close()
        assert self("instruments", "add", "T-01", "--accuracy", "0.2", "--certificate",
                    "JD-2026-117", "--expires", "2027-06-30")[0] == 0

    def __call__(self, *argv: str) -> tuple[int, str, str]:
        code = main([*argv, "--config", str(self.cfg)])
        out = self.capsys.readouterr()
        return code, out.out, out.err

    def json(self, *argv: str) -> Any:
        code, out, err = self(*argv, "--json")
        assert code == 0, err
        return json.loads(out)

    def measure(self, account: str, *readings: str, at: str = MORNING,
                extra: tuple[str, ...] = ()) -> dict[str, Any]:
        (rec,) = self.json(*self.add_args(account, *readings, at=at), *extra)
        out: dict[str, Any] = rec
        return out

    @staticmethod
    def add_args(account: str, *readings: str, at: str = MORNING) -> list[str]:
        flags = [x for r in readings for x in ("--reading", r)]
        return ["measurements", "add", account, *flags, "--instrument", "T-01", "--at", at,
                "--by", "wang", "--height", "1.2", "--closed-since", at[:11] + "07:30:00+08:00",
                "--outdoor-mean", "-4", "--reported-at", at]


@pytest.fixture
def cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Cli:
    return Cli(tmp_path, capsys)


def test_worked_example_10_through_measurements(cli: Cli) -> None:
    cold = cli.measure("H40", "bedroom=15.5", "living=15.5")
    assert cold["verdict"] == "cold" and cold["design_c"] == -7.0
    warm = cli.measure("H40", "bedroom=18.6", "living=18.9", at="2026-12-08T09:00:00+08:00")
    assert warm["verdict"] == "pass"
    (refund,) = cli.json("measurements", "refund", "H40", "--season", "2026")
    assert refund == {"account_id": "H40", "from": DAY, "to": "2026-12-08", "days": 5,
                      "reading_c": 15.5, "refund_cny": "19.83",
                      "basis": [cold["record_id"], warm["record_id"]],
                      "ended_by": "remeasured", "outage_days": 0}
    code, out, _ = cli("measurements", "refund", "H40", "--season", "2026")
    assert code == 0 and "19.83 元" in out and cold["record_id"] in out


def test_a_healthy_measurement_refunds_nothing(cli: Cli) -> None:
    rec = cli.measure("H75", "bedroom=19.0", "living=19.4")
    assert rec["verdict"] == "pass"
    assert cli.json("measurements", "refund", "H75", "--season", "2026") == []
    code, out, _ = cli("measurements", "show", rec["record_id"])
    assert code == 0 and "bedroom 19.0°C" in out and "pass" in out


def test_an_expired_instrument_is_refused_in_one_line(cli: Cli) -> None:
    cli("instruments", "add", "T-09", "--accuracy", "0.1", "--certificate", "JD-2025-004",
        "--expires", "2026-11-30")
    args = cli.add_args("H40", "bedroom=15.5")
    args[args.index("T-01")] = "T-09"
    code, out, err = cli(*args)
    assert code == 2 and out == "" and len(err.strip().splitlines()) == 1
    assert "JD-2025-004" in err and "过期" in err
    assert cli.json("measurements") == []


def test_a_time_outside_the_window_is_marked_not_refused(cli: Cli) -> None:
    rec = cli.measure("H40", "bedroom=17.0", at=f"{DAY}T12:30:00+08:00")
    assert rec["outside_window"] is True
    code, out, _ = cli("measurements", "--account", "H40")
    assert code == 0 and "时间不在测温时段" in out
    assert cli.measure("H40", "bedroom=17.0")["outside_window"] is False


def test_tampering_is_found_and_a_correction_keeps_both(cli: Cli) -> None:
    first = cli.measure("H40", "bedroom=15.5")
    second = cli.measure("H40", "bedroom=16.0", at="2026-12-04T08:30:00+08:00")
    assert cli("measurements", "verify")[0] == 0
    # a correction needs a supervisor's approval; a clerk's is refused
    code, _, err = cli("measurements", "correct", first["record_id"], "--reason", "误记",
                       "--approved-by", "li", "--reading", "bedroom=15.8")
    assert code == 2 and "supervisor" in err
    fixed = cli.json("measurements", "correct", first["record_id"], "--reason", "读数误记",
                     "--approved-by", "zhao", "--reading", "bedroom=15.8")[0]
    assert (fixed["corrects"], fixed["approved_by"]) == (first["record_id"], "zhao")
    listed = cli.json("measurements", "--account", "H40")
    assert [r["record_id"] for r in listed] == [first["record_id"], second["record_id"],
                                                 fixed["record_id"]]
    assert listed[0]["corrected_by"] == fixed["record_id"]
    code, out, _ = cli("measurements", "verify")
    assert code == 0 and "3 records" in out
    # one row altered directly in SQLite: verify fails naming that record
    raw = sqlite3.connect(cli.workflow)
    raw.executescript("DROP TRIGGER measurement_record_no_update; UPDATE measurement_record "
                      f"SET readings='[[\"bedroom\", 18.5]]' "
                      f"WHERE record_id='{second['record_id']}';")
    raw.close()
    code, out, _ = cli("measurements", "verify")
    assert code == 1 and f"broken at {second['record_id']}" in out
