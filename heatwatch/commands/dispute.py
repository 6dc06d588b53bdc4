"""`heatwatch dispute`: the evidence file for a meter-reading dispute (计量争议), from the raw
readings, the fault incidents and the season bill; Markdown for people, JSON for machines."""

from __future__ import annotations

import datetime as dt
import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import numpy as np

from analyzer.grid import DAY_MS
from district.readings import COMM_FAULT_MEASUREMENT
from district.records import Account, Device
from heatwatch.commands.dispute_days import METER_FIELDS, daily_readings, fault_rows
from heatwatch.commands.dispute_markdown import render_markdown
from heatwatch.commands.dispute_verification import (
    RULE_TEXT,
    VerificationArgs,
    check_verification_args,
    verification_doc,
)
from heatwatch.common import (
    CommandError,
    output_path,
    timezone,
    workflow_path,
    write_output,
)
from heatwatch.config import Config
from heatwatch.dispute_temperature import temperature_doc
from heatwatch.season_bill import SeasonDays, daily_outdoor, season_bill, season_days
from storage.base import Frame
from workflow.incidents import Incident, IncidentStore


def mask_phone(phone: str) -> str:
    """A phone number with its middle hidden (138****0001); never the whole number."""
    p = phone.strip()
    if not p:
        return ""
    if len(p) <= 7:
        return "*" * len(p)
    return p[:3] + "*" * (len(p) - 7) + p[-4:]


# -- the edges: records, store, incident store ------------------------------------------------

def _store_source(cfg: Config) -> str:
    """The readings' source by name only: the dossier is the resident's, so it shows no
    server address, file path or credentials."""
    kind = "InfluxDB" if cfg.store.backend == "influxdb" else "SQLite"
    return f"readings: 读数库 {kind} (measurements meter, {COMM_FAULT_MEASUREMENT}, weather)"


def _meter_incidents(cfg: Config, device: Device, start_ms: int, end_ms: int
                     ) -> tuple[list[Incident], bool]:
    """The meter's fault and comm-loss incidents (its gateway's too) overlapping the season."""
    path = workflow_path(cfg)
    if not path.exists():
        return [], False
    subjects = {device.device_id}
    if device.protocol == "modbus":
        subjects.add(f"gateway {device.host}:{device.port}")
    wf = IncidentStore(path)
    try:
        found = [i for kind in ("meter_fault", "meter_comm")
                 for i in wf.find(include_closed=True, kind=kind) if i.subject in subjects]
    finally:
        wf.close()
    out = []
    for i in found:
        end = i.closed_ms if i.closed_ms is not None else max(i.updated_ms, i.started_ms + 1)
        if i.started_ms < end_ms and end > start_ms:
            out.append(i)
    return out, True


def _supply_outages(cfg: Config, device: Device) -> list[tuple[int, int]]:
    """[start, end) of the outages of the meter's substation and building: no heat was
    delivered, so an interval outside the meter's rated range then is the outage's."""
    path = workflow_path(cfg)
    if not path.exists():
        return []
    wf = IncidentStore(path)
    try:
        found = [i for kind, subject in (("outage", device.substation_id),
                                         ("building_outage", device.building_id))
                 for i in wf.find(include_closed=True, kind=kind) if i.subject == subject]
    finally:
        wf.close()
    return [(i.started_ms, i.closed_ms if i.closed_ms is not None else max(i.updated_ms,
                                                                           i.started_ms + 1))
            for i in found]


def _header(account: Account, address: str, device: Device, bill: dict[str, Any],
            generated_at: str) -> dict[str, Any]:
    start = dt.date.fromisoformat(bill["season_start"])
    return {
        "account_id": account.account_id, "building_id": account.building_id,
        "address": address, "unit": account.unit, "area_m2": account.area_m2,
        "tariff": account.tariff, "phone_masked": mask_phone(account.phone),
        "meter_id": device.device_id, "meter_profile": device.profile,
        "meter_protocol": device.protocol, "season": bill["season"],
        "season_start": start.isoformat(),
        "season_end": (start + dt.timedelta(days=bill["season_days"] - 1)).isoformat(),
        "season_days": bill["season_days"], "generated_at": generated_at,
    }


@dataclass(frozen=True, slots=True)
class Evidence:
    """The dispute as plain data (`doc`, what JSON and Markdown show), and the meter's raw
    readings over the season for the charts of the printed dossier."""

    doc: dict[str, Any]
    meter: Frame
    tz: dt.tzinfo


def _read_meter(cfg: Config, device: Device, season: SeasonDays
                ) -> tuple[Frame, Frame, np.ndarray[Any, np.dtype[np.float64]]]:
    """The meter's raw readings from the day before the season (the previous total), its
    daily failed polls, and the daily mean outdoor temperature."""
    from heatwatch import bootstrap

    opened = bootstrap.open_store(cfg, read_only=True)
    try:
        meter = opened.store.read_device("meter", device.device_id, season.start_ms - DAY_MS,
                                         season.end_ms, list(METER_FIELDS))
        comm = opened.store.read_aggregate(
            COMM_FAULT_MEASUREMENT, season.start_ms, season.end_ms, 86400, ["cause_code"],
            "count", tags=("device_id",), offset_s=season.offset_s)
        wx = opened.store.read_aggregate("weather", season.start_ms, season.end_ms, 86400,
                                         ["outdoor_c"], "mean", tags=(),
                                         offset_s=season.offset_s)
    finally:
        opened.store.close()
    if len(comm):
        mine = comm.device_id == device.device_id
        comm = Frame(comm.ts_ms[mine], {}, {"cause_code": comm.fields["cause_code"][mine]})
    return meter, comm, daily_outdoor(wx, season)


def _verification(bill: dict[str, Any], verification: VerificationArgs | None,
                  billed_kwh: float | None) -> dict[str, Any] | None:
    if verification is None:
        return None
    error_pct, dtheta_k, dtheta_min_k, qp_over_q = verification
    kwh = (Decimal(repr(float(billed_kwh))) if billed_kwh is not None
           else Decimal(bill["area_policy"]["kwh"]))
    return verification_doc(kwh, Decimal(bill["prices"]["energy_cny_kwh"]), error_pct,
                            dtheta_k, dtheta_min_k, qp_over_q)


def _sources(cfg: Config, have_wf: bool) -> list[str]:
    return [
        "records: 用户档案 (accounts.csv, buildings.csv, devices.csv)",
        _store_source(cfg),
        ("incidents: 故障记录 (meter_fault, meter_comm)" if have_wf
         else "incidents: 无故障记录库 — no fault interval known"),
        "billing: heatwatch billing (same data; each day's basis and reason)",
    ]


def _in_season(meter: Frame, start_ms: int) -> Frame:
    """The meter's readings without the day before the season."""
    if not len(meter):
        return meter
    keep = meter.ts_ms >= start_ms
    return Frame(meter.ts_ms[keep], {k: v[keep] for k, v in meter.tags.items()},
                 {k: v[keep] for k, v in meter.fields.items()})


def collect_evidence(cfg: Config, account_id: str, season: int,
                     verification: VerificationArgs | None = None, *,
                     billed_kwh: float | None = None,
                     clock: Callable[[], float] = time.time) -> Evidence:
    """Everything a dispute needs for one account and season.

    `verification` is (error_pct, dtheta_k, dtheta_min_k, qp_over_q); `billed_kwh` is the
    energy in dispute (default: the season's metered kWh from the bill).
    """
    from heatwatch import bootstrap

    # season_bill checks the account, its meter and the season, with one-line errors
    bill = season_bill(cfg, account_id, season)
    tz = timezone(cfg)
    records = bootstrap.records(cfg)
    account = records.accounts[account_id]
    device = records.devices[bill["meter_id"]]
    building = records.buildings.get(account.building_id)
    days = season_days(dt.date.fromisoformat(bill["season_start"]), int(bill["season_days"]),
                       tz)
    meter, comm, outdoor = _read_meter(cfg, device, days)
    readings = daily_readings(meter, comm, days.start_ms, days.n_days, days.first, tz, outdoor,
                              cfg.analyzer.rules().meters, _supply_outages(cfg, device))
    incidents, have_wf = _meter_incidents(cfg, device, days.start_ms, days.end_ms)
    ver = _verification(bill, verification, billed_kwh)
    generated = dt.datetime.fromtimestamp(clock(), tz).isoformat(timespec="seconds")
    doc = {
        "header": _header(account, building.address if building else "", device, bill,
                          generated),
        "sources": _sources(cfg, have_wf),
        "readings": readings,
        "faults": fault_rows(incidents, tz),
        "billing": {k: bill[k] for k in ("prices", "area_policy", "estimated_policy",
                                         "difference_cny", "days_with_readings", "days")},
        "verification": ver,
        "verification_rule": RULE_TEXT,
        "temperature": temperature_doc(cfg, records, account, days, cfg.analyzer.rules(),
                                       {r["date"]: r["outdoor_mean_c"] for r in readings}),
        "signatures": [
            {"role": "测温员/客服 inspector / customer service", "name": None, "date": None},
            {"role": "用户 resident", "name": None, "date": None},
        ],
    }
    return Evidence(doc, _in_season(meter, days.start_ms), tz)


def dispute_evidence(cfg: Config, account_id: str, season: int,
                     verification: VerificationArgs | None = None, *,
                     billed_kwh: float | None = None,
                     clock: Callable[[], float] = time.time) -> dict[str, Any]:
    """Everything a dispute needs for one account and season, as plain data."""
    return collect_evidence(cfg, account_id, season, verification, billed_kwh=billed_kwh,
                            clock=clock).doc


# the printed dossier: evidence and format (html, pdf) in, the file's bytes out
# (documents.dossier.render unless a test passes another)
DocumentRenderer = Callable[[Evidence, str], bytes]
FORMATS = ("md", "json", "html", "pdf")


def dispute_command(cfg: Config, account_id: str, season: int, out: str | None, json_: bool,
                    error_pct: float | None, dtheta_k: float = 10.0, dtheta_min_k: float = 3.0,
                    qp_over_q: float = 10.0, billed_kwh: float | None = None,
                    say: Callable[[str], None] = print,
                    clock: Callable[[], float] = time.time, format_: str | None = None,
                    render: DocumentRenderer | None = None, force: bool = False) -> int:
    """Write the evidence file (Markdown, JSON, HTML or PDF) to `out` or stdout."""
    fmt = format_ or ("json" if json_ else "md")
    if fmt not in FORMATS:
        raise CommandError(f"--format {fmt!r}: use one of {', '.join(FORMATS)}")
    if fmt == "pdf" and out is None:
        raise CommandError("--format pdf needs --out FILE.pdf")
    target = None if out is None else output_path(out, force)
    if billed_kwh is not None and error_pct is None:
        raise CommandError("--billed-kwh only applies with --error-pct (a verification)")
    if billed_kwh is not None and not (math.isfinite(billed_kwh) and billed_kwh >= 0):
        raise CommandError(f"--billed-kwh must be a finite number, not negative, got {billed_kwh}")
    if error_pct is not None:
        check_verification_args(error_pct, dtheta_k, dtheta_min_k, qp_over_q)
    ver = None if error_pct is None else (error_pct, dtheta_k, dtheta_min_k, qp_over_q)
    ev = collect_evidence(cfg, account_id, season, ver, billed_kwh=billed_kwh, clock=clock)
    if fmt in ("html", "pdf"):
        if render is None:
            # matplotlib and Chromium only for the printed formats
            from documents.dossier import render as printed
            render = printed
        data = render(ev, fmt)
    else:
        data = ((json.dumps(ev.doc, ensure_ascii=False, indent=2) if fmt == "json"
                 else render_markdown(ev.doc)) + "\n").encode("utf-8")
    if target is None:
        say(data.decode("utf-8").rstrip("\n"))
        return 0
    write_output(target, data)
    say(f"dispute evidence for {account_id}, season {season}: {out}")
    return 0
