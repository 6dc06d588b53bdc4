"""Measurement orders at a real `heatwatch desk` (issue 22): only a supervisor creates and
assigns them (CSRF, audited); the measurer's link is personal, signed and expiring: a forged,
expired, crew-scoped or superseded link opens nothing; a form submitted twice makes one record.
"""

from __future__ import annotations

import datetime as dt
import re
import time
from pathlib import Path
from zoneinfo import ZoneInfo

from alerts.links import KEY_FILE, LinkSigner
from desk.auth import add_staff
from tests.desk_fixture import PASSWORD, Client, free_port, running_desk, write_config
from workflow.details import RoomColdDetails
from workflow.incidents import Incident, IncidentStore
from workflow.measurements import StoredInstrument
from workflow.unit import WorkflowDb

PNG = ("data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAY"
       "AAjCB0C8AAAAASUVORK5CYII=")
ACCOUNT = "B01-0101"
COLD = "B01-0102"


def _db(tmp: Path) -> WorkflowDb:
    return WorkflowDb(tmp / "var" / "workflow.sqlite")


def _form(instrument: str = "T-01") -> dict[str, str]:
    at = dt.datetime.now(ZoneInfo("Asia/Shanghai")).strftime("%Y-%m-%dT%H:%M")
    return {"measured_at": at, "room_0": "bedroom", "reading_0": "17.2", "room_1": "living",
            "reading_1": "17.9", "instrument": instrument, "height": "1.2",
            "closed_since": "00:00", "centre": "1", "not_hand_held": "1",
            "radiators_uncovered": "1", "no_sun": "1", "sig_measurer": PNG,
            "sig_measurer_ms": str(int(time.time() * 1000)), "resident_refused": "1",
            "refusal_note": "住户不在家，家属拒签"}


def _links(c: Client) -> dict[str, str]:
    rows = re.findall(r'<tr id="visit-(TW\d+)">(.*?)</tr>', c.get("/visits").text, re.S)
    links = {oid: re.search(r'href="(/m/[^"]+)"', row) for oid, row in rows}
    return {oid: m.group(1) for oid, m in links.items() if m}


def test_orders_and_links_at_the_desk(tmp_path: Path) -> None:
    port = free_port()
    cfg = write_config(tmp_path, port)
    db = _db(tmp_path)
    now_ms = int(time.time() * 1000)
    for name in ("sun", "zhou"):
        add_staff(db, name, "measurer", PASSWORD, now_ms)
    with db.unit() as u:
        u.measurements.add_instrument(StoredInstrument("T-01", 0.2, "JD-1", "2099-12-31", 0))
    flag = IncidentStore(tmp_path / "var" / "workflow.sqlite")
    key = f"room_cold:r9:{now_ms}"
    flag.reconcile([Incident(key, "room_cold", "r9", now_ms - 3_600_000, account_id=COLD,
                             details=RoomColdDetails())], now_ms, ["room_cold"])
    flag.close()
    db.close()
    with running_desk(cfg, port) as base:
        li, zhao, sun = Client(base), Client(base), Client(base)
        for c, name in ((li, "li"), (zhao, "zhao"), (sun, "sun")):
            assert c.sign_in(name).url.endswith("/")
        # a clerk may not open one; a supervisor's form without its token is refused
        p = li.post("/visits", {"csrf": li.get("/visits").csrf(), "account_id": ACCOUNT})
        assert p.status == 403 and "仅主管" in p.text
        assert zhao.post("/visits", {"csrf": "", "account_id": ACCOUNT}).status == 403
        csrf = zhao.get("/visits").csrf()
        assert zhao.post("/visits", {"csrf": csrf, "account_id": "NOPE"}).status == 400
        ok = zhao.post("/visits", {"csrf": csrf, "account_id": ACCOUNT, "measurer": "sun"})
        assert ok.status == 200 and "TW000001" in ok.text
        _cold_flag(zhao, csrf, key)
        _call(li)
        link = _links(zhao)["TW000001"]
        # the measurer sees the own link at the desk; a link opens the page without a session
        assert _links(sun) == {"TW000001": link}
        page = Client(base).get(link)
        assert page.status == 200 and "入户测温" in page.text
        _refused_links(base, tmp_path, link)
        # reassigned: the first measurer's link opens nothing, the new one's does
        p = zhao.post("/visits/TW000001/assign", {"csrf": csrf, "measurer": "zhou"})
        assert p.status == 200
        assert Client(base).get(link).status == 404
        link = _links(zhao)["TW000001"]
        # a time before the order was opened is not this order's measurement
        early = _form() | {"measured_at": "2026-01-05T08:30"}
        p = Client(base).post(link, early)
        assert p.status == 400 and "早于测温工单的派发时间" in p.text
        # the same form twice: one record, the second refused
        first = Client(base).post(link, _form())
        flash = re.findall(r'id="flash"[^>]*>([^<]*)', first.text)
        assert first.status == 200 and "测温记录已提交" in first.text, flash
        again = Client(base).post(link, _form())
        assert again.status == 400 and "不能再次提交" in again.text
    db = _db(tmp_path)
    try:
        recs = db.measurements.find(ACCOUNT)
        assert len(recs) == 1 and recs[0].measurer == "zhou"
        assert recs[0].conditions["order_id"] == "TW000001"
        actions = [(a["name"], a["action"], a["allowed"]) for a in db.staff.audit_log()]
        assert ("li", "open_visit", False) in actions
        assert ("zhao", "assign_visit", True) in actions
        assert ("zhou", "measure", True) in actions and ("zhou", "measure", False) in actions
    finally:
        db.close()


def _cold_flag(zhao: Client, csrf: str, key: str) -> None:
    """A cold-room flag without an order is listed; the supervisor's button opens one."""
    assert COLD in zhao.get("/visits").text.split('id="flags"')[1].split("</table>")[0]
    p = zhao.post("/visits", {"csrf": csrf, "account_id": COLD, "incident": key,
                              "measurer": ""})
    assert p.status == 200 and 'id="flags"' not in p.text
    row = p.text.split('id="visit-TW000002"')[1].split("</tr>")[0]
    assert "室温偏低告警" in row and "待派单" in row and COLD in row


def _call(li: Client) -> None:
    """A 测温 call opens its own order, shown on the call's page."""
    page = li.get(f"/household/{ACCOUNT}")
    p = li.post("/calls", {"csrf": page.csrf(), "account_id": ACCOUNT, "kind": "temperature",
                           "received": "2026-12-07T10:00", "text": "卧室冷"})
    assert p.status == 200 and "/calls/CL" in p.url
    assert re.search(r'id="visit"><a href="/visits">TW000003</a>（待派单）', p.text), p.text


def _refused_links(base: str, tmp: Path, link: str) -> None:
    """Forged, garbled, expired and crew-scoped tokens: all the same 404."""
    _, _, oid, token = link.split("/")
    signer = LinkSigner((tmp / "var" / KEY_FILE).read_bytes(), 3600)
    forged = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    expired = signer.token(f"measure:{oid}", "sun", time.time() - 7200)
    crew = signer.token(oid, "sun", time.time())  # the crews' scope: another order id
    for bad in (forged, "x.y", expired, crew):
        got = Client(base).get(f"/m/{oid}/{bad}")
        assert got.status == 404 and "链接无效" in got.text, bad
    assert Client(base).get(f"/m/TW000009/{token}").status == 404
