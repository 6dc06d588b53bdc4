"""Staff text is safe wherever it goes (issue 26, item 4): hostile notes are refused or
neutralised, chat markdown cannot be forged from one, and the terminal shows escapes."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from alerts.channels import dingtalk_payload, wecom_payload
from alerts.lifecycle import OrderError
from alerts.service import AlertsService
from alerts.staff_text import NoteRefused, clean_note, escape_markdown, printable
from tests.test_alerts_support import (
    ManualClock,
    alerts_table,
    make_service,
    ms,
    raise_incident,
    reconcile,
    workflow_url,
)

# the contract suite: each test's alerts service on SQLite and on PostgreSQL
pytestmark = pytest.mark.usefixtures("on_both_backends")

FORGED = "\nwang（本人专用）：http://evil.example/o/x"


@pytest.mark.parametrize("note", ["fixed\r\nwang（本人专用）：http://evil", "\x1b[2Jcleared",
                                  "nul\x00here", "bell\x07", "del\x7f"])
def test_control_characters_are_refused_with_a_clear_message(note: str) -> None:
    with pytest.raises(NoteRefused, match="control characters .*U\\+00"):
        clean_note(note, 1000)


def test_bidi_overrides_are_removed_newlines_and_tabs_kept() -> None:
    assert clean_note("pipe\u202eeno\u202c fixed\n\tok\u2066x\u2069", 1000) == \
        "pipeeno fixed\n\tokx"


def test_a_note_is_capped() -> None:
    assert clean_note("x" * 20, 20) == "x" * 20
    with pytest.raises(NoteRefused, match="21 characters; at most 20"):
        clean_note("x" * 21, 20)


def test_markdown_is_escaped_but_links_still_open() -> None:
    link = "http://h:1/o/WO1/abc_-def.gh_i"
    got = escape_markdown(f"[本人专用]({link}) **x** {link}")
    assert got == f"\\[本人专用\\]\\({link}) \\*\\*x\\*\\* {link}"


def test_terminal_output_escapes_control_characters() -> None:
    assert printable("a\x1b[2Jb\x00c\u202ed\n\t") == "a\\x1b[2Jb\\x00c\\u202ed\n\t"


def _resolved(tmp_path: Path, note: str) -> tuple[AlertsService, str]:
    clock = ManualClock(ms("2024-12-02 09:00"))
    svc = make_service(tmp_path, alerts_table(), clock)
    inc = raise_incident(svc.db, "room_cold", "R1", clock.now_ms, clock.now_ms,
                         substation_id="S1", building_id="B1", account_id="A1")
    svc.ingest(clock.now_ms)
    (order,) = svc.db.orders.find()
    for action in ("accept", "contact", "arrive"):
        svc.act(order.order_id, action, "wang")
    # the data shows the room warm again: the resolution is the fix (no 待确认)
    inc.closed_ms = clock.now_ms
    reconcile(svc.db, inc, clock.now_ms)
    svc.act(order.order_id, "resolve", "wang", note)
    return svc, order.order_id


def test_a_hostile_note_is_refused_by_the_action_and_nothing_is_stored(tmp_path: Path) -> None:
    with pytest.raises(OrderError, match="control characters"):
        _resolved(tmp_path, "ok\r" + FORGED)


def test_the_crew_message_as_wecom_markdown_shows_no_injected_line(tmp_path: Path) -> None:
    svc, order_id = _resolved(tmp_path, "换了阀门" + FORGED + "\n[点我](http://evil)")
    (row,) = [r for r in svc.db.outbox.due("crew-hook", 10 ** 15, 100)
              if ":return_visit:" in r.dedup_key]
    for content in (wecom_payload(row)["markdown"]["content"],
                    dingtalk_payload(row)["markdown"]["text"]):
        own = re.findall(r"^(\w+)（本人专用）：", content, re.M)
        assert sorted(own) == ["li", "wang"]  # the real links only, one line each
        assert "evil" in content and "[点我](" not in content  # no live link from a note
    assert json.dumps(row.data).count("evil") == 0


def test_orders_show_escapes_control_characters(tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    from heatwatch.commands.alerts import orders_command
    from heatwatch.config import Config

    clock = ManualClock(ms("2024-12-02 09:00"))
    svc = make_service(tmp_path, alerts_table(), clock)
    raise_incident(svc.db, "leak", "S1", clock.now_ms, clock.now_ms, substation_id="S1")
    svc.ingest(clock.now_ms)
    (order,) = svc.db.orders.find()
    with svc.db.unit() as u:  # a note stored before notes were checked
        u.orders.audit(order.order_id, clock.now_ms, "wang", "contact", order.state,
                       order.state, "\x1b[2J\x1b]0;owned\x07")
    cfg = Config()
    cfg.site.data_dir = str(tmp_path)
    cfg.site.workflow_url = workflow_url()
    cfg.site.records_dir = str(tmp_path / "records")
    assert orders_command(cfg, "show", order.order_id, "", "", False, False) == 0
    out = capsys.readouterr().out
    assert "\x1b" not in out and "\x07" not in out and "\\x1b[2J" in out
