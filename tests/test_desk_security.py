"""The desk refuses, and logs with the person's name: a wrong password, a form without its CSRF
token, an expired session, a clerk opening a report's reporter, a clerk acting on another
clerk's call. Sign-ins that keep failing slow down; calls and sessions survive a restart."""

from __future__ import annotations

import re
import time
from pathlib import Path

from tests.desk_fixture import Client, free_port, running_desk, write_config
from workflow.unit import WorkflowDb


def _audit(tmp: Path) -> list[dict[str, object]]:
    db = WorkflowDb(tmp / "var" / "workflow.sqlite")
    try:
        return db.staff.audit_log()
    finally:
        db.close()


def _refused(tmp: Path, name: str, action: str) -> list[dict[str, object]]:
    return [a for a in _audit(tmp) if not a["allowed"] and a["name"] == name
            and a["action"] == action]


def _take(c: Client, account: str, kind: str, reporter: str = "") -> str:
    page = c.get(f"/household/{account}")
    done = c.post("/calls", {"csrf": page.csrf(), "account_id": account, "kind": kind,
                             "received": "2026-12-07T10:00", "text": "t", "reporter": reporter})
    assert done.status == 200 and "/calls/CL" in done.url, done.text[:300]
    return done.url.rsplit("/", 1)[1]


def test_refusals_are_refused_and_audited(tmp_path: Path) -> None:
    port = free_port()
    cfg = write_config(tmp_path, port, delay_s=0.6)
    with running_desk(cfg, port) as base:
        # a wrong password: refused, audited, and the next attempts wait longer
        bad = Client(base)
        assert bad.sign_in("li", "wrong-password").status == 401
        assert _refused(tmp_path, "li", "sign_in")
        t0 = time.monotonic()
        assert bad.sign_in("li", "wrong-again").status == 401
        assert time.monotonic() - t0 >= 0.6  # the second failure waited
        t0 = time.monotonic()
        assert bad.sign_in("li", "wrong-thrice").status == 401
        assert time.monotonic() - t0 >= 1.2  # and the third twice as long

        li, wang, zhao = Client(base), Client(base), Client(base)
        assert li.sign_in("li").url.endswith("/")
        assert wang.sign_in("wang").url.endswith("/")
        assert zhao.sign_in("zhao").url.endswith("/")
        # a form posted without its CSRF token (and one with another session's)
        for token in ("", wang.get("/").csrf()):
            p = li.post("/calls", {"csrf": token, "account_id": "B01-0101",
                                   "kind": "complaint", "received": "2026-12-07T10:00"})
            assert p.status == 403
        assert len(_refused(tmp_path, "li", "post")) == 2
        # sign-in without its pre-session token
        assert Client(base).post("/signin", {"name": "li", "password": "x"}).status == 403

        # a clerk opening a report's reporter; the supervisor may
        rid = _take(li, "B01-0102", "report", reporter="张三 13900000000")
        call = li.get(f"/calls/{rid}")
        assert "张三" not in call.text and "仅主管可见" in call.text
        assert li.get(f"/calls/{rid}/reporter").status == 403
        assert _refused(tmp_path, "li", "view_reporter")
        assert "张三" in zhao.get(f"/calls/{rid}/reporter").text

        # a clerk acting on another clerk's call without a reassignment
        cid = _take(li, "B01-0103", "complaint")
        page = wang.get(f"/calls/{cid}")
        p = wang.post(f"/calls/{cid}/act", {"csrf": page.csrf(), "action": "resolve",
                                            "result": "x", "reply": "y"})
        assert p.status == 403 and "li" in p.text
        assert _refused(tmp_path, "wang", "resolve")
        # after a recorded reassignment by the supervisor it is wang's to close
        zp = zhao.get(f"/calls/{cid}")
        zhao.post(f"/calls/{cid}/act", {"csrf": zp.csrf(), "action": "reassign", "to": "wang"})
        p = wang.post(f"/calls/{cid}/act", {"csrf": page.csrf(), "action": "resolve",
                                            "result": "已整改", "reply": "已答复"})
        assert p.status == 200 and "已办结" in p.text
        # the call's record says its verbs in Chinese (the stored verb only in a tooltip)
        verbs = re.findall(r'<td class="verb" title="(\w+)">([^<]+)</td>', p.text)
        assert verbs == [("take", "受理"), ("reassign", "转交"), ("resolve", "办结")]

        # every view of a full phone number is audited with the name
        hp = li.get("/household/B01-0101")
        assert "13800009950" not in hp.text and "138****9950" in hp.text
        full = li.post("/household/B01-0101/phone", {"csrf": hp.csrf()})
        assert "13800009950" in full.text
        assert [a for a in _audit(tmp_path) if a["name"] == "li" and a["action"] ==
                "view_phone" and a["subject"] == "B01-0101"]
        # the audit page is the supervisor's
        assert li.get("/audit").status == 403
        audit = zhao.get("/audit").text
        assert 'title="view_phone">查看完整电话<' in audit and ">sign_in<" not in audit

    # the desk restarts: the calls and the sessions are still there
    with running_desk(cfg, port):
        mine = li.get("/")
        assert cid not in mine.text and rid in mine.text


def test_an_expired_session_is_refused_and_audited(tmp_path: Path) -> None:
    port = free_port()
    cfg = write_config(tmp_path, port, ttl_min=0.02)  # 1.2 s
    with running_desk(cfg, port) as base:
        li = Client(base)
        home = li.sign_in("li")
        assert home.url.endswith("/")
        time.sleep(1.6)
        p = li.post("/calls", {"csrf": home.csrf(), "account_id": "B01-0101",
                               "kind": "complaint", "received": "2026-12-07T10:00"})
        assert "/signin" in p.url and "会话已过期" in p.text
        assert _refused(tmp_path, "li", "session")
        assert re.search(r"CL\d+", li.get("/").text) is None  # back at sign-in, nothing taken
        db = WorkflowDb(tmp_path / "var" / "workflow.sqlite")
        assert db.calls.find(include_closed=True) == []
        db.close()
