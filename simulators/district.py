"""The simulated district: physics on a virtual clock, MQTT devices and Modbus gateways."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from district.readings import FieldValue
from district.records import Device, Records, load_records
from simulators.behaviours import Behaviour
from simulators.clock import Clock, VirtualClock
from simulators.gateways import (
    Gateway,
    GatewayFactory,
    default_gateway_factory,
    rebind_records,
)
from simulators.mqtt_devices import (
    TS_FORMS,
    MqttPublisher,
    MqttSettings,
    Sink,
    encode_payload,
    encode_payload_array,
    reading_object,
    topic_for,
)
from simulators.physics import Controls, DistrictPhysics, Layout, State
from simulators.scenario import Scenario, gateway_of, load_scenario
from simulators.summary import SimSummary

Fields = dict[str, FieldValue]


@dataclass(slots=True)
class _MqttDevice:
    device: Device
    topic: str
    ts_form: str
    interval_s: float
    index: int  # into the physics arrays of its kind (rooms, meters, substations)
    extras: bool  # also reports rh_pct / battery_v
    behaviours: list[Behaviour]
    backlog: list[dict[str, Any]] = field(default_factory=list)


@dataclass(slots=True)
class _ModbusMeter:
    device: Device
    gateway: str  # host:port as in the records
    unit: int
    index: int
    behaviours: list[Behaviour]
    mode: str | None = None


class DistrictSim:
    """Runs a scenario over the records: physics, MQTT devices and one GatewaySim per gateway."""

    # Gateway ports: by default each gateway binds the host:port devices.csv gives it
    # (docker-compose). port_offset shifts every port (two simulators side by side);
    # free_ports=True binds free loopback ports at start (tests, the demo). Either way,
    # after start() `sim.records` holds the meters rewritten to the bound host:port: that
    # is what a collector polling these gateways must be given.

    def __init__(self, records: Records, scenario: Scenario, clock: Clock,
                 mqtt: MqttSettings | Sink | None = None, gateway_host: str = "127.0.0.1", *,
                 port_offset: int = 0, free_ports: bool = False,
                 gateway_factory: GatewayFactory | None = None,
                 serve_modbus: bool = True) -> None:
        self.source_records = records
        self.records = records
        self.scenario = scenario
        self.clock = clock
        self.gateway_host = gateway_host
        self.port_offset = port_offset
        self.free_ports = free_ports
        self._mqtt_settings = mqtt if isinstance(mqtt, MqttSettings) else None
        self.sink: Sink | None = None if isinstance(mqtt, MqttSettings) else mqtt
        self._publisher: MqttPublisher | None = None
        self.prefix = self._mqtt_settings.topic_prefix if self._mqtt_settings else "heat"
        self._factory = gateway_factory
        self.serve_modbus = serve_modbus

        self.layout = Layout.from_records(records)
        self.physics = DistrictPhysics(self.layout, scenario.start_s, scenario.seed,
                                       scenario.weather)
        self.behaviours = scenario.build_behaviours(records)
        self.t = scenario.start_s
        self._noise = np.random.default_rng([scenario.seed, 7])
        self._loss = np.random.default_rng([scenario.seed, 11])
        self._last_meter_update = -np.inf
        self.summary_ = SimSummary(scenario.name, scenario.start_s, scenario.end_s,
                                   scenario.start_s)
        for b in self.behaviours:
            self.summary_.behaviours.append({
                "name": b.name, "target": b.target,
                "start": dt.datetime.fromtimestamp(
                    b.start_s, dt.timezone(dt.timedelta(hours=8))).isoformat(timespec="minutes"),
                "hours": f"{(b.end_s - b.start_s) / 3600:g}",
            })
        self._mqtt_devices, self._next_due = self._plan_mqtt()
        self._meters = self._plan_modbus()
        self._meter_by_id = {m.device.device_id: m for m in self._meters}
        self.gateways: dict[str, Gateway] = {}
        self._gateway_down: dict[str, bool] = {}
        self._started = False

    # -- planning -------------------------------------------------------------------------

    def _targets(self, *names: str) -> list[Behaviour]:
        return [b for b in self.behaviours if b.target in names]

    def _plan_mqtt(self) -> tuple[list[_MqttDevice], np.ndarray[Any, np.dtype[np.float64]]]:
        sc, lay = self.scenario, self.layout
        rng = np.random.default_rng([sc.seed, 3])
        devices: list[_MqttDevice] = []
        due: list[float] = []
        for d in self.records.devices.values():
            if d.protocol != "mqtt":
                continue
            if d.kind == "room":
                interval = float(sc.intervals.room_s[int(rng.integers(len(sc.intervals.room_s)))])
                index = lay.room_index[d.device_id]
            elif d.kind == "meter":
                interval, index = sc.intervals.meter_s, lay.meter_index[d.device_id]
            elif d.kind == "substation":
                interval, index = sc.intervals.substation_s, lay.sub_index[d.substation_id]
            else:
                interval, index = sc.intervals.weather_s, 0
            # devices mix both ts forms the contract allows; one in three sends RFC 3339
            form = TS_FORMS[len(devices) % len(TS_FORMS)]
            extras = d.kind == "room" and len(devices) % 2 == 0
            own = self._targets(d.device_id)
            if d.kind == "substation":
                own += [b for b in self._targets(d.substation_id) if b.targets != ("site",)]
            devices.append(_MqttDevice(d, topic_for(self.prefix, d.kind, d.device_id), form,
                                       interval, index, extras, own))
            # staggered first report on the step grid, so devices do not all speak at once
            steps = max(1, int(interval // sc.step_s))
            due.append(sc.start_s + sc.step_s * (1 + int(rng.integers(steps))))
        return devices, np.array(due, dtype=np.float64)

    def _plan_modbus(self) -> list[_ModbusMeter]:
        meters: list[_ModbusMeter] = []
        for d in self.records.devices.values():
            if d.protocol != "modbus" or d.unit is None:
                continue
            gw = gateway_of(d.host, d.port)
            meters.append(_ModbusMeter(d, gw, d.unit, self.layout.meter_index[d.device_id],
                                       self._targets(d.device_id, gw)))
        return meters

    # -- lifecycle ------------------------------------------------------------------------

    async def start(self) -> None:
        """Connect to the broker and bind every gateway; then `records` names the bound ports."""
        if self._started:
            return
        if self._mqtt_settings is not None:
            self._publisher = MqttPublisher(self._mqtt_settings)
            self._publisher.start()
            self.sink = self._publisher
        if self.serve_modbus and self._meters:
            await self._start_gateways()
        self._started = True
        self._update_meters(self.t, force=True)

    async def _start_gateways(self) -> None:
        factory = self._factory or default_gateway_factory
        by_gateway: dict[str, dict[int, str]] = {}
        for m in self._meters:
            by_gateway.setdefault(m.gateway, {})[m.unit] = m.device.profile
        bound: dict[str, tuple[str, int]] = {}
        for gw, units in by_gateway.items():
            port = int(gw.rsplit(":", 1)[1])
            want = 0 if self.free_ports else port + self.port_offset
            gateway = factory(self.gateway_host, want, units)
            await gateway.start()
            self.gateways[gw] = gateway
            self._gateway_down[gw] = False
            bound[gw] = (self.gateway_host, gateway.port)
            self.summary_.gateways[gw] = f"{self.gateway_host}:{gateway.port}"
        self.records = rebind_records(self.source_records, bound)

    async def stop(self) -> None:
        """Flush late backlogs and MQTT acks, stop the gateways."""
        for dev in self._mqtt_devices:
            if dev.backlog:
                self._send(dev, [])
        for gateway in self.gateways.values():
            await gateway.stop()
        self.gateways.clear()
        if self._publisher is not None:
            self._publisher.close()
            self._publisher = None
        self._started = False

    async def run(self, until: float | None = None,
                  progress: Callable[[float], None] | None = None) -> SimSummary:
        """Step on the clock until district time `until` (default: the scenario's end)."""
        await self.start()
        end = self.scenario.end_s if until is None else min(until, self.scenario.end_s)
        while self.t < end:
            t_next = min(self.t + self.scenario.step_s, end)
            await self.clock.sleep_until(t_next)
            self.advance(t_next)
            await self._sync_gateways(t_next)
            if progress is not None:
                progress((self.t - self.scenario.start_s) / self.scenario.duration_s)
        return self.summary()

    def summary(self) -> SimSummary:
        self.summary_.reached_s = self.t
        return self.summary_

    # -- one step -------------------------------------------------------------------------

    def advance(self, t_new: float) -> State:
        """Step the physics to t_new, publish every MQTT reading due, refresh meter registers."""
        ctl = Controls.normal(self.layout)
        for b in self.behaviours:
            b.shape(self.t, t_new, ctl, self.layout)
        state = self.physics.step(t_new, ctl)
        self.t = t_new
        due = np.nonzero(self._next_due <= t_new)[0]
        for i in due:
            dev = self._mqtt_devices[int(i)]
            self._next_due[i] += dev.interval_s
            self._report(dev, t_new, state)
        self._update_meters(t_new)
        return state

    def _report(self, dev: _MqttDevice, t: float, state: State) -> None:
        fields = self.fields_of(dev.device.kind, dev.index, state, dev.extras)
        for b in dev.behaviours:
            seen = b.observe(t, fields)
            if seen is None:
                self.summary_.withheld[b.name] += 1
                return
            fields = seen
        obj = reading_object(t, dev.ts_form, fields)
        if any(b.buffers(t) for b in dev.behaviours):
            dev.backlog.append(obj)
            return
        self._send(dev, [obj])

    def _send(self, dev: _MqttDevice, objs: list[dict[str, Any]]) -> None:
        batch = dev.backlog + objs
        flushing = bool(dev.backlog)
        if flushing:
            self.summary_.backlog_flushes += 1
            dev.backlog = []
        if not batch or self.sink is None:
            return
        if not flushing and self.scenario.loss and self._loss.random() < self.scenario.loss:
            # lost between device and broker; a backlog is flushed over a live session (QoS 1)
            self.summary_.lost[dev.device.kind] += 1
            return
        # a flushed backlog is an array even when it holds one reading
        payload = encode_payload_array(batch) if flushing else encode_payload(batch)
        self.sink.publish(dev.topic, payload)
        self.summary_.messages[dev.device.kind] += 1
        self.summary_.readings[dev.device.kind] += len(batch)

    def fields_of(self, kind: str, i: int, s: State, extras: bool = False) -> Fields:
        """What device i of a kind truly measures now, at its sensors' resolution."""
        noise = self._noise
        if kind == "room":
            # docs/rules.md: room sensors report at 0.1 °C resolution
            out: Fields = {"temp_c": round(float(s.room_c[i] + noise.normal(0, 0.05)), 1)}
            if extras:
                out["rh_pct"] = round(float(35 + 5 * noise.random()), 1)
                out["battery_v"] = 3.0
            return out
        if kind == "meter":
            return self.meter_fields(i, s)
        if kind == "substation":
            return {
                "supply_c": round(float(s.sub_supply_c[i] + noise.normal(0, 0.05)), 2),
                "return_c": round(float(s.sub_return_c[i] + noise.normal(0, 0.05)), 2),
                "supply_mpa": round(float(s.sub_supply_mpa[i]), 3),
                "return_mpa": round(float(s.sub_return_mpa[i]), 3),
                "flow_m3h": round(float(s.sub_flow_m3h[i]), 2),
                "makeup_m3h": round(float(s.sub_makeup_m3h[i]), 3),
                "pump_on": bool(s.pump_on[i]),
                "outdoor_c": round(s.outdoor_c, 1),
            }
        return {"outdoor_c": round(float(s.outdoor_c + noise.normal(0, 0.1)), 1)}

    @staticmethod
    def meter_fields(i: int, s: State) -> Fields:
        """Meter i's register values: totals at register resolution, hours whole."""
        return {
            "energy_kwh": round(float(s.meter_energy_kwh[i]), 2),
            "volume_m3": round(float(s.meter_volume_m3[i]), 3),
            "power_kw": round(float(s.meter_power_kw[i]), 3),
            "flow_m3h": round(float(s.meter_flow_m3h[i]), 4),
            "supply_c": round(float(s.meter_supply_c[i]), 2),
            "return_c": round(float(s.meter_return_c[i]), 2),
            "status": int(s.meter_status[i]),
            "hours_ok": int(s.meter_hours_ok[i]),
            "hours_fault": int(s.meter_hours_fault[i]),
        }

    def meter_view(self, t: float) -> dict[str, Fields | None]:
        """What each Modbus meter would answer now, behaviours applied (None: no answer)."""
        out: dict[str, Fields | None] = {}
        s = self.physics.state
        for m in self._meters:
            fields: Fields | None = self.meter_fields(m.index, s)
            res = self.scenario.meter_resolution.get(m.device.building_id)
            if res and fields is not None:
                # a coarser register shows the total cut down to its last digit
                e = float(fields["energy_kwh"])
                fields["energy_kwh"] = round(math.floor(e / res + 1e-9) * res, 6)
            for b in m.behaviours:
                fields = b.observe(t, fields) if fields is not None else None
            out[m.device.device_id] = fields
        return out

    def _update_meters(self, t: float, force: bool = False) -> None:
        if not self.gateways:
            return
        if not force and t - self._last_meter_update < self.scenario.meter_update_s:
            return
        self._last_meter_update = t
        for device_id, fields in self.meter_view(t).items():
            m = self._meter_by_id[device_id]
            if fields is not None:
                self.gateways[m.gateway].set_meter(m.unit, fields)
        self.summary_.meter_updates += 1

    async def _sync_gateways(self, t: float) -> None:
        """Apply meter_offline and gateway_down as their windows open and close."""
        if not self.gateways:
            return
        for m in self._meters:
            mode = next((x for b in m.behaviours if b.name != "gateway_down"
                         and (x := b.offline_mode(t)) is not None), None)
            if mode != m.mode:
                self.gateways[m.gateway].set_unit_mode(m.unit, mode)
                self.summary_.unit_faults += mode is not None
                m.mode = mode
        for gw, gateway in self.gateways.items():
            down = any(b.offline_mode(t) == "down" for b in self.behaviours if b.target == gw)
            if down != self._gateway_down[gw]:
                await gateway.set_down(down)
                self.summary_.gateway_outages += down
                self._gateway_down[gw] = down


async def simulate(scenario: Scenario | Path | str, mqtt: MqttSettings, *,
                   records: Records | None = None, speed: float | None = None,
                   gateway_host: str = "127.0.0.1", port_offset: int = 0,
                   free_ports: bool = False,
                   progress: Callable[[float], None] | None = None) -> SimSummary:
    """`heatwatch simulate`: run a scenario at its speed against a broker, serving gateways."""
    sc = scenario if isinstance(scenario, Scenario) else load_scenario(scenario, records)
    rec = records if records is not None else load_records(sc.records_dir)
    clock = VirtualClock(sc.start_s, speed or sc.speed)
    sim = DistrictSim(rec, sc, clock, mqtt, gateway_host, port_offset=port_offset,
                      free_ports=free_ports)
    try:
        return await sim.run(progress=progress)
    finally:
        await sim.stop()
