"""The simulated district: clock, physics, behaviours, scenarios, MQTT devices, gateways."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import threading
import time
from pathlib import Path

import numpy as np
import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from pymodbus.client import AsyncModbusTcpClient

from collector.profiles import load_profile
from district.records import Records, load_records
from simulators.behaviours import BEHAVIOURS, STATUS_BITS, make_behaviour
from simulators.clock import ManualClock, VirtualClock
from simulators.district import DistrictSim, simulate
from simulators.mqtt_devices import MqttPublisher, MqttSettings, RecordingSink
from simulators.physics import K_KWH_PER_M3K, Controls, DistrictPhysics, Layout, Weather
from simulators.scenario import (
    SCENARIOS_DIR,
    Scenario,
    ScenarioError,
    load_scenario,
    parse_duration_s,
)

ROOT = Path(__file__).resolve().parent.parent
START = 1733068800.0  # 2024-12-02T00:00:00+08:00
H = 3600.0


@pytest.fixture(scope="module")
def rec() -> Records:
    return load_records(ROOT / "district" / "sample")


@pytest.fixture(scope="module")
def lay(rec) -> Layout:
    return Layout.from_records(rec)


def scenario(behaviours=(), hours=24.0, **kw) -> Scenario:
    from simulators.scenario import BehaviourSpec

    specs = tuple(BehaviourSpec(i, name, target, START + a * H, START + b * H, params)
                  for i, (name, target, a, b, params) in enumerate(behaviours, start=1))
    return Scenario(name="t", start_s=START, duration_s=hours * H, speed=1.0, seed=11,
                    records_dir=ROOT / "district" / "sample", behaviours=specs, **kw)


def run_physics(lay, behaviours, hours, seed=5, every_h=1.0):
    """Step physics hourly under the behaviours; return the states' copies per hour."""
    phys = DistrictPhysics(lay, START, seed)
    out = []
    t = START
    while t < START + hours * H:
        t_next = t + every_h * H
        ctl = Controls.normal(lay)
        for b in behaviours:
            b.shape(t, t_next, ctl, lay)
        s = phys.step(t_next, ctl)
        out.append({k: np.copy(getattr(s, k)) if isinstance(getattr(s, k), np.ndarray)
                    else getattr(s, k) for k in s.__dataclass_fields__})
        t = t_next
    return out


def beh(name, target, start_h, end_h, **params):
    return make_behaviour(name, target, START + start_h * H, START + end_h * H, params)


# -- clock ----------------------------------------------------------------------------------

def test_virtual_clock_runs_speed_times_the_wall():
    wall = [100.0]
    clock = VirtualClock(START, speed=8640, wall=lambda: wall[0])  # 1 day in 10 s
    assert clock.now() == START
    wall[0] += 10.0
    assert clock.now() == START + 86400
    assert clock.wall_s_until(START + 2 * 86400) == pytest.approx(10.0)
    with pytest.raises(ValueError):
        VirtualClock(START, 0)


def test_virtual_clock_sleeps_until_district_time():
    clock = VirtualClock(START, speed=360_000)  # an hour in 10 ms
    asyncio.run(clock.sleep_until(START + 3600))
    assert clock.now() >= START + 3600


def test_manual_clock_moves_only_when_told():
    clock = ManualClock(START)
    assert clock.advance(60) == START + 60
    asyncio.run(clock.sleep_until(START + 600))
    assert clock.now() == START + 600
    with pytest.raises(ValueError):
        clock.advance(-1)


# -- physics --------------------------------------------------------------------------------

def test_outdoor_has_a_diurnal_cycle_around_the_daily_mean(lay):
    phys = DistrictPhysics(lay, START, 1, Weather(daily_mean_c=-5, diurnal_amplitude_c=4,
                                                  day_to_day_c=0))
    temps = [phys.outdoor_c(START + m * 60) for m in range(24 * 60)]
    assert np.mean(temps) == pytest.approx(-5, abs=0.01)
    assert max(temps) - min(temps) == pytest.approx(8, abs=0.01)
    assert 14 <= int(np.argmax(temps)) / 60 <= 16  # warmest mid-afternoon local time


def test_substation_runs_near_55_45_with_normal_pressures(lay):
    s = run_physics(lay, [], 6)[-1]
    assert np.all((s["sub_supply_c"] > 50) & (s["sub_supply_c"] < 62))
    assert np.all(s["sub_supply_c"] - s["sub_return_c"] > 7)
    assert np.allclose(s["sub_supply_mpa"], 0.45) and np.allclose(s["sub_return_mpa"], 0.35)
    assert np.allclose(s["sub_makeup_m3h"] / s["sub_flow_m3h"], 0.005)
    assert s["pump_on"].all()


def test_rooms_settle_between_20_and_22_with_normal_supply(lay):
    phys = DistrictPhysics(lay, START, 3)
    phys.state.room_c[:] = 8.0  # heating just came on in cold flats
    ctl = Controls.normal(lay)
    daily = []
    for h in range(1, 24 * 4 + 1):
        phys.step(START + h * H, ctl)
        if h > 24 * 3:
            daily.append(phys.state.room_c.copy())
    mean = np.mean(daily, axis=0)
    assert mean.min() > 19.5 and mean.max() < 22.5
    assert np.ptp(np.array(daily), axis=0).max() > 0.2  # a diurnal pattern, not a constant


def test_physics_is_deterministic_for_a_seed(lay):
    a = run_physics(lay, [], 5, seed=9)[-1]
    b = run_physics(lay, [], 5, seed=9)[-1]
    c = run_physics(lay, [], 5, seed=10)[-1]
    assert np.array_equal(a["room_c"], b["room_c"])
    assert np.array_equal(a["meter_energy_kwh"], b["meter_energy_kwh"])
    assert not np.array_equal(a["room_c"], c["room_c"])


def test_meter_totals_rise_and_match_volume_times_delta_t(lay):
    states = run_physics(lay, [], 48, every_h=1.0)
    energy = np.array([s["meter_energy_kwh"] for s in states])
    volume = np.array([s["meter_volume_m3"] for s in states])
    dtheta = np.array([s["meter_supply_c"] - s["meter_return_c"] for s in states])
    hours = np.array([s["meter_hours_ok"] for s in states])
    assert np.all(np.diff(energy, axis=0) > 0) and np.all(np.diff(volume, axis=0) > 0)
    assert np.all(np.diff(hours, axis=0) == pytest.approx(1.0))
    d_e = np.diff(energy, axis=0)
    expected = K_KWH_PER_M3K * np.diff(volume, axis=0) * (dtheta[1:] + dtheta[:-1]) / 2
    # docs/rules.md: class 2 worked example allows 4.4 %; the simulator keeps well inside it
    assert np.max(np.abs(d_e / expected - 1)) < 0.02
    s = states[-1]
    assert np.allclose(s["meter_power_kw"],
                       K_KWH_PER_M3K * s["meter_flow_m3h"] * (s["meter_supply_c"]
                                                              - s["meter_return_c"]))
    assert np.all(s["meter_status"] == 0)


# -- behaviours: each changes exactly what it should -------------------------------------

def _only_index_differs(a, b, index):
    diff = np.nonzero(~np.isclose(a, b))[0]
    assert list(diff) == [index]


def test_pump_trip_stops_the_loop_and_cools_that_substations_rooms_and_meters(lay):
    base = run_physics(lay, [], 12)
    trip = run_physics(lay, [beh("pump_trip", "S2", 2, 10)], 12)
    s2 = lay.sub_index["S2"]
    during, after = trip[8], trip[11]  # 9 h in (7 h into the trip), 2 h after it ended
    assert not during["pump_on"][s2] and during["pump_on"][1 - s2]
    # docs/rules.md: out when supply < ~35 °C with supply − return < 2 K
    assert during["sub_supply_c"][s2] < 35
    assert during["sub_supply_c"][s2] - during["sub_return_c"][s2] < 2
    assert during["sub_flow_m3h"][s2] == 0
    rooms = lay.room_sub == s2
    assert np.all(during["room_c"][rooms] < base[8]["room_c"][rooms] - 3)
    assert np.array_equal(during["room_c"][~rooms], base[8]["room_c"][~rooms])
    meters = lay.meter_sub == s2
    assert np.all(during["meter_flow_m3h"][meters] == 0)
    assert np.all(during["meter_energy_kwh"][meters] == trip[5]["meter_energy_kwh"][meters])
    assert np.all(np.abs(during["meter_supply_c"] - during["meter_return_c"])[meters] < 2)
    assert np.array_equal(during["meter_energy_kwh"][~meters], base[8]["meter_energy_kwh"][~meters])
    assert after["pump_on"][s2] and after["sub_supply_c"][s2] > 45


def test_leak_raises_makeup_and_sags_holding_pressure(lay):
    base = run_physics(lay, [], 8)
    leak = run_physics(lay, [beh("leak", "S1", 1, 5)], 8)
    s1 = lay.sub_index["S1"]
    during = leak[3]  # states[k] is the district at hour k + 1
    # docs/rules.md: make-up above 2 % of circulating flow, holding point 0.35 → 0.25 MPa
    assert during["sub_makeup_m3h"][s1] / during["sub_flow_m3h"][s1] > 0.02
    assert during["sub_return_mpa"][s1] < 0.28
    assert during["sub_supply_mpa"][s1] < 0.40
    _only_index_differs(during["sub_return_mpa"], base[3]["sub_return_mpa"], s1)
    assert np.array_equal(during["room_c"], base[3]["room_c"])
    assert leak[7]["sub_makeup_m3h"][s1] / leak[7]["sub_flow_m3h"][s1] == pytest.approx(0.005)


def test_cold_room_settles_at_its_temperature(lay):
    room = "T-B01-0101-liv"
    base = run_physics(lay, [], 24)
    cold = run_physics(lay, [beh("cold_room", room, 1, 30, settle_c=14.0)], 24)
    i = lay.room_index[room]
    assert cold[-1]["room_c"][i] == pytest.approx(14.0, abs=0.3)
    _only_index_differs(cold[-1]["room_c"], base[-1]["room_c"], i)


def test_frozen_total_stops_counting_while_water_flows(lay):
    meter = "M-B03-0404"
    base = run_physics(lay, [], 10)
    frozen = run_physics(lay, [beh("frozen_total", meter, 2, 7)], 10)
    i = lay.meter_index[meter]
    window = [frozen[h]["meter_energy_kwh"][i] for h in range(1, 6)]  # hours 2..6
    assert len(set(window)) == 1
    assert all(frozen[h]["meter_flow_m3h"][i] > 0 for h in range(1, 6))
    assert len({frozen[h]["meter_volume_m3"][i] for h in range(1, 6)}) == 1
    assert frozen[9]["meter_energy_kwh"][i] > window[0]  # counts again afterwards
    _only_index_differs(frozen[9]["meter_energy_kwh"], base[9]["meter_energy_kwh"], i)


def test_reverse_flow_swaps_sensors_and_raises_bit_3(lay):
    meter = "M-B03-0605"
    states = run_physics(lay, [beh("reverse_flow", meter, 1, 4)], 6)
    i = lay.meter_index[meter]
    during, after = states[2], states[5]
    assert during["meter_return_c"][i] > during["meter_supply_c"][i]
    assert during["meter_status"][i] == 1 << STATUS_BITS["reverse_flow"]
    assert np.count_nonzero(during["meter_status"]) == 1
    assert after["meter_supply_c"][i] > after["meter_return_c"][i] and after["meter_status"][i] == 0
    only_bit = run_physics(lay, [beh("reverse_flow", meter, 1, 4, swap=False)], 3)[2]
    assert only_bit["meter_supply_c"][i] > only_bit["meter_return_c"][i]
    assert only_bit["meter_status"][i] == 8


def test_total_regression_drops_the_total_once(lay):
    meter = "M-B04-0205"
    base = run_physics(lay, [], 6)
    reg = run_physics(lay, [beh("total_regression", meter, 2, 3, drop_kwh=150.0)], 6)
    i = lay.meter_index[meter]
    e = [s["meter_energy_kwh"][i] for s in reg]
    assert e[1] < e[0]  # states[k] is hour k + 1: the step into hour 2 goes down
    assert e[5] > e[4] > e[3] > e[2] > e[1]  # then counts up again from the lower value
    assert base[5]["meter_energy_kwh"][i] - e[5] == pytest.approx(150.0)
    _only_index_differs(reg[5]["meter_energy_kwh"], base[5]["meter_energy_kwh"], i)


@pytest.mark.parametrize("bits,mask", [(["tamper"], 1 << 7), (["cover_open"], 1 << 8),
                                       ([5, "no_flow"], (1 << 5) | 1)])
def test_status_bits_raise_exactly_those_bits(lay, bits, mask):
    meter = "M-B04-0502"
    states = run_physics(lay, [beh("status_bits", meter, 1, 3, bits=bits)], 5)
    i = lay.meter_index[meter]
    assert states[1]["meter_status"][i] == mask
    assert np.count_nonzero(states[1]["meter_status"]) == 1
    assert states[4]["meter_status"][i] == 0
    assert states[4]["meter_hours_fault"][i] == pytest.approx(2.0)


def test_observation_behaviours_change_only_their_field():
    fields = {"supply_c": 55.2, "return_c": 45.1, "flow_m3h": 0.4}
    assert beh("sensor_open", "M", 0, 1).observe(START, fields) == {**fields, "supply_c": 185.0}
    assert beh("sensor_short", "M", 0, 1, sensor="return").observe(START, fields) == {
        **fields, "return_c": 0.0}
    assert beh("sensor_open", "M", 0, 1).observe(START + 2 * H, fields) == fields
    assert beh("silent", "R", 0, 1).observe(START, fields) is None
    assert beh("silent", "R", 0, 1).observe(START + H, fields) == fields
    stuck = beh("stuck", "R", 0, 1)
    assert stuck.observe(START, {"temp_c": 20.1}) == {"temp_c": 20.1}
    assert stuck.observe(START + 60, {"temp_c": 20.4}) == {"temp_c": 20.1}
    assert stuck.observe(START + H, {"temp_c": 20.4}) == {"temp_c": 20.4}
    off = beh("meter_offline", "M", 0, 1, mode="exception")
    assert off.offline_mode(START) == "exception" and off.offline_mode(START + H) is None
    assert beh("gateway_down", "127.0.0.1:1", 0, 1).offline_mode(START) == "down"
    assert beh("late_backlog", "R", 0, 1).buffers(START)


def test_district_sim_silent_stuck_and_late_backlog_on_the_wire(rec):
    sc = scenario([("silent", "T-B02-0201-liv", 2, 5, {}),
                   ("stuck", "T-B03-0104-liv", 2, 5, {}),
                   ("late_backlog", "T-B04-0102-liv", 2, 5, {})], hours=8)
    sink = RecordingSink()
    sim = DistrictSim(rec, sc, ManualClock(START), sink, serve_modbus=False)
    asyncio.run(sim.run())

    def bodies(device):
        return [json.loads(p) for t, p in sink.messages if t == f"heat/room/{device}"]

    def ts(obj):
        t = obj["ts"]
        return dt.datetime.fromisoformat(t).timestamp() if isinstance(t, str) else t

    silent = bodies("T-B02-0201-liv")
    assert not [b for b in silent if START + 2 * H <= ts(b) < START + 5 * H]
    assert any(ts(b) < START + 2 * H for b in silent) and any(ts(b) >= START + 5 * H
                                                              for b in silent)
    stuck = [b["temp_c"] for b in bodies("T-B03-0104-liv")
             if START + 2 * H <= ts(b) < START + 5 * H]
    assert len(stuck) >= 3 and len(set(stuck)) == 1
    backlog = bodies("T-B04-0102-liv")
    arrays = [b for b in backlog if isinstance(b, list)]
    assert len(arrays) == 1
    flushed = arrays[0]
    assert all(isinstance(o, dict) and "temp_c" in o for o in flushed)
    in_window = [o for o in flushed if START + 2 * H <= ts(o) < START + 5 * H]
    assert len(in_window) >= 3 and ts(flushed[-1]) >= START + 5 * H
    assert [ts(o) for o in flushed] == sorted(ts(o) for o in flushed)
    singles = [b for b in backlog if isinstance(b, dict)]
    assert not [b for b in singles if START + 2 * H <= ts(b) < START + 5 * H]
    summary = sim.summary()
    assert summary.backlog_flushes == 1
    assert summary.withheld["silent"] >= 3


def test_payload_shapes_follow_the_contract(rec):
    sink = RecordingSink()
    sim = DistrictSim(rec, scenario(hours=1), ManualClock(START), sink, serve_modbus=False)
    asyncio.run(sim.run())
    kinds = {t.split("/")[1] for t, _ in sink.messages}
    assert kinds == {"room", "substation", "weather"}
    forms = set()
    for topic, payload in sink.messages:
        body = json.loads(payload)
        forms.add(type(body["ts"]).__name__)
        kind = topic.split("/")[1]
        need = {"room": {"temp_c"}, "weather": {"outdoor_c"},
                "substation": {"supply_c", "return_c", "supply_mpa", "return_mpa", "flow_m3h",
                               "makeup_m3h", "pump_on"}}[kind]
        assert need <= set(body)
        if kind == "room":
            assert round(body["temp_c"], 1) == body["temp_c"]  # docs/rules.md: 0.1 °C resolution
        if kind == "substation":
            assert body["pump_on"] is True
    assert forms == {"int", "float", "str"}  # both ts forms the contract allows


# -- scenarios --------------------------------------------------------------------------

def test_durations_parse():
    assert parse_duration_s("1d12h", "x") == 36 * H
    assert parse_duration_s("90m", "x") == 5400
    assert parse_duration_s(30, "x") == 30
    with pytest.raises(ScenarioError, match="not a duration"):
        parse_duration_s("6 hours", "x")


def test_bundled_scenarios_load_and_sample_uses_every_behaviour_on_distinct_targets(rec):
    sample = load_scenario(SCENARIOS_DIR / "sample.toml", rec)
    assert {b.name for b in sample.behaviours} == set(BEHAVIOURS)
    targets = [b.target for b in sample.behaviours]
    assert len(targets) == len(set(targets))
    assert all(sample.start_s <= b.start_s and b.end_s <= sample.end_s
               for b in sample.behaviours)
    assert sample.records_dir.resolve() == (ROOT / "district" / "sample").resolve()
    short = load_scenario("short", rec)
    assert short.duration_s <= 6 * H


def _write(tmp_path: Path, body: str) -> Path:
    p = tmp_path / "bad.toml"
    p.write_text('start = 2024-12-02T00:00:00+08:00\nduration = "1d"\n' + body,
                 encoding="utf-8")
    return p


@pytest.mark.parametrize("body,message", [
    ('[[behaviour]]\nname = "melt"\ntarget = "S1"\nduration = "1h"\n',
     r"\[\[behaviour\]\] #1 \(melt on 'S1'\): unknown behaviour 'melt'"),
    ('[[behaviour]]\nname = "silent"\ntarget = "T-B01-0101-liv"\nduration = "1h"\n'
     '[[behaviour]]\nname = "stuck"\ntarget = "T-NOPE"\nduration = "1h"\n',
     r"#2 \(stuck on 'T-NOPE'\): unknown device 'T-NOPE'"),
    ('[[behaviour]]\nname = "pump_trip"\ntarget = "S9"\nduration = "1h"\n',
     r"#1 \(pump_trip on 'S9'\): unknown substation 'S9'"),
    ('[[behaviour]]\nname = "gateway_down"\ntarget = "127.0.0.1:1"\nduration = "1h"\n',
     r"unknown gateway '127.0.0.1:1'"),
    ('[[behaviour]]\nname = "cold_room"\ntarget = "M-B02-0304"\nduration = "1h"\n',
     r"'M-B02-0304' is a meter device; this behaviour applies to room"),
    ('[[behaviour]]\nname = "cold_room"\ntarget = "T-B01-0101-liv"\nduration = "1h"\n'
     'settle = 12\n', r"cold_room has no parameter 'settle' \(parameters: settle_c, tau_h\)"),
    ('[[behaviour]]\nname = "cold_room"\ntarget = "T-B01-0101-liv"\nduration = "1h"\n'
     'settle_c = "cold"\n', r"settle_c must be float"),
    ('[[behaviour]]\nname = "status_bits"\ntarget = "M-B02-0304"\nduration = "1h"\n'
     'bits = ["magnet"]\n', r"unknown status bit 'magnet'"),
    ('[[behaviour]]\nname = "late_backlog"\ntarget = "M-B02-0304"\nduration = "1h"\n',
     r"late_backlog needs an MQTT device"),
    ('[[behaviour]]\nname = "silent"\ntarget = "T-B01-0101-liv"\n',
     r"#1 \(silent on 'T-B01-0101-liv'\): duration is missing"),
    ('speed = -1\n', r"speed must be positive"),
    ('colour = "red"\n', r"unknown key 'colour'"),
])
def test_scenario_errors_name_file_and_entry(tmp_path, rec, body, message):
    path = _write(tmp_path, body)
    with pytest.raises(ScenarioError, match=message) as e:
        load_scenario(path, rec)
    assert str(e.value).startswith(str(path))


def test_scenario_needs_an_offset_on_its_start(tmp_path, rec):
    p = tmp_path / "s.toml"
    p.write_text('start = "2024-12-02T00:00:00"\n', encoding="utf-8")
    with pytest.raises(ScenarioError, match=r"needs an offset"):
        load_scenario(p, rec)


def test_scenario_records_folder_is_checked(tmp_path):
    p = tmp_path / "s.toml"
    p.write_text('start = 2024-12-02T00:00:00+08:00\nrecords = "nowhere"\n', encoding="utf-8")
    with pytest.raises(ScenarioError, match=r"records .*nowhere"):
        load_scenario(p)


# -- real services ----------------------------------------------------------------------

class Subscriber:
    """A paho subscriber on heat/# collecting (topic, payload)."""

    def __init__(self, port: int, client_id: str = "sim-test-sub") -> None:
        self.messages: list[tuple[str, bytes]] = []
        self.lock = threading.Lock()
        self.subscribed = threading.Event()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id,
                                  clean_session=False)
        self.client.on_connect = lambda c, u, f, r, p: c.subscribe("heat/#", qos=1)
        self.client.on_subscribe = lambda *a: self.subscribed.set()
        self.client.on_message = self._on_message
        self.client.reconnect_delay_set(1, 2)
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        assert self.subscribed.wait(10)

    def _on_message(self, client, userdata, msg):
        with self.lock:
            self.messages.append((msg.topic, msg.payload))

    def wait_for(self, n: int, timeout_s: float = 20.0) -> list[tuple[str, bytes]]:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            with self.lock:
                if len(self.messages) >= n:
                    return list(self.messages)
            time.sleep(0.05)
        with self.lock:
            return list(self.messages)

    def close(self):
        self.client.disconnect()
        self.client.loop_stop()


@pytest.mark.services
def test_short_scenario_publishes_to_a_real_mosquitto(mosquitto, rec):
    sub = Subscriber(mosquitto.port)
    try:
        settings = MqttSettings(port=mosquitto.port, client_id="sim-test-pub")
        # the entry point `heatwatch simulate` calls: 4 district hours in about 1 s
        summary = asyncio.run(simulate("short", settings, records=rec, speed=14400 * 4,
                                       free_ports=True))
        sent = sum(summary.messages.values())
        got = sub.wait_for(sent)
    finally:
        sub.close()
    assert len(got) == sent > 100
    kinds = {t.split("/")[1] for t, _ in got}
    assert kinds == {"room", "substation", "weather"}
    arrays = [(t, json.loads(p)) for t, p in got if p.startswith(b"[")]
    assert [t for t, _ in arrays] == ["heat/room/T-B01-0105-liv"]
    assert len(arrays[0][1]) >= 4 and all("temp_c" in o and "ts" in o for o in arrays[0][1])
    tripped = [json.loads(p) for t, p in got if t == "heat/substation/SUB-S2"]
    assert any(b["pump_on"] is False for b in tripped)
    assert any(b["pump_on"] is True for b in tripped)
    assert len(summary.gateways) == 14 and summary.meter_updates > 10


@pytest.mark.services
def test_publisher_keeps_qos1_messages_across_a_broker_restart(mosquitto):
    sub = Subscriber(mosquitto.port, client_id="restart-sub")
    pub = MqttPublisher(MqttSettings(port=mosquitto.port, client_id="restart-pub"))
    pub.start()
    try:
        for i in range(100):
            pub.publish("heat/weather/WX-1", json.dumps({"ts": i, "outdoor_c": -5.0}).encode())
        mosquitto.restart()  # graceful: the broker saves sessions and queued messages
        for i in range(100, 200):
            pub.publish("heat/weather/WX-1", json.dumps({"ts": i, "outdoor_c": -5.0}).encode())
        assert pub.flush(20)
        got = sub.wait_for(200)
    finally:
        pub.close(5)
        sub.close()
    seen = {json.loads(p)["ts"] for _, p in got}
    assert seen == set(range(200))  # QoS 1: at least once, so duplicates are allowed
    assert pub.reconnects >= 1


def _read_meter(profile, host, port, unit):
    async def go():
        client = AsyncModbusTcpClient(host, port=port, timeout=0.3, retries=0)
        try:
            if not await client.connect():
                return "down"
            r = await client.read_input_registers(
                profile.first_address, count=profile.end_address - profile.first_address,
                device_id=unit)
            if r.isError():
                return "error"
            return profile.decode(r.registers, profile.first_address)
        except Exception as e:  # pymodbus raises ModbusIOException on a timeout
            return type(e).__name__
        finally:
            client.close()
    return asyncio.run(go())


def test_gateways_serve_the_physics_meter_values_and_faults(rec):
    sc = scenario([("meter_offline", "M-B05-0502", 2, 4, {"mode": "timeout"}),
                   ("gateway_down", "127.0.0.1:15022", 2, 4, {}),
                   ("sensor_open", "M-B02-0103", 0, 8, {})], hours=6)
    profile = load_profile("generic-heat-meter")
    sim = DistrictSim(rec, sc, ManualClock(START), RecordingSink(), free_ports=True)
    loop = asyncio.new_event_loop()
    results = {}

    def read(device_id):
        d = sim.records.devices[device_id]
        # the gateways live on `loop`; read from another thread so they keep serving
        holder: dict[str, object] = {}
        th = threading.Thread(target=lambda: holder.update(
            r=_read_meter(profile, d.host, d.port, d.unit)))
        th.start()
        while th.is_alive():
            loop.run_until_complete(asyncio.sleep(0.01))
        return holder["r"]

    try:
        loop.run_until_complete(sim.run(until=START + H))
        view = sim.meter_view(sim.t)
        for did in ("M-B05-0502", "M-B05-0201", "M-B01-0905", "M-B02-0103"):
            results[did] = read(did)
            assert results[did] == view[did], did
        assert results["M-B02-0103"]["supply_c"] == 185.0
        assert sim.records.devices["M-B01-0905"].port != 15022  # rebound to a free port

        loop.run_until_complete(sim.run(until=START + 3 * H))
        assert read("M-B05-0502") == "ModbusIOException"  # a silent unit times out
        assert read("M-B05-0201") == sim.meter_view(sim.t)["M-B05-0201"]  # its neighbour
        assert read("M-B01-0905") == "down"  # the whole gateway is gone
        assert isinstance(read("M-B01-0302"), dict)  # the building's other gateway

        loop.run_until_complete(sim.run(until=START + 5 * H))
        view = sim.meter_view(sim.t)
        assert read("M-B05-0502") == view["M-B05-0502"]
        assert read("M-B01-0905") == view["M-B01-0905"]  # back on the same port
        now, before = view["M-B05-0201"], results["M-B05-0201"]
        assert now is not None and isinstance(before, dict)
        assert now["energy_kwh"] > before["energy_kwh"]  # totals integrate over time
        summary = sim.summary()
        assert summary.gateway_outages == 1 and summary.unit_faults == 1
    finally:
        loop.run_until_complete(sim.stop())
        loop.close()
