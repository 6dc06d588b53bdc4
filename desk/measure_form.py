"""The measurer's form as submitted (issue 22): its fields read into what was taken and the
signatures, each mistake one Chinese line for the page (FormError).

What the city's rules say of the values (the instrument, the windows, the conditions) is not
judged here but in workflow.measuring.judged_record, the CLI's own code.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from policy.measurements import Conditions
from workflow.measurements import StoredInstrument
from workflow.measuring import Taken
from workflow.signatures import Signature, SignatureError, png_bytes
from workflow.visits import MeasureOrder

# the rows of the form: bedroom and living room first, then rooms the measurer adds
ROOMS = ("bedroom", "living", "", "")
ROOM_NAMES = {"bedroom": "卧室", "living": "客厅", "other": "其他房间"}
# a reading outside this is a typing mistake, not a room (not a rule of the city's)
PLAUSIBLE_C = (-50.0, 60.0)
# a signature's time from the phone is kept when it is this close to the server's clock
SIGNED_SKEW = dt.timedelta(hours=12)
FUTURE_SKEW = dt.timedelta(minutes=5)


class FormError(ValueError):
    """A field the page cannot take as it is; the message says which, in Chinese."""


@dataclass(frozen=True, slots=True)
class Filled:
    taken: Taken
    signatures: list[Signature]


def _local(text: str, tz: dt.tzinfo, what: str) -> dt.datetime:
    try:
        at = dt.datetime.fromisoformat(text)
    except ValueError:
        raise FormError(f"请填写{what}") from None
    return at.replace(tzinfo=tz) if at.tzinfo is None else at.astimezone(tz)


def _number(text: str, what: str) -> float:
    try:
        return float(text.strip().replace(",", "."))
    except ValueError:
        raise FormError(f"{what}不是数字：{text!r}") from None


def readings(v: Mapping[str, str]) -> list[list[object]]:
    """[room kind, °C to 0.1] of each filled row; at least one."""
    out: list[list[object]] = []
    for i in range(len(ROOMS)):
        text = v.get(f"reading_{i}", "").strip()
        if not text:
            continue
        kind = v.get(f"room_{i}", "")
        if kind not in ROOM_NAMES:
            raise FormError(f"第{i + 1}行请选择房间")
        c = round(_number(text, f"{ROOM_NAMES[kind]}温度"), 1)
        if not PLAUSIBLE_C[0] <= c <= PLAUSIBLE_C[1]:
            raise FormError(f"{ROOM_NAMES[kind]}温度 {c:.1f}℃ 不合常理，请核对")
        out.append([kind, c])
    if not out:
        raise FormError("请至少填写一个房间的温度（卧室、客厅）")
    return out


def conditions(v: Mapping[str, str], measured: dt.datetime) -> Conditions:
    """The checks as the measurer ticked them; doors and windows closed since a time of the
    measuring day (or the evening before, when later than the measurement)."""
    if not v.get("height", "").strip():
        raise FormError("请填写测点高度")
    height = _number(v["height"], "测点高度")
    try:
        t = dt.time.fromisoformat(v.get("closed_since", ""))
    except ValueError:
        raise FormError("请填写门窗关闭时间") from None
    closed = measured.replace(hour=t.hour, minute=t.minute, second=0, microsecond=0)
    if closed > measured:
        closed -= dt.timedelta(days=1)
    return Conditions(height, closed, hand_held=v.get("not_hand_held") != "1",
                      radiators_covered=v.get("radiators_uncovered") != "1",
                      direct_sun=v.get("no_sun") != "1", off_centre=v.get("centre") != "1")


def _signed_ms(text: str, now: dt.datetime) -> int:
    """The drawing's time from the phone, or the server's when the phone's is off."""
    now_ms = int(now.timestamp() * 1000)
    try:
        ms = int(text)
    except ValueError:
        return now_ms
    skew = SIGNED_SKEW.total_seconds() * 1000
    return ms if now_ms - skew <= ms <= now_ms + skew else now_ms


def signatures(v: Mapping[str, str], member: str, now: dt.datetime) -> list[Signature]:
    """The measurer's drawing (required) and the resident's, or the resident's refusal with
    the measurer's note."""
    out = []
    resident = v.get("resident_name", "").strip()[:40] or "住户"
    for role, who in (("measurer", member), ("resident", resident)):
        data = v.get(f"sig_{role}", "")
        if role == "resident" and v.get("resident_refused") == "1":
            note = v.get("refusal_note", "").strip()[:500]
            if not note:
                raise FormError("住户拒绝签字时，请写明情况说明")
            out.append(Signature(role, who, int(now.timestamp() * 1000), True, note))
            continue
        if not data:
            raise FormError("请测温员签字" if role == "measurer" else
                            "请住户签字，或勾选“住户拒绝签字”并说明情况")
        try:
            png_bytes(data)
        except SignatureError as e:
            raise FormError(str(e)) from None
        out.append(Signature(role, who, _signed_ms(v.get(f"sig_{role}_ms", ""), now),
                             data=data))
    return out


def parse_filled(v: Mapping[str, str], order: MeasureOrder, member: str, now: dt.datetime,
                 tz: dt.tzinfo, instrument: Callable[[str], StoredInstrument | None]) -> Filled:
    """The whole form, or FormError naming the first field that cannot be taken."""
    measured = _local(v.get("measured_at", ""), tz, "测温时间")
    if measured > now + FUTURE_SKEW:
        raise FormError("测温时间晚于现在，请核对")
    if measured.timestamp() * 1000 < order.opened_ms - FUTURE_SKEW.total_seconds() * 1000:
        raise FormError("测温时间早于测温工单的派发时间，请核对")
    inst = instrument(v.get("instrument", ""))
    if inst is None:
        raise FormError("请从登记的测温仪中选择")
    taken = Taken(order.account_id, measured, member, inst, readings(v),
                  conditions(v, measured), {"order_id": order.order_id})
    return Filled(taken, signatures(v, member, now))
