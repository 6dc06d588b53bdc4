"""issue 20 item 7: a day or a season with no data at all says so (无数据 / no data), never
"no outage" or "nobody owed"."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from heatwatch.cli import main
from storage.sqlite import SqliteStore


@pytest.fixture
def empty_site(tmp_path: Path) -> str:
    conf = tmp_path / "heatwatch.toml"
    conf.write_text(f'[site]\ndata_dir = "{tmp_path}"\n[store]\nbackend = "sqlite"\n'
                    "[alerts.http]\nenabled = false\n", encoding="utf-8")
    SqliteStore(tmp_path / "readings.sqlite").close()  # a store, empty
    return str(conf)


def test_a_day_with_no_data_says_no_data(empty_site: str, tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["report", "--day", "2030-01-01", "--json", "--config", empty_site]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["no_data"] is True and doc["outages"] == [] and doc["compliance"] == []
    assert main(["report", "--day", "2030-01-01", "--config", empty_site]) == 0
    out = capsys.readouterr().out
    assert "无数据 no data" in out
    page = (tmp_path / "reports/report-2030-01-01.html").read_text(encoding="utf-8")
    assert "当日无数据" in page and "当日无停热" not in page


def test_a_season_with_no_data_says_no_data(empty_site: str,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["refunds", "--season", "2019", "--json", "--config", empty_site]) == 0
    assert json.loads(capsys.readouterr().out)["status"] == "no_data"
    assert main(["refunds", "--season", "2019", "--config", empty_site]) == 0
    out = capsys.readouterr().out
    assert "无数据 no data" in out and "nobody" not in out.lower()
