"""The measurer's phone page in headless Chromium at 390×844 (issue 22), on a real `heatwatch
desk`: a 测温 call opens a measurement order; a supervisor assigns orders at the desk; the
measurer's own signed link opens the page; an expired instrument is refused with its reason;
the page is filled in, two signatures are drawn (a mouse and a finger), and the stored record
holds the readings, the instrument and both signatures, and `heatwatch measurements verify`
passes; a time outside the city's windows is said and marked; a resident's refusal is recorded
with the measurer's note. Screens are saved as measure-*.png to $HEATWATCH_SHOTS."""

from __future__ import annotations

import datetime as dt
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from desk.auth import add_staff
from desk.visit_orders import open_visit
from district.readings import Reading
from heatwatch.config import load_config
from storage.sqlite import SqliteStore
from tests.desk_fixture import PASSWORD, free_port, running_desk, write_config
from tests.records_fixture import write_records
from tests.test_cli import heatwatch
from tests.test_desk_browser import (
    ACCOUNTS,
    BUILDINGS,
    CHROMIUM,
    DEVICES,
    FLAGS,
    SHOTS,
    SUBSTATIONS,
)
from workflow.signatures import sha256_of
from workflow.unit import WorkflowDb

playwright = pytest.importorskip("playwright.sync_api")
TZ = ZoneInfo("Asia/Shanghai")
MEASURER = "sun"


def _setup(tmp: Path, port: int) -> Path:
    rec = write_records(tmp / "rec", substations=SUBSTATIONS, buildings=BUILDINGS,
                        accounts=ACCOUNTS, devices=DEVICES)
    cfg = write_config(tmp, port, records=rec)
    _weather(cfg)
    db = WorkflowDb(tmp / "var" / "workflow.sqlite")
    add_staff(db, MEASURER, "measurer", PASSWORD, int(time.time() * 1000))
    db.close()
    for inst, expires in (("T-01", "2099-12-31"), ("T-OLD", "2020-01-01")):
        p = heatwatch("instruments", "add", inst, "--accuracy", "0.2", "--certificate",
                      f"JD-{inst}", "--expires", expires, "--config", str(cfg))
        assert p.returncode == 0, p.stderr
    # two orders opened two days ago, not yet assigned: a cold-room flag's and a supervisor's
    db = _db(tmp)
    opened = int(time.time() * 1000) - 2 * 86_400_000
    with db.unit() as u:
        open_visit(u, "A101", "cold_room", f"room_cold:r1:{opened}", opened, "zhao", None)
        open_visit(u, "A102", "supervisor", "zhao", opened, "zhao", None)
    db.close()
    p = heatwatch("calls", "add", "A201", "--kind", "temperature", "--by", "li",
                  "--text", "卧室不热", "--config", str(cfg))
    assert p.returncode == 0, p.stderr
    return cfg


def _weather(cfg_path: Path) -> None:
    """The weather station's last three days, hourly at -2 °C: the page's outdoor mean."""
    cfg = load_config(str(cfg_path))
    store = SqliteStore(cfg.data_path(cfg.store.sqlite.path, "readings.sqlite"))
    start = dt.datetime.now(TZ).replace(hour=0, minute=0, second=0, microsecond=0)
    store.write([Reading("weather", {"device_id": "w1"}, {"outdoor_c": -2.0},
                         int((start - dt.timedelta(hours=h)).timestamp() * 1000))
                 for h in range(1, 72)])
    store.close()


def _db(tmp: Path) -> WorkflowDb:
    return WorkflowDb(tmp / "var" / "workflow.sqlite")


def _shot(page: Any, name: str, at: str = "", full: bool = False) -> None:
    """The screen as the phone shows it (from `at` when given), or the whole page."""
    if at:
        page.locator(at).scroll_into_view_if_needed()
        page.evaluate(f"document.querySelector('{at}').scrollIntoView({{block: 'start'}})")
    page.screenshot(path=str(SHOTS / f"measure-{name}.png"), full_page=full)


def _draw_mouse(page: Any, selector: str) -> None:
    page.locator(selector).scroll_into_view_if_needed()
    box = page.locator(selector).bounding_box()
    x, y, w, h = box["x"], box["y"], box["width"], box["height"]
    page.mouse.move(x + w * 0.1, y + h * 0.6)
    page.mouse.down()
    for i in range(1, 25):
        page.mouse.move(x + w * (0.1 + 0.03 * i), y + h * (0.6 - 0.3 * ((i % 6) / 6)), steps=2)
    page.mouse.up()


def _draw_finger(page: Any, cdp: Any, selector: str) -> None:
    """A finger's strokes, as the phone's touchscreen sends them (CDP touch events)."""
    page.locator(selector).scroll_into_view_if_needed()
    box = page.locator(selector).bounding_box()
    x, y, w, h = box["x"], box["y"], box["width"], box["height"]
    pts = [(x + w * (0.15 + 0.025 * i), y + h * (0.5 + 0.25 * ((-1) ** i) * (i % 3) / 3))
           for i in range(28)]
    cdp.send("Input.dispatchTouchEvent", {"type": "touchStart",
                                          "touchPoints": [{"x": pts[0][0], "y": pts[0][1]}]})
    for px, py in pts[1:]:
        cdp.send("Input.dispatchTouchEvent", {"type": "touchMove",
                                              "touchPoints": [{"x": px, "y": py}]})
    cdp.send("Input.dispatchTouchEvent", {"type": "touchEnd", "touchPoints": []})


def _assign(page: Any, base: str, order_id: str) -> str:
    """The supervisor sends an order to the measurer; the measurer's link."""
    row = page.locator(f"#visit-{order_id}")
    row.locator("select[name=measurer]").select_option(MEASURER)
    row.locator("form[action$=assign] button").click()
    page.wait_for_url(base + "/visits")
    return str(page.locator(f"#visit-{order_id} a.mlink").get_attribute("href"))


def _fill(page: Any, at: str, readings: tuple[str, str], instrument: str) -> None:
    page.fill("#measured_at", at)
    page.dispatch_event("#measured_at", "change")
    page.fill("#reading_0", readings[0])
    page.fill("#reading_1", readings[1])
    page.select_option("#instrument", instrument)
    page.fill("#height", "1.2")
    closed = dt.datetime.fromisoformat(at) - dt.timedelta(minutes=45)
    page.fill("#closed_since", closed.strftime("%H:%M"))
    for check in ("centre", "not_hand_held", "radiators_uncovered", "no_sun"):
        page.check(f"#{check}")


@pytest.mark.slow
def test_measure_page_in_chromium(tmp_path: Path) -> None:
    if not Path(CHROMIUM).exists():
        pytest.skip("Debian's chromium is not installed")
    port = free_port()
    cfg = _setup(tmp_path, port)
    SHOTS.mkdir(parents=True, exist_ok=True)
    for old in SHOTS.glob("measure-*.png"):
        old.unlink()
    with running_desk(cfg, port) as base, playwright.sync_playwright() as pw:
        ctx = pw.chromium.launch_persistent_context(
            str(tmp_path / "profile"), executable_path=CHROMIUM, headless=True, args=FLAGS,
            viewport={"width": 1366, "height": 768}, locale="zh-CN")
        phone = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
        try:
            links = _at_the_desk(ctx.new_page(), base)
            pctx = phone.new_context(viewport={"width": 390, "height": 844}, is_mobile=True,
                                     has_touch=True, device_scale_factor=2, locale="zh-CN")
            _measure(pctx.new_page(), pctx, base + links[0], tmp_path)
            _outside_and_refused(pctx.new_page(), pctx, base + links[1], tmp_path)
        finally:
            phone.close()
            ctx.close()
            shutil.rmtree(tmp_path / "profile", ignore_errors=True)
    done = heatwatch("measurements", "verify", "--config", str(cfg))
    assert done.returncode == 0 and "chain intact, 2 records" in done.stdout, done
    _printed(tmp_path, cfg)


def _printed(tmp: Path, cfg: Path) -> None:
    """The records' PDFs (测温记录单) carry what the page kept: the drawings, the refusal."""
    for rid in ("M000001", "M000002"):
        pdf = tmp / f"{rid}.pdf"
        p = heatwatch("measurements", "show", rid, "--format", "pdf", "--out", str(pdf),
                      "--config", str(cfg))
        assert p.returncode == 0, p.stderr
        subprocess.run(["pdftoppm", "-png", "-r", "80", "-f", "1", "-l", "1", "-singlefile",
                        str(pdf), str(SHOTS / f"measure-08-pdf-{rid}")], check=True)
    text = subprocess.run(["pdftotext", "-layout", str(tmp / "M000002.pdf"), "-"],
                          capture_output=True, text=True, check=True).stdout
    assert "用户拒绝签字" in text and "住户认为温度计不准" in text, text


def _at_the_desk(page: Any, base: str) -> list[str]:
    page.goto(base + "/signin")
    page.fill("#name", "zhao")
    page.fill("#password", PASSWORD)
    page.keyboard.press("Enter")
    page.wait_for_url(base + "/")
    page.goto(base + "/visits")
    # the orders of a cold-room flag, of a supervisor, of the 测温 call taken before
    text = page.inner_text("#visits")
    assert "室温偏低告警" in text and "主管派发" in text and "测温来电" in text, text
    assert "待派单" in page.inner_text("#visit-TW000003")
    links = [_assign(page, base, "TW000001"), _assign(page, base, "TW000002")]
    assert all(link.startswith("/m/TW") for link in links), links
    _shot(page, "01-desk-orders")
    return links


def _yesterday(hhmm: str) -> str:
    day = dt.datetime.now(TZ).date() - dt.timedelta(days=1)
    return f"{day.isoformat()}T{hhmm}"


def _measure(page: Any, ctx: Any, link: str, tmp: Path) -> None:
    page.goto(link)
    assert "入户测温" in page.inner_text("header")
    assert "幸福路1号楼 1-101" in page.inner_text("#place")
    _shot(page, "02-phone-form", full=True)
    # an instrument whose certificate has expired is refused, with the reason
    _fill(page, _yesterday("08:30"), ("15.5", "15.84"), "T-OLD")
    page.fill("#reading_2", "16.2")
    page.select_option("#room_2", "other")
    _draw_mouse(page, "#pad-measurer canvas")
    _draw_finger(page, ctx.new_cdp_session(page), "#pad-resident canvas")
    page.click("#submit")
    flash = page.inner_text("#flash")
    assert "测温被拒绝" in flash and "JD-T-OLD" in flash and "2020-01-01 过期" in flash, flash
    _shot(page, "03-phone-expired-refused", "header")
    # the values stay; the instrument and the signatures are given again
    assert page.input_value("#reading_0") == "15.5"
    page.select_option("#instrument", "T-01")
    assert page.locator("#window-warn").is_hidden()
    _draw_mouse(page, "#pad-measurer canvas")
    _draw_finger(page, ctx.new_cdp_session(page), "#pad-resident canvas")
    assert "已签字" in page.inner_text("#pad-resident .sig-state")
    _shot(page, "04-phone-signed", "#pad-measurer")
    page.click("#submit")
    assert "测温记录已提交" in page.inner_text("#flash")
    _shot(page, "05-phone-done")
    db = _db(tmp)
    try:
        rec = db.measurements.find("A101")[0]
        assert rec.readings == [["bedroom", 15.5], ["living", 15.8], ["other", 16.2]]
        assert (rec.instrument_id, rec.measurer, rec.outside_window) == ("T-01", MEASURER,
                                                                         False)
        assert rec.problems == []
        signs = {s["role"]: s for s in rec.signatures}
        for role in ("measurer", "resident"):
            drawing = db.signatures.drawing(rec.record_id, role)
            assert drawing.startswith("data:image/png;base64,") and len(drawing) > 1000
            assert signs[role]["sha256"] == sha256_of(drawing) and not signs[role]["refused"]
        assert db.measurements.verify() == (1, None, "")
        order = db.visits.find(include_closed=True, measurer=MEASURER)[0]
        assert (order.state, order.record_id) == ("measured", rec.record_id)
        # the day's outdoor mean from the weather station; a cold record opens the repair path
        assert rec.outdoor_mean_c == -2.0
        assert [i.subject for i in db.incidents.find(kind="room_cold")] == ["household A101"]
    finally:
        db.close()
    assert rec.hash in page.inner_text("#hash")
    # the link now shows the record; it cannot submit again
    page.goto(link)
    assert rec.record_id in page.inner_text("#record-id")
    assert page.locator("#submit").count() == 0


def _outside_and_refused(page: Any, ctx: Any, link: str, tmp: Path) -> None:
    page.goto(link)
    _fill(page, _yesterday("21:30"), ("19.0", "19.4"), "T-01")
    assert page.locator("#window-warn").is_visible()  # said before submitting
    _draw_mouse(page, "#pad-measurer canvas")
    page.check("#resident_refused")
    page.fill("#refusal_note", "住户认为温度计不准，拒绝签字")
    _shot(page, "06-phone-outside-window-refused", "#pad-resident")
    _shot(page, "06b-phone-outside-window", "header")
    page.click("#submit")
    marks = page.inner_text("#marks")
    assert "不在规定时段" in marks, marks
    assert "拒绝签字" in page.inner_text("#sig-resident")
    _shot(page, "07-phone-done-marked", full=True)
    db = _db(tmp)
    try:
        rec = db.measurements.find("A102")[0]
        assert rec.outside_window
        signs = {s["role"]: s for s in rec.signatures}
        assert signs["resident"]["refused"] and signs["resident"]["sha256"] == ""
        assert signs["resident"]["note"] == "住户认为温度计不准，拒绝签字"
        assert db.signatures.drawing(rec.record_id, "resident") == ""
        assert db.measurements.verify() == (2, None, "")
    finally:
        db.close()
