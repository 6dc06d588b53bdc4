"""The morning report (日报): on the sample district with every behaviour once, analysed every
2 h and the orders worked by two crews (some on time, some late), each figure of the report
equals what `heatwatch incidents` / `orders` / `kpi` give for the same day; Chromium renders
it to a PNG and a PDF whose text holds the figures; the alerts service mails it through a real
SMTP receiver once per day, across passes and a restart."""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import json
import socket
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from alerts.lifecycle import REPAIR_KINDS, OrderError
from alerts.service import AlertsService
from analyzer.runner import Runner, Watermarks
from district.records import load_records
from documents import browser
from heatwatch.bootstrap import alerts_service
from heatwatch.cli import main
from heatwatch.config import Config, load_config
from heatwatch.morning_report import dedup_key
from simulators.scenario import load_scenario
from storage.sqlite import SqliteStore
from tests.test_analyzer_scenarios import HERE, SCENARIO_ANALYZER, TZ, district_readings
from workflow.incidents import IncidentStore

SCENARIO = HERE / "scenarios/analyzer/sample_every_behaviour_once/scenario.toml"
DAY = dt.date(2024, 12, 2)
HOUR_MS = 3_600_000
MIN_MS = 60_000
needs_chromium = pytest.mark.skipif(browser.find_browser() is None, reason="no Chromium")


# -- a real SMTP receiver on loopback (stdlib sockets; enough of RFC 5321 for smtplib) ---------

@dataclass
class SmtpSink:
    port: int = 0
    messages: list[email.message.EmailMessage] = field(default_factory=list)
    _sock: socket.socket | None = None

    def start(self) -> None:
        self._sock = socket.socket()
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen()
        self.port = self._sock.getsockname()[1]
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        assert self._sock is not None
        while True:
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            threading.Thread(target=self._session, args=(conn,), daemon=True).start()

    def _session(self, conn: socket.socket) -> None:
        f = conn.makefile("rb")

        def say(line: str) -> None:
            conn.sendall(line.encode() + b"\r\n")

        say("220 sink ESMTP")
        with conn:
            while line := f.readline():
                cmd = line.decode("utf-8", "replace").strip().upper()
                if cmd.startswith("EHLO"):
                    say("250-sink")
                    say("250 8BITMIME")
                elif cmd.startswith(("HELO", "MAIL", "RCPT", "RSET", "NOOP")):
                    say("250 OK")
                elif cmd == "DATA":
                    say("354 go on")
                    data = b""
                    while (chunk := f.readline()) not in (b".\r\n", b""):
                        data += chunk[1:] if chunk.startswith(b"..") else chunk
                    self.messages.append(email.message_from_bytes(
                        data, policy=email.policy.default))
                    say("250 queued")
                elif cmd == "QUIT":
                    say("221 bye")
                    return
                else:
                    say("502 not here")

    def stop(self) -> None:
        if self._sock is not None:
            self._sock.close()


@pytest.fixture(scope="module")
def smtp() -> Iterator[SmtpSink]:
    sink = SmtpSink()
    sink.start()
    yield sink
    sink.stop()


# -- the scenario -----------------------------------------------------------------------------

def _config(tmp: Path, smtp_port: int) -> Path:
    path = tmp / "heatwatch.toml"
    path.write_text(f"""
[site]
data_dir = "{tmp}"

[alerts.http]
enabled = false

[alerts.report]
hour = 7
channels = ["managers"]

[[alerts.channel]]
name = "managers"
kind = "apprise"
url = "mailto://127.0.0.1:{smtp_port}?mode=insecure&from=report@heatwatch.test&to=boss@heatwatch.test"

[[alerts.crew]]
id = "east"
substations = ["S1"]

[[alerts.crew]]
id = "west"
substations = ["S2"]
""", encoding="utf-8")
    return path


def _work(svc: AlertsService, plans: list[tuple[int, str, str, str]], now_ms: int) -> None:
    """Carry out the crews' actions due by now, in time order."""
    due = sorted(p for p in plans if p[0] <= now_ms)
    for p in due:
        plans.remove(p)
        at, oid, action, actor = p
        try:
            svc.act(oid, action, actor, note="修复完成" if action == "resolve" else "",
                    at_ms=at)
        except OrderError:
            if action not in ("visit", "close"):
                raise
            # issue 20: a resolution waits for the data; customer service calls back later
            plans.append((now_ms + 10 * MIN_MS, oid, action, actor))


def _plan(order_id: str, kind: str, crew: str, opened_ms: int, n: int
          ) -> list[tuple[int, str, str, str]]:
    """Most orders are worked in time (accept, contact, arrive, resolve, a return visit and
    the close); every fourth is 3 h late on site; every fifth is left untouched."""
    if n % 5 == 3:
        return []
    on_site = opened_ms + (180 if n % 4 == 1 else 20) * MIN_MS
    steps = [(opened_ms + 5 * MIN_MS, "accept", crew)]
    if kind in REPAIR_KINDS:
        steps.append((opened_ms + 10 * MIN_MS, "contact", crew))
    steps += [(on_site, "arrive", crew), (on_site + 60 * MIN_MS, "resolve", crew),
              (on_site + 90 * MIN_MS, "visit", "customer_service"),
              (on_site + 100 * MIN_MS, "close", "dispatch")]
    return [(t, order_id, a, actor) for t, a, actor in steps]


@pytest.fixture(scope="module")
def district(tmp_path_factory: pytest.TempPathFactory, smtp: SmtpSink) -> Config:
    tmp = tmp_path_factory.mktemp("report")
    cfg_path = _config(tmp, smtp.port)
    cfg = load_config(cfg_path, env={})
    sc = load_scenario(SCENARIO)
    rec = load_records(sc.records_dir)
    store = SqliteStore(tmp / "readings.sqlite")
    store.write(district_readings(sc, rec))
    wf = IncidentStore(cfg.workflow_path())
    runner = Runner(store, rec, wf, SCENARIO_ANALYZER, TZ, Watermarks(cfg.workflow_path()))
    svc = alerts_service(cfg)
    start_ms, end_ms = int(sc.start_s * 1000), int(sc.end_s * 1000)
    plans: list[tuple[int, str, str, str]] = []
    seen: set[str] = set()
    for t in range(start_ms + 2 * HOUR_MS, end_ms + 1, 10 * MIN_MS):
        if (t - start_ms) % (2 * HOUR_MS) == 0:
            runner.run_cycle(t)
        _work(svc, plans, t)
        svc.step(t, wait=True)
        for o in svc.db.orders.find(include_closed=True):
            if o.order_id not in seen:
                seen.add(o.order_id)
                plans += _plan(o.order_id, o.kind, o.crew, o.opened_ms, len(seen))
    svc.close()
    svc.db.close()
    wf.close()
    store.close()
    return cfg


def _json(capsys: pytest.CaptureFixture[str], *argv: str) -> Any:
    assert main(list(argv)) == 0
    return json.loads(capsys.readouterr().out)


def _ms(iso: str) -> int:
    return int(dt.datetime.fromisoformat(iso).timestamp() * 1000)


def test_the_report_figures_equal_the_commands(district: Config,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    conf = str(district.source)
    start = _ms(f"{DAY}T00:00:00+08:00")
    end = _ms(f"{DAY + dt.timedelta(days=1)}T00:00:00+08:00")
    rep = _json(capsys, "report", "--day", DAY.isoformat(), "--json", "--config", conf)
    incidents = _json(capsys, "incidents", "--all", "--json", "--config", conf)
    orders = _json(capsys, "orders", "--all", "--json", "--config", conf)
    kpi = _json(capsys, "kpi", "--by", "crew", "--period", "day", "--json", "--at",
                f"{DAY + dt.timedelta(days=1)}T00:00:00+08:00", "--config", conf)
    kpi_all = _json(capsys, "kpi", "--period", "day", "--json", "--at",
                    f"{DAY + dt.timedelta(days=1)}T00:00:00+08:00", "--config", conf)

    def during(i: dict[str, Any]) -> bool:
        return _ms(i["started"]) < end and (i["closed"] is None or _ms(i["closed"]) >= start)

    day_inc = [i for i in incidents if during(i)]
    outages = {i["key"]: i for i in day_inc if i["kind"] in ("outage", "building_outage")}
    assert outages, "the scenario's pump trip is on this day"
    assert {o["key"]: (o["hours"], o["running"]) for o in rep["outages"]} == {
        k: (i["duration_h"], i["status"] == "open") for k, i in outages.items()}
    for o in rep["outages"]:
        assert o["marks_h"] == [m for m in (8.0, 12.0, 24.0) if o["hours"] >= m]
        assert o["orders"] == sorted(x["order_id"] for x in orders
                                     if x["incident_key"] == o["key"])
    leaks = {i["key"]: i["duration_h"] for i in day_inc if i["kind"] == "leak"}
    assert leaks and {x["key"]: x["hours"] for x in rep["leaks"]} == leaks
    classes: dict[str, int] = {}
    for i in day_inc:
        if i["kind"] == "meter_fault":
            classes[i["details"]["class"]] = classes.get(i["details"]["class"], 0) + 1
    assert rep["meter_faults"] == classes and set(classes) == {"human", "non_human"}
    assert rep["meter_comm"] == sum(1 for i in day_inc if i["kind"] == "meter_comm")
    stations: dict[str, int] = {}
    for i in day_inc:
        if i["kind"] == "station_comm":
            stations[i["details"]["source"]] = stations.get(i["details"]["source"], 0) + 1
    assert rep["station_comm"] == stations
    assert rep["rooms_silent"] == sum(1 for i in day_inc if i["kind"] == "sensor_fault"
                                      and i["subject"].startswith("building "))

    by_crew = {c["crew"]: c for c in rep["crews"]}
    for crew in ("east", "west"):
        mine = [o for o in orders if o["crew"] == crew]
        opened = sum(1 for o in mine if start <= o["opened_ms"] < end)
        closed = sum(1 for o in mine if o["closed_ms"] is not None
                     and start <= o["closed_ms"] < end)
        (k,) = [r for r in kpi if r["group"] == f"{crew} {DAY}"]
        assert (by_crew[crew]["opened"], by_crew[crew]["closed"], by_crew[crew]["late"]) == (
            opened, closed, k["late"])
        (mk,) = [r for r in rep["kpi_by_crew"] if r["group"] == crew]
        assert (mk["orders"], mk["late"], mk["rate_pct"]) == (k["orders"], k["late"],
                                                               k["rate_pct"])
    (ka,) = [r for r in kpi_all if r["group"] == f"all {DAY}"]
    assert rep["kpi"] == {"group": "all", "orders": ka["orders"], "late": ka["late"],
                          "rate_pct": ka["rate_pct"], "meets_target": ka["meets_target"]}
    # the crews were not perfect: some late, so the KPI misses 99 %
    assert 0 < ka["late"] < ka["orders"] and not ka["meets_target"]
    # compliance: S1 measured and above 97 %; S2 was out, its rooms not counted
    comp = {c["substation_id"]: c for c in rep["compliance"]}
    assert comp["S1"]["measured"] > 0 and comp["S1"]["rate"] == pytest.approx(
        comp["S1"]["passing"] / comp["S1"]["measured"])
    assert comp["S2"]["excluded"] > 0 and not comp["S2"]["cold_day_excluded"]


def _pdf_text(path: Path) -> str:
    return subprocess.run(["pdftotext", "-layout", str(path), "-"], capture_output=True,
                          check=True, text=True).stdout


@needs_chromium
def test_pdf_holds_the_figures_and_the_page_renders(district: Config, tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    conf = str(district.source)
    rep = _json(capsys, "report", "--day", DAY.isoformat(), "--json", "--config", conf)
    pdf = tmp_path / "report.pdf"
    assert main(["report", "--day", DAY.isoformat(), "--format", "pdf", "--out", str(pdf),
                 "--config", conf]) == 0
    assert capsys.readouterr().out.strip() == str(pdf)
    text = _pdf_text(pdf)
    pages = text.count("\f")
    assert 1 <= pages <= 2, pages
    assert "供热运行日报" in text and DAY.isoformat() in text
    for o in rep["outages"] + rep["leaks"]:
        assert f"{o['hours']:.1f}" in text and o["orders"][0] in text
    k = rep["kpi"]
    assert f"{k['rate_pct']:.1f} % — {k['orders'] - k['late']} / {k['orders']} 单按时" in text
    for c in rep["crews"]:
        line = next(x for x in text.splitlines() if x.strip().startswith(c["crew"]))
        assert line.split()[1:4] == [str(c["opened"]), str(c["closed"]), str(c["late"])]
    s1 = next(c for c in rep["compliance"] if c["substation_id"] == "S1")
    assert f"{s1['rate'] * 100:.1f} %" in text
    html = tmp_path / "report.html"
    assert main(["report", "--day", DAY.isoformat(), "--out", str(html), "--config",
                 conf]) == 0
    png = tmp_path / "report.png"
    browser.screenshot(html.read_text(encoding="utf-8"), png)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 20_000


def test_user_mistakes_are_one_line(district: Config,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    conf = str(district.source)
    assert main(["report", "--day", "2024-13-02", "--config", conf]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--day" in err
    assert main(["report", "--day", DAY.isoformat(), "--send", "nobody", "--config",
                 conf]) == 2
    err = capsys.readouterr().err
    assert "nobody" in err and "managers" in err and "Traceback" not in err


def test_mailed_once_per_day_across_passes_and_a_restart(district: Config,
                                                        smtp: SmtpSink) -> None:
    before = len(smtp.messages)
    morning = int(dt.datetime(2024, 12, 3, 6, 50, tzinfo=TZ).timestamp() * 1000)
    for restart in range(2):
        svc = alerts_service(district, daily_jobs=True)
        # before the hour: nothing; from 07:00, twice per restart
        svc.step(morning, wait=True)
        if restart == 0:
            assert len(smtp.messages) == before
        for later in (20, 40):
            svc.step(morning + later * MIN_MS, wait=True)
        svc.close()
        svc.db.close()
    sent = smtp.messages[before:]
    assert len(sent) == 1, [m["Subject"] for m in sent]
    msg = sent[0]
    assert msg["Subject"] == f"供热运行日报 {DAY}"
    assert msg["X-Heatwatch-Dedup"] == dedup_key(DAY, "managers")
    body = msg.get_body(("html",))
    assert body is not None
    html = body.get_content()
    assert "供热运行日报" in html and "<svg" in html
    # the report it mailed was also kept on disk
    assert (Path(district.site.data_dir) / "reports" / f"report-{DAY}.html").exists()



def test_send_now_mails_once(district: Config, smtp: SmtpSink,
                             capsys: pytest.CaptureFixture[str]) -> None:
    conf = str(district.source)
    day = DAY + dt.timedelta(days=1)
    before = len(smtp.messages)
    for _ in range(2):
        assert main(["report", "--day", day.isoformat(), "--send", "managers", "--config",
                     conf]) == 0
    out = capsys.readouterr().out
    assert "sent to managers" in out and "already sent to managers" in out
    (msg,) = smtp.messages[before:]
    assert msg["Subject"] == f"供热运行日报 {day}" and msg["To"] == "boss@heatwatch.test"


def test_files_written_by_report_are_checked_first(district: Config, tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    """issue 26: --send is checked before anything is written; --out refuses a directory and a
    symbolic link (the file behind it untouched); an existing file only with --force."""
    conf = str(district.source)
    out = tmp_path / "r.html"
    assert main(["report", "--day", DAY.isoformat(), "--out", str(out), "--send", "nosuch",
                 "--config", conf]) == 2
    assert "--send 'nosuch'" in capsys.readouterr().err and not out.exists()
    assert main(["report", "--day", DAY.isoformat(), "--out", str(tmp_path),
                 "--config", conf]) == 2
    assert "is a directory" in capsys.readouterr().err
    precious = tmp_path / "precious.txt"
    precious.write_text("keep me", encoding="utf-8")
    link = tmp_path / "link.html"
    link.symlink_to(precious)
    for force in ([], ["--force"]):
        assert main(["report", "--day", DAY.isoformat(), "--out", str(link), *force,
                     "--config", conf]) == 2
        assert "symbolic link" in capsys.readouterr().err
    assert precious.read_text(encoding="utf-8") == "keep me" and link.is_symlink()
    assert main(["report", "--day", DAY.isoformat(), "--out", str(out), "--config", conf]) == 0
    first = out.read_bytes()
    capsys.readouterr()
    assert main(["report", "--day", DAY.isoformat(), "--out", str(out), "--config", conf]) == 2
    assert "--force" in capsys.readouterr().err and out.read_bytes() == first
    assert main(["report", "--day", DAY.isoformat(), "--out", str(out), "--force",
                 "--config", conf]) == 0
    assert out.read_bytes().startswith(b"<!DOCTYPE") or out.read_bytes().startswith(b"<")
    assert not list(tmp_path.glob(".*.tmp"))
