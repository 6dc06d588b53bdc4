"""The desk in headless Chromium (Debian's /usr/bin/chromium driven by Playwright; no browser
download): sign in, find a household by the last 4 digits of its phone, and take the calls of
issue 21's demonstration, keyboard first. Each screen is saved as desk-*.png to
$HEATWATCH_SHOTS (default: heatwatch-shots in the system's temporary folder)."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

from tests.desk_fixture import PASSWORD, free_port, running_desk, write_config
from tests.records_fixture import write_records
from tests.test_cli import heatwatch
from workflow.details import LeakDetails
from workflow.incidents import Incident, IncidentStore
from workflow.unit import WorkflowDb

playwright = pytest.importorskip("playwright.sync_api")
CHROMIUM = "/usr/bin/chromium"
SHOTS = Path(os.environ.get("HEATWATCH_SHOTS") or Path(tempfile.gettempdir()) / "heatwatch-shots")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]

SUBSTATIONS = "substation_id,name,design_outdoor_c\nS1,东区一号站,-7\nS2,西区二号站,-7\n"
BUILDINGS = ("building_id,substation_id,address\nB1,S1,幸福路1号楼\nB2,S2,和平街8号楼\n"
             "B3,S1,建设路3号楼\n")
ACCOUNTS = ("account_id,building_id,unit,area_m2,tariff,phone\n"
            "A101,B1,1-101,90,area,13800001234\nA102,B1,1-102,75,metered,13800002222\n"
            "A201,B2,2-201,80,area,13900005678\n"
            "A301,B3,3-101,70,area,13700003001\nA302,B3,3-102,70,area,13700003002\n"
            "A303,B3,3-103,70,area,13700003003\nA104,B1,1-201,88,area,13800004444\n")
DEVICES = ("device_id,kind,account_id,building_id,substation_id,room_type,protocol,host,port,"
           "unit,profile\nr1,room,A101,,,bedroom,mqtt,,,,\ns1,substation,,,S1,,mqtt,,,,\n"
           "s2,substation,,,S2,,mqtt,,,,\nw1,weather,,,,,mqtt,,,,\n")
LEAK_START = 1796600000000  # 2026-12-07 07:33 +08:00


def _leak_with_its_order(tmp: Path, cfg: Path) -> str:
    wf = tmp / "var" / "workflow.sqlite"
    store = IncidentStore(wf)
    key = f"leak:S2::{LEAK_START}"
    store.reconcile([Incident(key, "leak", "S2", LEAK_START, substation_id="S2",
                              details=LeakDetails())], LEAK_START + 600_000, ["leak"],
                    scope={"leak": ["S2"]})
    store.close()
    done = heatwatch("alerts", "--once", "--at", "2026-12-07T08:00:00+08:00", "--config", str(cfg))
    assert done.returncode == 0, done.stderr
    return key


def _orders(tmp: Path) -> list[str]:
    db = WorkflowDb(tmp / "var" / "workflow.sqlite")
    try:
        return [f"{o.order_id}:{o.kind}:{o.incident_key}" for o in db.orders.find()]
    finally:
        db.close()


@pytest.mark.slow
def test_desk_in_chromium(tmp_path: Path) -> None:
    if not Path(CHROMIUM).exists():
        pytest.skip("Debian's chromium is not installed")
    port = free_port()
    rec = write_records(tmp_path / "rec", substations=SUBSTATIONS, buildings=BUILDINGS,
                        accounts=ACCOUNTS, devices=DEVICES)
    cfg = write_config(tmp_path, port, records=rec)
    leak_key = _leak_with_its_order(tmp_path, cfg)
    assert len(_orders(tmp_path)) == 1
    SHOTS.mkdir(parents=True, exist_ok=True)
    for old in SHOTS.glob("desk-*.png"):
        old.unlink()
    with running_desk(cfg, port) as base, playwright.sync_playwright() as pw:
        ctx = pw.chromium.launch_persistent_context(
            str(tmp_path / "profile"), executable_path=CHROMIUM, headless=True, args=FLAGS,
            viewport={"width": 1366, "height": 768}, locale="zh-CN")
        try:
            _walk(ctx.new_page(), base, tmp_path, leak_key)
        finally:
            ctx.close()
            shutil.rmtree(tmp_path / "profile", ignore_errors=True)


def _shot(page: object, name: str) -> None:
    page.screenshot(path=str(SHOTS / f"desk-{name}.png"))  # type: ignore[attr-defined]


def _focused(page, element_id: str) -> None:
    """Wait until the page's autofocus has put the cursor in this field."""
    page.wait_for_function(f"document.activeElement && document.activeElement.id === "
                           f"'{element_id}'")


def _take(page, account: str, kind: str, received: str, text: str = "") -> None:
    page.goto(page.url.split("/", 3)[0] + "//" + page.url.split("/", 3)[2] + f"/?q={account}")
    _focused(page, "kind")
    page.select_option("#kind", kind)
    page.fill("#received", received)
    page.focus("#text")
    page.keyboard.type(text)
    page.keyboard.press("Tab")  # text -> reporter -> the 受理 button, then Enter
    page.keyboard.press("Tab")
    page.keyboard.press("Enter")
    page.wait_for_url("**/calls/CL*")


def _walk(page, base: str, tmp: Path, leak_key: str) -> None:
    page.goto(base + "/")
    assert "/signin" in page.url
    _focused(page, "name")
    page.keyboard.type("li")  # the name field has the focus
    page.keyboard.press("Tab")
    page.keyboard.type(PASSWORD)
    _shot(page, "01-signin")
    page.keyboard.press("Enter")
    page.wait_for_url(base + "/")
    # find the household by the last 4 digits of its phone, from the focused search box
    _focused(page, "q")
    page.keyboard.type("1234")
    page.keyboard.press("Enter")
    page.wait_for_url("**/household/A101")
    assert "幸福路1号楼 1-101" in page.inner_text("#card")
    assert "138****1234" in page.inner_text("#phone")
    _shot(page, "02-card-by-last4")

    # a leak call during the open leak at S2: attached, no new order
    _take(page, "A201", "leak", "2026-12-07T09:00", "楼道暖气管漏水")
    assert "已关联故障" in page.inner_text("#attached")
    assert "管网泄漏" in page.inner_text("#attached")
    assert len(_orders(tmp)) == 1
    _shot(page, "03-leak-attached")

    # three cold calls in a building without sensors: one suspected-fault order
    for i, acc in enumerate(("A301", "A302", "A303")):
        _take(page, acc, "temperature", f"2026-12-07T10:{i * 5:02d}", "家里不热")
    assert "来电聚集" in page.inner_text("#attached")
    cluster = [o for o in _orders(tmp) if ":call_cluster:B3:" in o]
    assert len(cluster) == 1 and len(_orders(tmp)) == 2
    _shot(page, "04-cluster-order")

    # a suspension 20 days before the season: refused, the reason shown
    _take(page, "A102", "suspend", "2026-10-26T09:00", "申请暂停供暖")
    refused = page.inner_text("#refused")
    assert "不予受理" in refused and "30天" in refused and "20天" in refused
    _shot(page, "05-suspension-refused")
    # and one 31 days before: accepted, with a sealing order
    _take(page, "A104", "suspend", "2026-10-15T09:00", "申请暂停供暖")
    assert "已受理" in page.inner_text("#accepted")
    assert "seal" in page.inner_text("#order")
    assert len([o for o in _orders(tmp) if ":seal:" in o]) == 1
    _shot(page, "06-suspension-accepted")

    # a complaint received on Friday 13 Feb 2026: due 27 Feb (Spring Festival, 调休)
    _take(page, "A101", "complaint", "2026-02-13T10:00", "维修人员态度差")
    assert page.inner_text("#due").startswith("2026年02月27日")
    _shot(page, "07-complaint-due")
