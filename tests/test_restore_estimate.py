"""issue 21 item 2 / 5: an outage's expected restoration. The analyzer cannot know it, so
dispatch gives it (`heatwatch orders estimate`); the residents' notice and the desk's card
say it, and the order's audit log keeps who said it and when."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from desk.search import card
from district.records import load_records
from heatwatch.cli import main
from heatwatch.config import load_config
from policy.rules import Season
from tests.records_fixture import write_records
from tests.test_alerts_support import ms, raise_incident
from workflow.details import OutageDetails
from workflow.unit import WorkflowDb

HOUR_MS = 3_600_000


def test_dispatch_estimate_reaches_the_notice_and_the_card(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    records_dir = write_records(tmp_path / "rec")
    conf = tmp_path / "heatwatch.toml"
    conf.write_text(f'[site]\nrecords_dir = "{records_dir}"\ndata_dir = "{tmp_path / "var"}"\n',
                    encoding="utf-8")
    cfg = load_config(conf, env={})
    start = ms("2024-12-02 08:00")
    db = WorkflowDb(cfg.workflow_path())
    raise_incident(db, "outage", "S1", start, start, substation_id="S1",
                   details=OutageDetails(duration_h=0.0, ongoing=True))
    db.close()
    at = dt.datetime.fromtimestamp((start + HOUR_MS) / 1000, dt.UTC).isoformat()
    assert main(["alerts", "--once", "--at", at, "--config", str(conf)]) == 0
    db = WorkflowDb(cfg.workflow_path())
    (order,) = db.orders.find()
    db.close()
    capsys.readouterr()
    # a wrong estimate is one line: in the past
    assert main(["orders", "estimate", order.order_id, "--restore-at",
                 "2024-12-02T07:00:00+08:00", "--actor", "调度李", "--at", at,
                 "--config", str(conf)]) == 2
    assert "later than now" in capsys.readouterr().err
    assert main(["orders", "estimate", order.order_id, "--restore-at",
                 "2024-12-03T18:00:00+08:00", "--actor", "调度李", "--at", at,
                 "--config", str(conf)]) == 0
    assert "12-03 18:00" in capsys.readouterr().out
    # the notice at 24 h says the estimate, not the template's "as soon as possible"
    later = dt.datetime.fromtimestamp((start + 25 * HOUR_MS) / 1000, dt.UTC).isoformat()
    assert main(["alerts", "--once", "--at", later, "--config", str(conf)]) == 0
    db = WorkflowDb(cfg.workflow_path())
    notices = db.notices.find()
    assert notices and all("12-03 18:00" in n["text"] for n in notices)
    c = card(db, load_records(records_dir), "A1", Season(), dt.date(2024, 12, 2))
    assert c is not None and c.incident is not None
    assert c.incident["restore_ms"] == ms("2024-12-03 18:00")
    history = db.orders.history(order.order_id)
    assert [h["actor"] for h in history if h["action"] == "estimate"] == ["调度李"]
    db.close()
