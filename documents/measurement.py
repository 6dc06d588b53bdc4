"""The measurement record (测温记录单, issue 22): one visit's record as an A4 page in Chinese,
printed for the resident — readings, the city's conditions and their checks, the instrument
and its certificate, the outdoor temperature, both signatures, corrections and the record's
hash. The record is the stored one (workflow.measurements): the page shows it, never edits it.

Signatures come through `Signature` values, so whatever stores the drawings (the measurer's
phone page) plugs in with a function from a record id to its signatures."""

from __future__ import annotations

import base64
import datetime as dt
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from documents import browser, pages
from policy.measurements import Check, Conditions, MeasurementRules, condition_checks
from policy.rooms import RoomState, is_counted
from workflow.measurements import Record, StoredInstrument

ROOM_ZH = {"bedroom": "卧室", "living": "客厅", "other": "其他房间"}
ROLE_ZH = {"measurer": "测温员", "resident": "用户"}
VERDICT_ZH = {"cold": "不达标 cold", "pass": "达标 pass", "excluded": "不判定 excluded",
              "not_counted": "不判定 not counted"}


@dataclass(frozen=True, slots=True)
class Signature:
    """One party's signature on a record: the drawing (PNG or SVG bytes) and its time, or a
    refusal with the measurer's note. No signature of a role: a blank line to sign on paper."""

    role: str  # "measurer" or "resident"
    name: str = ""
    image: bytes | None = None
    mime: str = "image/png"
    signed_at: str = ""  # local time as the page prints it
    refused: bool = False
    note: str = ""  # the measurer's note on a refusal

    def data_url(self) -> str:
        """The drawing inline, so the printed page needs no other file."""
        if self.image is None:
            return ""
        return f"data:{self.mime};base64,{base64.b64encode(self.image).decode('ascii')}"


# a record id -> its signatures (the phone page's storage; none until it exists)
SignatureSource = Callable[[str], Sequence[Signature]]


def no_signatures(record_id: str) -> list[Signature]:
    """No stored signatures: the page leaves both lines blank for signing on paper."""
    return []


@dataclass(frozen=True, slots=True)
class Household:
    account_id: str
    address: str
    unit: str
    area_m2: float


@dataclass(frozen=True, slots=True)
class Sheet:
    """Everything one printed record shows: the stored record, its household and instrument
    (None: not in the register), the city's rules, what the record decides and the times in
    the site's zone; `corrects` is the record this one corrects, `corrected_by` the id of the
    record that corrects this one."""

    record: Record
    household: Household
    instrument: StoredInstrument | None
    rules: MeasurementRules
    state: RoomState
    standard_c: float
    tz: dt.tzinfo
    generated_at: str
    corrects: Record | None = None
    corrected_by: str = ""
    signatures: Sequence[Signature] = field(default_factory=list)


def local(ms: int, tz: dt.tzinfo) -> dt.datetime:
    return dt.datetime.fromtimestamp(ms / 1000, tz)


def verdict_text(state: RoomState, standard_c: float) -> str:
    """What the record decides, in the resident's words."""
    return {
        RoomState.COLD: f"不达标：卧室或客厅低于 {standard_c:g} °C",
        RoomState.PASS: f"达标：卧室、客厅均不低于 {standard_c:g} °C",
        RoomState.EXCLUDED: "不判定：当日室外日均温低于设计温度（或无室外温度）",
        RoomState.NOT_COUNTED: "不判定：未测卧室或客厅",
    }.get(state, state.name)


def checks(r: Record, tz: dt.tzinfo, rules: MeasurementRules) -> list[Check]:
    """The city's conditions as recorded, each checked by the rules."""
    c = r.conditions
    closed = c.get("closed_since_s")
    since = (local(int(closed * 1000), tz) if closed is not None
             else dt.datetime.fromisoformat(str(c["closed_since"])))
    cond = Conditions(float(c["height_m"]), since, bool(c.get("hand_held")),
                      bool(c.get("radiators_covered")), bool(c.get("direct_sun")),
                      off_centre=bool(c.get("off_centre")))
    return condition_checks(cond, local(r.measured_ms, tz), rules)


def signature_slots(signatures: Sequence[Signature]) -> list[Signature]:
    """The measurer's and the resident's signature, in that order; a missing one is blank."""
    got = {s.role: s for s in signatures}
    return [got.get(role, Signature(role)) for role in ("measurer", "resident")]


def _result(kind: str, c: float, s: Sheet) -> str:
    """One room's reading against the standard; rooms the rules do not hold to it say so."""
    if not is_counted(kind):
        return "不考核（非卧室、客厅）"
    return "低于标准" if c < s.standard_c else "不低于标准"


def context(s: Sheet) -> dict[str, Any]:
    r, tz = s.record, s.tz
    measured = local(r.measured_ms, tz)
    expires = dt.date.fromisoformat(s.instrument.expires) if s.instrument else None
    return {
        "r": r, "h": s.household, "inst": s.instrument, "rules": s.rules,
        "measured": measured.strftime("%Y-%m-%d %H:%M"),
        "reported": local(r.reported_ms, tz).strftime("%Y-%m-%d %H:%M"),
        "readings": [(ROOM_ZH.get(str(k), str(k)), float(c), _result(str(k), float(c), s))
                     for k, c in r.readings],
        "checks": checks(r, tz, s.rules), "verdict": verdict_text(s.state, s.standard_c),
        "cold": s.state == RoomState.COLD,
        "cert_valid": expires is not None and measured.date() <= expires,
        "corrects": s.corrects, "corrected_by": s.corrected_by,
        "old_readings": ([(ROOM_ZH.get(str(k), str(k)), float(c)) for k, c in
                          s.corrects.readings] if s.corrects else []),
        "signatures": signature_slots(s.signatures), "role_zh": ROLE_ZH,
        "generated_at": s.generated_at,
    }


def render_html(s: Sheet) -> str:
    """The record as one self-contained HTML page (signature drawings inline)."""
    return pages.render("measurement.html", **context(s))


def render_pdf(s: Sheet) -> bytes:
    """The record as an A4 PDF (Chromium prints the page's own CSS)."""
    with tempfile.TemporaryDirectory(prefix="heatwatch-measurement-") as tmp:
        out = Path(tmp) / "record.pdf"
        browser.print_pdf(render_html(s), out)
        return out.read_bytes()
