"""`heatwatch dispute`: the evidence file built from real scenario data (simulator → SQLite →
Runner → incidents), checked against the store's raw readings and docs/rules.md worked example 7."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from heatwatch.commands.dispute import dispute_command, dispute_evidence, mask_phone
from heatwatch.commands.dispute_days import daily_readings
from heatwatch.commands.dispute_markdown import render_markdown
from heatwatch.commands.dispute_verification import verification_doc
from heatwatch.common import CommandError
from heatwatch.config import Config, load_config
from storage.base import Frame
from storage.sqlite import SqliteStore
from tests.test_analyzer_scenarios import HERE, TZ, run_folder

SCENARIOS = HERE / "scenarios" / "analyzer"
CLOCK = dt.datetime(2024, 12, 5, 9, 30, tzinfo=TZ).timestamp()


@dataclass
class Built:
    cfg: Config
    data_dir: Path


def build(folder: str, tmp: Path) -> Built:
    """Run the scenario through the real simulator, store and analyzer into a data dir."""
    _, wf, store, _ = run_folder(SCENARIOS / folder, tmp)
    wf.close()
    store.close()
    cfg = load_config(None, env={})
    cfg.site.data_dir = str(tmp)
    return Built(cfg, tmp)


@pytest.fixture(scope="module")
def sensor_open(tmp_path_factory: pytest.TempPathFactory) -> Built:
    return build("sensor_open_185c_meter_fault_non_human", tmp_path_factory.mktemp("open"))


def evidence(b: Built, account: str, **kw: Any) -> dict[str, Any]:
    return dispute_evidence(b.cfg, account, 2024, clock=lambda: CLOCK, **kw)


def day(doc: dict[str, Any], section: str, date: str) -> dict[str, Any]:
    rows: list[dict[str, Any]] = (doc["readings"] if section == "readings"
                                  else doc["billing"]["days"])
    (row,) = [r for r in rows if r["date"] == date]
    return row


# -- a non-human fault: sensor open (185.00 °C) for 6 h on 2 Dec ------------------------------

def test_fault_interval_with_its_cause_and_billing_meaning(sensor_open: Built) -> None:
    doc = evidence(sensor_open, "B02-0103")
    (f,) = doc["faults"]
    assert (f["kind"], f["cause"], f["class"]) == ("meter_fault", "sensor_open", "non_human")
    assert (f["start"], f["end"], f["hours"]) == (
        "2024-12-02T04:00+08:00", "2024-12-02T10:00+08:00", 6.0)
    assert "185.00" in f["text"]
    assert "面积" in f["billing"] and "area" in f["billing"]


def test_area_billed_day_and_its_reason(sensor_open: Built) -> None:
    doc = evidence(sensor_open, "B02-0103")
    d = day(doc, "billing", "2024-12-02")
    assert d["basis"] == "area"
    assert "non-human" in d["reason"] and "sensor open" in d["reason"]
    assert day(doc, "billing", "2024-12-03")["basis"] == "metered"
    area = doc["billing"]["area_policy"]
    # the same bill as `heatwatch billing` (the scenario's expected.json)
    assert (area["area_days"], area["area_cny"]) == (1, "22.95")
    assert Decimal(doc["billing"]["difference_cny"]) == (
        Decimal(doc["billing"]["estimated_policy"]["total_cny"]) - Decimal(area["total_cny"]))


def test_daily_readings_are_the_stores_raw_readings(sensor_open: Built) -> None:
    doc = evidence(sensor_open, "B02-0103")
    row = day(doc, "readings", "2024-12-02")
    t0 = int(dt.datetime(2024, 12, 2, tzinfo=TZ).timestamp() * 1000)
    store = SqliteStore(sensor_open.data_dir / "readings.sqlite")
    try:
        fr = store.read_window("meter", t0, t0 + 86_400_000)
    finally:
        store.close()
    mine = fr.device_id == "M-B02-0103"
    e, v = fr.fields["energy_kwh"][mine], fr.fields["volume_m3"][mine]
    assert row["readings"] == int(mine.sum()) > 0
    assert row["first_energy_kwh"] == round(float(e[0]), 2)
    assert row["last_energy_kwh"] == round(float(e[-1]), 2)
    assert row["first_volume_m3"] == round(float(v[0]), 3)
    assert row["last_volume_m3"] == round(float(v[-1]), 3)
    assert row["kwh"] == round(float(e[-1] - e[0]), 2)  # no reading the day before
    # raw, never edited: the open sensor's 185.00 °C stays in the mean
    sup = fr.fields["supply_c"][mine]
    assert 185.0 in sup
    assert row["mean_supply_c"] == round(float(np.mean(sup)), 2)
    assert row["mean_return_c"] == round(float(np.mean(fr.fields["return_c"][mine])), 2)
    assert not row["missing"] and not row["total_went_down"]
    assert day(doc, "readings", "2024-11-20")["missing"] is True


def test_markdown_has_every_section_signatures_and_never_the_phone(sensor_open: Built) -> None:
    doc = evidence(sensor_open, "B02-0103")
    md = render_markdown(doc)
    js = json.dumps(doc, ensure_ascii=False)
    for text in (md, js):
        assert "13800001891" not in text
        assert "138****1891" in text
    for heading in ("## 1.", "## 2.", "## 3.", "## 4.", "## 5.", "## 6."):
        assert heading in md
    assert "东湖路2号楼 103室" in md
    assert "M-B02-0103" in md and "generic-heat-meter" in md
    assert "2024-12-05T09:30:00+08:00" in md  # the injected clock
    assert "| 2024-12-02T04:00+08:00 | 2024-12-02T10:00+08:00 | 6 |" in md
    assert "| 2024-12-02 | 面积 area |" in md
    assert "2024-11-15 — 2024-12-01 | 无读数 missing (17 天)" in md
    assert "测温员/客服" in md and "用户 resident" in md and "____" in md
    # without a verification: the rule and who pays in each case
    assert "用户承担校表费" in md and "供热企业承担校表费" in md


def test_out_file_and_json(sensor_open: Built, tmp_path: Path) -> None:
    out = tmp_path / "evidence.json"
    said: list[str] = []
    assert dispute_command(sensor_open.cfg, "B02-0103", 2024, str(out), True, None,
                           say=said.append, clock=lambda: CLOCK) == 0
    doc = json.loads(out.read_text(encoding="utf-8"))
    assert doc["header"]["meter_id"] == "M-B02-0103"
    assert len(doc["readings"]) == len(doc["billing"]["days"]) == 121
    assert str(out) in said[0]
    with pytest.raises(CommandError, match="does not exist"):
        dispute_command(sensor_open.cfg, "B02-0103", 2024, str(tmp_path / "no" / "x.md"),
                        False, None, say=said.append)


# -- docs/rules.md worked example 7, through the command ---------------------------------

def run_json(b: Built, **kw: Any) -> dict[str, Any]:
    said: list[str] = []
    assert dispute_command(b.cfg, "B02-0103", 2024, None, True, say=said.append,
                           clock=lambda: CLOCK, **kw) == 0
    doc: dict[str, Any] = json.loads(said[0])
    return doc


def test_worked_example_7_fails_company_pays_corrected(sensor_open: Built) -> None:
    v = run_json(sensor_open, error_pct=6.0, billed_kwh=3000.0)["verification"]
    assert (v["limit_pct"], v["passes"], v["payer"], v["bill_stands"]) == (
        "4.4", False, "company", False)
    assert (v["billed_kwh"], v["corrected_kwh"]) == ("3000", "2830")
    assert (v["billed_energy_cny"], v["corrected_energy_cny"]) == ("480.00", "452.80")
    said: list[str] = []
    dispute_command(sensor_open.cfg, "B02-0103", 2024, None, False, 6.0, billed_kwh=3000.0,
                    say=said.append)
    assert "±4.4 %" in said[0] and "**2830 kWh**" in said[0] and "供热企业 company" in said[0]


def test_worked_example_7_passes_resident_pays_bill_stands(sensor_open: Built) -> None:
    v = run_json(sensor_open, error_pct=3.0, billed_kwh=3000.0)["verification"]
    assert (v["limit_pct"], v["passes"], v["payer"], v["corrected_kwh"]) == (
        "4.4", True, "resident", "3000")
    # the limit holds either way: −6 % fails too
    assert run_json(sensor_open, error_pct=-6.0, billed_kwh=3000.0)["verification"][
        "passes"] is False


def test_verification_defaults_to_the_seasons_metered_kwh(sensor_open: Built) -> None:
    doc = run_json(sensor_open, error_pct=1.0)
    assert doc["verification"]["billed_kwh"] == format(
        Decimal(doc["billing"]["area_policy"]["kwh"]).normalize(), "f")


def test_verification_doc_is_exact_in_decimal() -> None:
    v = verification_doc(Decimal(3000), Decimal("0.16"), Decimal(6), Decimal(10), Decimal(3),
                         Decimal(10))
    assert (v["limit_pct"], v["corrected_kwh"]) == ("4.4", "2830")
    with pytest.raises(CommandError):
        verification_doc(Decimal(3000), Decimal("0.16"), 6.0, 0.0, 3.0, 10.0)


# -- other fault classes -----------------------------------------------------------------------

def test_human_cause_goes_to_inspection(tmp_path: Path) -> None:
    b = build("status_tamper_is_human_inspection", tmp_path)
    doc = evidence(b, "B04-0502")
    (f,) = doc["faults"]
    assert (f["cause"], f["class"]) == ("tamper", "human")
    assert "稽查" in f["billing"]
    assert day(doc, "billing", "2024-12-02")["basis"] == "inspection"


def test_comm_loss_counted_per_day_and_listed(tmp_path: Path) -> None:
    b = build("meter_offline_4h_comm_loss", tmp_path)
    doc = evidence(b, "B05-0502")
    (f,) = doc["faults"]
    assert (f["kind"], f["class"], f["cause"], f["hours"]) == ("meter_comm", "comm", "timeout",
                                                               4.0)
    row = day(doc, "readings", "2024-12-02")
    assert row["comm_faults"] == 4
    assert "next reading" in f["billing"]


# -- errors are one line --------------------------------------------------------------------------

def test_errors_are_one_line(tmp_path: Path) -> None:
    cfg = load_config(None, env={})
    cfg.site.data_dir = str(tmp_path)
    for account, season, match in (("NOPE-1", 2024, "unknown account 'NOPE-1'"),
                                   ("B01-0101", 2024, "has no heat meter"),
                                   ("B02-0103", 12, "is not a year")):
        with pytest.raises(CommandError, match=match) as e:
            dispute_command(cfg, account, season, None, False, None, say=lambda s: None)
        assert "\n" not in str(e.value)
    with pytest.raises(CommandError, match="--billed-kwh"):
        dispute_command(cfg, "B02-0103", 2024, None, False, None, billed_kwh=3000.0)


# -- pure parts ---------------------------------------------------------------------------------

def test_mask_phone() -> None:
    assert mask_phone("13800000001") == "138****0001"
    assert mask_phone("") == ""
    assert "12345" not in mask_phone("12345")


def test_a_falling_total_is_flagged() -> None:
    t0 = int(dt.datetime(2024, 11, 15, tzinfo=TZ).timestamp() * 1000)
    hour = 3_600_000
    # the day before ends at 100 kWh; day 0 reads 99 then 95 (the total went down) at 08:00
    # and 20:00; day 1 has no reading
    ts = np.array([t0 - 2 * hour, t0 + 8 * hour, t0 + 20 * hour], dtype=np.int64)
    nan = np.nan
    meter = Frame(ts, {"device_id": np.array(["M"] * 3)}, {
        "energy_kwh": np.array([100.0, 99.0, 95.0]), "volume_m3": np.array([5.0, 5.5, 6.0]),
        "supply_c": np.array([50.0, 52.0, nan]), "return_c": np.array([40.0, 41.0, 42.0]),
        "flow_m3h": np.array([0.2, 0.3, 0.1])})
    comm = Frame(np.zeros(0, dtype=np.int64), {}, {"cause_code": np.zeros(0)})
    rows = daily_readings(meter, comm, t0, 2, dt.date(2024, 11, 15), TZ, np.array([-3.0, nan]))
    r = rows[0]
    assert r["total_went_down"] is True and r["kwh"] == -5.0
    assert (r["first_at"], r["last_at"]) == ("08:00", "20:00")
    assert (r["first_energy_kwh"], r["last_energy_kwh"]) == (99.0, 95.0)
    assert (r["mean_supply_c"], r["mean_flow_m3h"], r["outdoor_mean_c"]) == (52.0, 0.2, -3.0)
    assert rows[1]["missing"] is True and rows[1]["kwh"] is None
    assert rows[1]["first_at"] is None and rows[1]["outdoor_mean_c"] is None


def test_out_of_range_hours_are_a_reason_not_a_fault(sensor_open: Built) -> None:
    """Intervals below Δθmin are counted per day (issue 25) and shown as a reason; a supply
    outage's hours are the outage's; a day without any has no such key (the goldens)."""
    t0 = int(dt.datetime(2024, 11, 15, tzinfo=TZ).timestamp() * 1000)
    hour = 3_600_000
    ts = t0 + np.arange(24, dtype=np.int64) * hour
    low = (np.arange(24) >= 6) & (np.arange(24) <= 9)  # ΔT 1 K from 06:00 to 09:00
    meter = Frame(ts, {"device_id": np.array(["M"] * 24)}, {
        "energy_kwh": np.arange(24, dtype=np.float64) * 5.0 + 1000.0,
        "volume_m3": np.arange(24, dtype=np.float64) * 0.5 + 50.0,
        "supply_c": np.where(low, 41.0, 50.0), "return_c": np.full(24, 40.0),
        "flow_m3h": np.full(24, 0.5)})
    comm = Frame(np.zeros(0, dtype=np.int64), {}, {"cause_code": np.zeros(0)})
    rows = daily_readings(meter, comm, t0, 2, dt.date(2024, 11, 15), TZ)
    # the steps ending 07:00, 08:00 and 09:00 average 1 K; 06:00 and 10:00 average 5.5 K
    assert rows[0]["out_of_range_h"] == 3.0 and "out_of_range_h" not in rows[1]
    outage = [(t0 + 8 * hour, t0 + 12 * hour)]
    rows = daily_readings(meter, comm, t0, 2, dt.date(2024, 11, 15), TZ, outages=outage)
    assert rows[0]["out_of_range_h"] == 2.0

    doc = evidence(sensor_open, "B02-0103")
    assert not any("out_of_range_h" in r for r in doc["readings"])
    assert "超出额定范围" not in render_markdown(doc)
    (k, *_) = [i for i, r in enumerate(doc["readings"]) if not r["missing"]]
    doc["readings"][k]["out_of_range_h"] = 3.0
    md = render_markdown(doc)
    assert f"- {doc['readings'][k]['date']}: 3 h" in md
    assert "⚠ 超出额定范围 out of rated range 3 h" in md
    from documents.dossier import day_rows

    (row,) = [r for r in day_rows(doc) if r["date"] == doc["readings"][k]["date"]]
    assert row["reason"].endswith("；超出额定范围 3 小时（不判定计量误差，非表计故障）")
