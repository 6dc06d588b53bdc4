"""The printed dispute dossier, looked at as a person would: headless Chromium renders the
HTML to a PNG and prints the PDF; pdftoppm turns its first pages into PNGs and pdftotext
shows what it says (docs/rules.md worked example 7 through `dispute --format pdf`)."""

from __future__ import annotations

import datetime as dt
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from district.readings import Reading
from documents import browser
from documents.charts import cjk_font
from documents.dossier import render, render_html
from heatwatch.cli import main
from heatwatch.commands.dispute import collect_evidence, dispute_command
from heatwatch.common import CommandError
from heatwatch.config import Config, load_config
from storage.sqlite import SqliteStore
from tests.test_dispute import CLOCK, Built, build

TZ = dt.timezone(dt.timedelta(hours=8))
pytestmark = pytest.mark.services  # under CI=true a missing browser fails, never skips


def need(tool: str) -> None:
    if tool == "chromium" and browser.find_browser() is None or (
            tool != "chromium" and shutil.which(tool) is None):
        pytest.skip(f"{tool} is not installed (scripts/test installs it)")


def pdf_text(pdf: Path, page: int | None = None) -> str:
    need("pdftotext")
    pages = [] if page is None else ["-f", str(page), "-l", str(page)]
    return subprocess.run(["pdftotext", "-layout", *pages, str(pdf), "-"], check=True,
                          capture_output=True, text=True).stdout


def pdf_pages(pdf: Path) -> int:
    out = subprocess.run(["pdfinfo", str(pdf)], check=True, capture_output=True,
                         text=True).stdout
    (line,) = [x for x in out.splitlines() if x.startswith("Pages:")]
    return int(line.split()[1])


@pytest.fixture(scope="module")
def sensor_open(tmp_path_factory: pytest.TempPathFactory) -> Built:
    return build("sensor_open_185c_meter_fault_non_human", tmp_path_factory.mktemp("open"))


@pytest.fixture(scope="module")
def example7_pdf(sensor_open: Built, tmp_path_factory: pytest.TempPathFactory) -> Path:
    need("chromium")
    tmp = tmp_path_factory.mktemp("pdf")
    out = tmp / "dossier.pdf"
    toml = tmp / "heatwatch.toml"
    toml.write_text(f'[site]\ndata_dir = "{sensor_open.data_dir}"\n', encoding="utf-8")
    # through the command, as the clerk runs it
    assert main(["dispute", "B02-0103", "--season", "2024", "--format", "pdf", "--out",
                 str(out), "--error-pct", "6", "--billed-kwh", "3000", "--config",
                 str(toml)]) == 0
    assert out.read_bytes().startswith(b"%PDF")
    return out


def test_worked_example_7_in_the_pdf(example7_pdf: Path) -> None:
    text = pdf_text(example7_pdf)
    # the account and its header; never the whole phone number
    for want in ("B02-0103", "东湖路2号楼 103室", "M-B02-0103", "138****1891"):
        assert want in text
    assert "13800001891" not in text
    # both bills side by side
    assert "按面积计费 area policy" in text and "度日估算 degree-day estimate" in text
    assert "合计 total" in text and "1,400.85" in text
    # the verdict, the class-2 limit worked out, who pays, the corrected energy
    assert "2.2 %" in text and "1.4 %" in text and "0.8 %" in text
    assert "±4.4 %" in text and "+6 %" in text and "不合格 fails" in text
    assert "公司 company" in text
    assert "3,000 → 2,830 kWh" in text
    # the fault and the day's basis in Chinese; the signature blocks
    assert "温度传感器开路" in text and "面积 area" in text
    for label in ("测温员/客服", "用户", "日期 date"):
        assert label in text


def test_the_pdf_is_a4_and_its_pages_become_pngs(example7_pdf: Path, tmp_path: Path) -> None:
    need("pdftoppm")
    info = subprocess.run(["pdfinfo", str(example7_pdf)], check=True, capture_output=True,
                          text=True).stdout
    assert "(A4)" in info
    subprocess.run(["pdftoppm", "-r", "60", "-png", "-f", "1", "-l", "2", str(example7_pdf),
                    str(tmp_path / "page")], check=True)
    pngs = sorted(tmp_path.glob("page-*.png"))
    assert len(pngs) == 2
    for png in pngs:
        data = png.read_bytes()
        assert data.startswith(b"\x89PNG") and len(data) > 10_000
    # page numbers from the page's own CSS (no browser header or footer)
    assert "第1页/共" in pdf_text(example7_pdf, 1).replace(" ", "")


def test_the_html_renders_to_a_png_with_cjk_glyphs(sensor_open: Built, tmp_path: Path) -> None:
    need("chromium")
    assert cjk_font() is not None, "fonts-noto-cjk is not installed"
    ev = collect_evidence(sensor_open.cfg, "B02-0103", 2024, (6.0, 10.0, 3.0, 10.0),
                          billed_kwh=3000.0, clock=lambda: CLOCK)
    html = render_html(ev)
    assert html.count("<svg") == 3  # kWh by basis, supply/return, flow: inline SVG
    assert "thead" in html and "table-header-group" in html
    png = tmp_path / "dossier.png"
    browser.screenshot(html, png)
    data = png.read_bytes()
    assert data.startswith(b"\x89PNG") and len(data) > 20_000


def season_store(data_dir: Path, meter: str, days: int) -> None:
    """A meter read at 01:00 and 23:00 every day of the 2024 season, and the weather."""
    store = SqliteStore(data_dir / "readings.sqlite")
    tags = {"device_id": meter, "account_id": "B02-0103", "building_id": "B02",
            "substation_id": "S1"}
    t0 = dt.datetime(2024, 11, 15, tzinfo=TZ)
    readings = []
    energy, volume = 1000.0, 50.0
    for d in range(days):
        for hour in (1, 23):
            energy += 60.0
            volume += 5.0
            ts = int((t0 + dt.timedelta(days=d, hours=hour)).timestamp() * 1000)
            readings.append(Reading("meter", tags, {
                "energy_kwh": energy, "volume_m3": volume, "power_kw": 5.0, "flow_m3h": 0.4,
                "supply_c": 55.0, "return_c": 45.0, "status": 0}, ts))
        readings.append(Reading("weather", {"device_id": "W1"}, {"outdoor_c": -3.0 - d % 5},
                                int((t0 + dt.timedelta(days=d, hours=12)).timestamp() * 1000)))
    store.write(readings)
    store.close()


def config(data_dir: Path) -> Config:
    cfg = load_config(None, env={})
    cfg.site.data_dir = str(data_dir)
    return cfg


def test_the_day_table_header_repeats_on_every_page(tmp_path: Path) -> None:
    need("chromium")
    season_store(tmp_path, "M-B02-0103", 121)
    out = tmp_path / "season.pdf"
    dispute_command(config(tmp_path), "B02-0103", 2024, str(out), False, None,
                    say=lambda s: None, clock=lambda: CLOCK, format_="pdf", render=render)
    pages = pdf_pages(out)
    assert pages >= 4
    # the day table runs over several pages; on each, its header comes before the first row
    texts = {p: pdf_text(out, p) for p in range(1, pages + 1)}
    table_pages = [p for p, t in texts.items() if "首读 first" in t]
    assert len(table_pages) >= 3
    assert table_pages == list(range(table_pages[0], table_pages[-1] + 1))
    for p in table_pages:
        row = re.search(r"^\s*202[45]-\d\d-\d\d\s+01:00", texts[p], re.M)
        assert row is not None, p
        assert texts[p].index("首读 first") < row.start(), p
    text = pdf_text(out)
    # actual first and last readings of a day, with their times
    assert "01:00" in text and "23:00" in text
    assert text.count("首读 first") == len(table_pages)


def test_a_season_with_no_readings_says_so(tmp_path: Path) -> None:
    SqliteStore(tmp_path / "readings.sqlite").close()  # a store, empty: no database is an error
    ev = collect_evidence(config(tmp_path), "B02-0103", 2024, clock=lambda: CLOCK)
    html = render_html(ev)
    assert "本采暖季无读数" in html
    assert "无读数 no reading（121 天）" in html


def test_pdf_needs_an_out_file_and_html_goes_to_stdout(sensor_open: Built) -> None:
    with pytest.raises(CommandError, match="--format pdf needs --out"):
        dispute_command(sensor_open.cfg, "B02-0103", 2024, None, False, None, format_="pdf",
                        render=render)
    said: list[str] = []
    dispute_command(sensor_open.cfg, "B02-0103", 2024, None, False, None, say=said.append,
                    clock=lambda: CLOCK, format_="html", render=render)
    assert said[0].startswith("<!DOCTYPE html>") and "计量争议证据" in said[0]


def test_no_browser_is_one_line(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HEATWATCH_CHROMIUM", "no-such-browser-here")
    with pytest.raises(browser.BrowserError, match="no Chromium found") as e:
        browser.print_pdf("<p>x</p>", tmp_path / "x.pdf")
    assert "\n" not in str(e.value)


def test_cli_mistake_is_one_line_exit_2(sensor_open: Built, tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    toml = tmp_path / "heatwatch.toml"
    toml.write_text(f'[site]\ndata_dir = "{sensor_open.data_dir}"\n', encoding="utf-8")
    assert main(["dispute", "B02-0103", "--season", "2024", "--format", "pdf", "--config",
                 str(toml)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--format pdf needs --out" in err


def test_dispute_and_refunds_refuse_a_symlinked_or_existing_out(
        sensor_open: Built, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """issue 26: a symlinked --out/--csv is refused and the file behind it untouched; an
    existing file is overwritten only with --force."""
    toml = tmp_path / "heatwatch.toml"
    toml.write_text(f'[site]\ndata_dir = "{sensor_open.data_dir}"\n', encoding="utf-8")
    precious = tmp_path / "precious"
    precious.write_text("keep me", encoding="utf-8")
    link = tmp_path / "link"
    link.symlink_to(precious)
    for argv in (["dispute", "B02-0103", "--season", "2024", "--out", str(link)],
                 ["refunds", "--season", "2024", "--csv", str(link)]):
        assert main([*argv, "--force", "--config", str(toml)]) == 2
        err = capsys.readouterr().err
        assert "symbolic link" in err and err.count("\n") == 1
    assert precious.read_text(encoding="utf-8") == "keep me"
    md = tmp_path / "dispute.md"
    md.write_text("old", encoding="utf-8")
    assert main(["dispute", "B02-0103", "--season", "2024", "--out", str(md),
                 "--config", str(toml)]) == 2
    assert "--force" in capsys.readouterr().err and md.read_text(encoding="utf-8") == "old"
    assert main(["dispute", "B02-0103", "--season", "2024", "--out", str(md), "--force",
                 "--config", str(toml)]) == 0
    assert "B02-0103" in md.read_text(encoding="utf-8")
