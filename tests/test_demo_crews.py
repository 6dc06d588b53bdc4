"""Crews that act in the demo: simulated phones follow the link in each order message to the
real crew HTTP endpoint; customer service visits and closes; the KPI is no longer trivial."""

from __future__ import annotations

import random
import re
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from alerts.config import AlertsConfig, AlertsConfigError
from simulators.clock import VirtualClock
from simulators.crews import CrewHabits, action_url, plan_order
from tests.test_alerts_support import ManualClock, make_service, ms, raise_incident

ROOT = Path(__file__).resolve().parent.parent
MIN_S = 60.0


def order(kind: str, opened_s: float = 0.0) -> dict[str, object]:
    return {"order_id": "WO000001", "kind": kind, "started_ms": int(opened_s * 1000) - 3_600_000,
            "opened_ms": int(opened_s * 1000)}


def test_the_crew_acts_on_the_link_it_was_sent() -> None:
    link = "http://10.0.0.5:8765/o/WO000007?t=abc%2Bdef&m=s1-a"
    assert action_url(link, "accept") == "http://10.0.0.5:8765/o/WO000007/accept?t=abc%2Bdef&m=s1-a"
    assert action_url("https://x.example/o/WO1/", "resolve") == "https://x.example/o/WO1/resolve"


def test_a_named_seeded_crew_plans_the_same_taps() -> None:
    def taps(seed: str) -> list[tuple[float, str]]:
        rng = random.Random(seed)
        return [(p.at_s, p.action) for k in ("repair", "urgent", "inspection", "opinion")
                for p in plan_order(order(k), f"http://h/o/{k}?t=x", CrewHabits(), rng,
                                    ("a", "b"), 0.0)]

    assert taps("crew-s1:7") == taps("crew-s1:7") != taps("crew-s2:7")


@pytest.mark.parametrize("kind", ["repair", "replacement", "emergency", "urgent", "inspection",
                                  "opinion"])
def test_taps_follow_the_order_life(kind: str) -> None:
    """Every kind's taps in an order its state machine accepts, each at or after the last."""
    punctual = CrewHabits(take_share=1.0, slow_share=0.0)
    for seed in range(50):
        plan = plan_order(order(kind), "http://h/o/WO000001?t=x", punctual,
                          random.Random(seed), ("a",), 0.0)
        actions = [p.action for p in plan]
        want = {"urgent": ["accept", "arrive", "resolve"], "opinion": ["accept", "resolve"]}
        assert actions == want.get(kind, ["accept", "contact", "arrive", "resolve"])
        times = [p.at_s for p in plan]
        assert times == sorted(times) and times[0] > 0
        # a punctual crew meets the seed's limits, counted from when it was told
        on_site = {p.action: p.at_s for p in plan}.get("arrive")
        if on_site is not None:
            assert on_site <= (30 if kind == "urgent" else 120) * MIN_S
        if "contact" in actions:
            assert {p.action: p.at_s for p in plan}["contact"] <= 30 * MIN_S
        assert [p.note for p in plan if p.action == "resolve"][0]  # a resolution says what


def test_slow_and_absent_crews_exist() -> None:
    """The habits' shares show: some orders not taken, some reached past the limit."""
    rng = random.Random("crew-s1:1")
    plans = [plan_order(order("repair"), "http://h/o/WO000001?t=x", CrewHabits(), rng, ("a",),
                        0.0) for _ in range(400)]
    untaken = sum(not p for p in plans)
    late = sum(1 for p in plans if p and {t.action: t.at_s for t in p}["arrive"] > 120 * MIN_S)
    assert 5 <= untaken <= 40 and 20 <= late <= 80, (untaken, late)


def test_the_district_clock_stands_still_while_held() -> None:
    wall = [100.0]
    clock = VirtualClock(0.0, 3600.0, wall=lambda: wall[0])
    wall[0] = 101.0
    assert clock.now() == 3600.0
    with clock.held():
        wall[0] = 105.0  # four wall seconds of analysis
        assert clock.now() == 3600.0
        with clock.held():
            wall[0] = 106.0
        assert clock.now() == 3600.0
    wall[0] = 107.0
    assert clock.now() == 7200.0  # runs on from where it stood


@pytest.mark.parametrize(("limits", "contacted", "on_site"), [
    # seed (接到抢修电话30分钟到达现场): the default counts from receipt, when the fault was seen
    ({}, "10:30", "12:00"),
    ({"clock_from": "detection"}, "10:30", "12:00"),
    ({"clock_from": "start"}, "09:30", "11:00"),
])
def test_limits_from_detection(tmp_path: Path, limits: dict[str, str], contacted: str,
                               on_site: str) -> None:
    """clock_from = "detection": a fault seen an hour late still gives the crew its 30 min."""
    cfg = {"crew": [{"id": "north", "substations": ["S1"]}], "limits": limits}
    clock = ManualClock(ms("2024-12-02 10:00"))
    svc = make_service(tmp_path, cfg, clock)
    raise_incident(svc.db, "meter_fault", "M1", ms("2024-12-02 09:00"), clock.now_ms,
                   substation_id="S1", building_id="B1", cause="sensor_open")
    svc.step(clock.now_ms)
    (o,) = svc.db.orders.find()
    due = {d.deadline.step: d.deadline.due_ms for d in svc.db.deadlines.find(o.order_id)}
    assert due == {"contacted": ms(f"2024-12-02 {contacted}"),
                   "on_site": ms(f"2024-12-02 {on_site}")}
    assert o.started_ms == ms("2024-12-02 09:00")  # the order still says when it began
    svc.close()
    with pytest.raises(AlertsConfigError, match='clock_from must be "start" or "detection"'):
        AlertsConfig.from_mapping({"limits": {"clock_from": "report"}}).check()


def test_demo_crews_act_over_http_and_the_kpi_is_non_trivial(tmp_path: Path) -> None:
    data = tmp_path / "demo"
    p = subprocess.run(
        [sys.executable, "-m", "heatwatch.cli", "demo", "--scenario",
         str(ROOT / "tests/scenarios/demo_crews.toml"), "--data-dir", str(data)],
        capture_output=True, text=True, timeout=300, cwd=tmp_path,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    assert p.returncode == 0, p.stderr[-3000:]
    out = p.stdout
    taps = {crew: dict(re.findall(r"(accept|contact|arrive|resolve) (\d+)", rest))
            for crew, rest in re.findall(r"^  (crew-\S+)\s+(accept .*)$", out, re.M)}
    assert int(taps["crew-s1"]["accept"]) >= 3 and int(taps["crew-s1"]["resolve"]) >= 3, out
    db = sqlite3.connect(data / "workflow.sqlite")
    audit = db.execute("SELECT order_id, actor, action FROM order_audit").fetchall()
    # the taps the phones counted (HTTP 200) are the audit's crew actions, by crew members
    by_action: dict[str, int] = {}
    for _, actor, action in audit:
        if action in ("accept", "contact", "arrive", "resolve"):
            assert re.fullmatch(r"(s1|s2|net)-[ab]", actor), actor
            by_action[action] = by_action.get(action, 0) + 1
    assert by_action == {a: sum(int(t[a]) for t in taps.values())
                         for a in ("accept", "contact", "arrive", "resolve")}
    # customer service made return visits and closed orders
    visits = [(o, a) for o, actor, a in audit if actor == "客服"]
    assert ("visit" in {a for _, a in visits}) and ("close" in {a for _, a in visits})
    # some orders closed with every step on time
    on_time_closed = db.execute(
        "SELECT o.order_id FROM alert_order o WHERE o.state = 'closed' AND NOT EXISTS ("
        "SELECT 1 FROM order_deadline d WHERE d.order_id = o.order_id AND d.step != 'notice' "
        "AND (d.done_ms IS NULL OR d.done_ms > d.due_ms))").fetchall()
    assert on_time_closed, out
    # the summary ends with the KPI table, and it is neither 0 % nor every order breached,
    # then the path of the morning report the demo wrote
    lines = out.rstrip().splitlines()
    report = re.fullmatch(r"morning report \(日报\), (\d{4}-\d\d-\d\d): (\S+)", lines[-1])
    assert report, out[-2000:]
    page = Path(report[2]).read_text(encoding="utf-8")
    assert "供热运行日报" in page and report[1] in page and "<svg" in page
    assert Path(report[2]).parent == data / "reports"
    m = re.search(r"^all\s+(\d+)\s+(\d+)\s+([\d.]+) % (ok|MISSED)$", out, re.M)
    assert m, out[-2000:]
    orders, late, rate = int(m[1]), int(m[2]), float(m[3])
    assert orders >= 1 and late < orders and rate > 0
