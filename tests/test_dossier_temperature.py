"""The dispute dossier's temperature part and its header (issue 22): household B07-0103 of the
sample district (a metered flat with a bedroom and a living-room sensor) measured cold on
2024-12-03 and warm five days later, through the real `heatwatch` CLI on a SQLite store and a
workflow file. Every format of the dossier holds the records with their hashes, the sensors'
daily means beside them and the settlement, and none shows an internal path or address."""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest

from district.readings import Reading
from heatwatch.cli import main
from storage.sqlite import SqliteStore
from tests.test_dossier import need, pdf_pages, pdf_text
from workflow.unit import WorkflowDb

pytestmark = pytest.mark.services  # under CI=true a missing browser fails, never skips
TZ = dt.timezone(dt.timedelta(hours=8))
ACCOUNT = "B07-0103"
BED, LIV = "T-B07-0103-bed", "T-B07-0103-liv"
HEALTHY = "B02-0103"  # metered, no room sensor
# an internal path or address: a `/`-rooted path, a database file, a host:port
LEAKS = (re.compile(r"(?:^|[\s\"'(（:=])/(?:[\w.-]+/)+[\w.-]*"),
         re.compile(r"\.(?:db|sqlite3?)\b", re.I), re.compile(r"127\.0\.0\.1|localhost"),
         re.compile(r"\b\d{1,3}(?:\.\d{1,3}){3}:\d+\b"))


def _store(data: Path) -> None:
    """The flat's two room sensors every hour of 2024-12-01..10 (the bedroom at 16 °C until the
    6th, then 19 °C; the living room 1 K warmer), its meter twice a day, the weather."""
    store = SqliteStore(data / "readings.sqlite")
    room = {"account_id": ACCOUNT, "building_id": "B07", "substation_id": "S2"}
    t0 = dt.datetime(2024, 12, 1, tzinfo=TZ)
    out = []
    energy = 1000.0
    for d in range(10):
        bed = 16.0 if d < 6 else 19.0
        for h in range(24):
            ts = int((t0 + dt.timedelta(days=d, hours=h)).timestamp() * 1000)
            out.append(Reading("room", {"device_id": BED, **room}, {"temp_c": bed}, ts))
            out.append(Reading("room", {"device_id": LIV, **room}, {"temp_c": bed + 1}, ts))
            if h in (1, 23):
                energy += 50.0
                out.append(Reading("meter", {"device_id": "M-B07-0103", **room}, {
                    "energy_kwh": energy, "volume_m3": energy / 20, "power_kw": 4.0,
                    "flow_m3h": 0.4, "supply_c": 55.0, "return_c": 45.0, "status": 0}, ts))
            if h == 12:
                out.append(Reading("weather", {"device_id": "W1"}, {"outdoor_c": -3.0}, ts))
    store.write(out)
    store.close()


def _cli(toml: Path, *argv: str) -> None:
    assert main([*argv, "--config", str(toml)]) == 0, argv


def _measure(toml: Path, at: str, bed: float, liv: float, account: str = ACCOUNT) -> None:
    _cli(toml, "measurements", "add", account, "--reading", f"bedroom={bed}", "--reading",
         f"living={liv}", "--instrument", "T-01", "--at", at, "--by", "wang", "--height", "1.2",
         "--closed-since", at[:11] + "07:30:00+08:00", "--outdoor-mean", "-3", "--reported-at",
         at)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A config on a data dir with the store, the staff, a thermometer and two visits."""
    data = tmp_path_factory.mktemp("site")
    _store(data)
    toml = data / "heatwatch.toml"
    toml.write_text(f'[site]\ndata_dir = "{data}"\n', encoding="utf-8")
    db = WorkflowDb(data / "workflow.sqlite")
    with db.unit() as u:
        u.staff.put("wang", "measurer", "x", 0)
    db.close()
    _cli(toml, "instruments", "add", "T-01", "--accuracy", "0.2", "--certificate",
         "JD-2024-088", "--expires", "2025-06-30")
    _measure(toml, "2024-12-03T08:30:00+08:00", 15.5, 15.8)
    _measure(toml, "2024-12-08T09:00:00+08:00", 18.6, 18.9)
    # a flat without a room sensor, measured warm
    _measure(toml, "2024-12-05T16:00:00+08:00", 19.0, 19.2, account=HEALTHY)
    return toml


def _dispute(toml: Path, fmt: str, out: Path | None, capsys: pytest.CaptureFixture[str],
             account: str = ACCOUNT) -> str:
    argv = ["dispute", account, "--season", "2024", "--format", fmt]
    capsys.readouterr()
    _cli(toml, *argv, *(["--out", str(out)] if out else []))
    return capsys.readouterr().out if out is None else ""


def _no_leaks(text: str, where: str, data: Path) -> None:
    assert str(data) not in text, where
    for leak in LEAKS:
        found = leak.search(text)
        assert found is None, f"{where}: {found.group(0)!r}"


def test_json_holds_records_sensor_series_and_the_settlement(
        site: Path, capsys: pytest.CaptureFixture[str]) -> None:
    doc: dict[str, Any] = json.loads(_dispute(site, "json", None, capsys))
    t = doc["temperature"]
    first, second = t["records"]
    assert (first["record_id"], first["verdict"]) == ("M000001", "cold")
    assert (second["record_id"], second["verdict"]) == ("M000002", "pass")
    assert first["readings"] == [["bedroom", 15.5], ["living", 15.8]]
    assert len(first["hash"]) == 64 and first["measured"] == "2024-12-03T08:30+08:00"
    # the sensors' daily means beside each record, on the record's own day
    assert first["sensor_c"] == {BED: 16.0, LIV: 17.0}
    assert second["sensor_c"] == {BED: 19.0, LIV: 20.0}
    assert [s["device_id"] for s in t["sensors"]] == [BED, LIV]
    assert [r["date"] for r in t["series"]] == [f"2024-12-{d:02d}" for d in range(1, 11)]
    assert t["series"][2]["cold"] == [BED, LIV] and t["series"][7]["cold"] == []
    s = t["settlement"]
    assert s["state"] == "cold" and s["refund_days"] == 5 and s["basis"] == ["M000001",
                                                                              "M000002"]
    (refund,) = s["refunds"]
    assert refund["basis"] == ["M000001", "M000002"] and float(refund["refund_cny"]) > 0
    assert "室温不达标" in s["text"] and refund["refund_cny"] in s["text"]
    _no_leaks(json.dumps(doc, ensure_ascii=False), "json", site.parent)


def test_a_healthy_visit_settles_it_without_a_refund(
        site: Path, capsys: pytest.CaptureFixture[str]) -> None:
    t = json.loads(_dispute(site, "json", None, capsys, account=HEALTHY))["temperature"]
    (r,) = t["records"]
    assert (r["record_id"], r["verdict"], r["sensor_c"]) == ("M000003", "pass", {})
    assert t["sensors"] == [] and t["series"] == []
    s = t["settlement"]
    assert (s["state"], s["refunds"], s["refund_cny"]) == ("pass", [], "0.00")
    assert "室温达标" in s["text"] and "M000003" in s["text"] and "不予退费" in s["text"]
    md = _dispute(site, "md", None, capsys, account=HEALTHY)
    assert "室温传感器日均温" not in md and "M000003" in md


def test_markdown_shows_them_and_no_internal_address(
        site: Path, capsys: pytest.CaptureFixture[str]) -> None:
    md = _dispute(site, "md", None, capsys)
    doc = json.loads(_dispute(site, "json", None, capsys))
    assert "## 6. 室温与入户测温" in md and "## 7. 签字" in md
    for r in doc["temperature"]["records"]:
        assert r["record_id"] in md and r["hash"] in md
    # the sensors' series, the visit on its day beside it
    assert "| 2024-12-03 | -3.0 | 16.0 ⚠ | 17.0 ⚠ | M000001 |" in md
    assert "| 2024-12-08 | -3.0 | 19.0 | 20.0 | M000002 |" in md
    assert "室温不达标" in md and "generic-heat-meter (modbus)" in md
    _no_leaks(md, "markdown", site.parent)


def test_the_printed_dossier_shows_them_and_no_internal_address(
        site: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    need("chromium")
    html = tmp_path / "dossier.html"
    _dispute(site, "html", html, capsys)
    page = html.read_text(encoding="utf-8")
    doc = json.loads(_dispute(site, "json", None, capsys))
    for r in doc["temperature"]["records"]:
        assert r["record_id"] in page and r["hash"] in page
    assert str(site.parent) not in page and "127.0.0.1" not in page and ".sqlite" not in page
    pdf = tmp_path / "dossier.pdf"
    _dispute(site, "pdf", pdf, capsys)
    text = pdf_text(pdf)
    _no_leaks(text, "pdf", site.parent)
    assert "室温与入户测温" in text and "M000001" in text and "M000002" in text
    assert "室温不达标" in text and BED in text
    first_hash = doc["temperature"]["records"][0]["hash"]
    assert first_hash[:12] in "".join(text.split())
    # the page with the section, as a person sees it
    n = next(p for p in range(1, pdf_pages(pdf) + 1) if "室温与入户测温" in pdf_text(pdf, p))
    shots = Path(os.environ.get("HEATWATCH_SHOTS") or tmp_path)
    shots.mkdir(parents=True, exist_ok=True)
    subprocess.run(["pdftoppm", "-png", "-r", "80", "-f", str(n), "-l", str(n), "-singlefile",
                    str(pdf), str(shots / "dossier-temperature")], check=True)
    assert (shots / "dossier-temperature.png").stat().st_size > 20_000
