"""The crew page's words: actions, audit lines, time left and refusals, all in Chinese.

Nothing here reads the database; alerts/crew_page.py gathers what a page shows and uses these.
A word the page has no translation for is never shown raw: it falls back to a generic word.
"""

from __future__ import annotations

from alerts.lifecycle import ACTIONS, FINAL, STATES, TO_CONFIRM, state_text
from alerts.residents import SYSTEM
from alerts.templates import Templates

MINUTE_MS = 60_000

# the audit log's verbs (alerts/actions.py, ingest.py, escalation.py, residents.py, http.py)
VERB_TEXT = {
    "open": "生成工单", "dispatch": "派单", "accept": "接单", "arrive": "到场",
    "resolve": "处理完毕", "visit": "回访", "close": "关闭工单", "cancel": "取消工单",
    "reassign": "改派", "phone_shown": "查看用户电话", "incident_closed": "数据显示故障已消除",
    "notify_residents": "发送停暖通知", "escalation_warn": "即将超时，已提醒主管",
    "escalation_breach": "已超时，已上报主管",
    # issue 20: the data's verdict on a resolution, and an incident that came back
    "confirm": "数据确认故障已消除", "refute": "数据显示故障仍在，退回班组",
    "reopen": "故障复发，工单重开",
}
OTHER_VERB = "工单记录"


def action_label(action: str, kind: str) -> str:
    """A crew action's button: 接单, 已联系用户 (已响应核实 with no resident), 已到场, 处理完毕."""
    if action == "accept":
        return "接单"
    if action == "resolve":
        return "处理完毕"
    return state_text(ACTIONS[action], kind)


def verb_text(action: str, kind: str, templates: Templates) -> str:
    """An audit line's verb in words (contact as the kind says it: 联系用户 or 响应核实)."""
    if action == "contact":
        return templates.step_text("contacted", kind)
    return VERB_TEXT.get(action, OTHER_VERB)


def actor_text(actor: str) -> str:
    return "系统" if actor == SYSTEM else actor


def system_note(action: str, note: str, crew_name: str, kind: str,
                templates: Templates) -> str:
    """What the service's own audit notes say, in words (their raw text names internal keys
    and English words); a note a person wrote is shown as written, never through here."""
    if action == "dispatch":
        return f"派给{crew_name}"
    if action.startswith("escalation_"):
        step, _, due = note.partition(" due ")
        return f"{templates.step_text(step, kind)}截止 {due}" if due else ""
    if action == "notify_residents":
        n = note.split(" ")[0]
        return f"{n} 户" if n.isdigit() else ""
    if action == "incident_closed":
        return "工单仍需班组处理完毕"
    if action in ("confirm", "refute", "reopen"):
        return note  # written in words by alerts/verdict.py
    return ""


def duration_text(ms: int) -> str:
    """A span as a crew reads it: 25分钟, 1小时05分, 2天3小时."""
    minutes = max(0, -(-ms // MINUTE_MS))  # whole minutes, rounded up
    days, rest = divmod(minutes, 24 * 60)
    hours, mins = divmod(rest, 60)
    if days:
        return f"{days}天{hours}小时" if hours else f"{days}天"
    if hours:
        return f"{hours}小时{mins:02d}分"
    return f"{mins}分钟"


def left_text(due_ms: int, now_ms: int) -> str:
    """还剩 … before the due time, 已超时 … after it."""
    if now_ms <= due_ms:
        return f"还剩 {duration_text(due_ms - now_ms)}"
    return f"已超时 {duration_text(now_ms - due_ms)}"


def refusal_text(state: str, owner: str, kind: str, action: str, member: str,
                 note: str, first_valid: str) -> str:
    """Why the order (as it is now) refuses this member's action, in the order the state
    machine checks (alerts/lifecycle.py apply); `first_valid` is what they may do instead."""
    label = action_label(action, kind) if action in ACTIONS else action
    now = state_text(state, kind)
    if state in FINAL:
        return f"工单{now}，不能再操作。"
    if owner and owner != member:
        return f"此工单已由 {owner} 接单负责（首问负责制），您不能“{label}”。"
    target = STATES.index(ACTIONS[action])
    if target <= STATES.index(state):
        return f"工单已是“{now}”，这一步已经做过（页面可能已过期）。"
    if state == TO_CONFIRM:
        return "已处理完毕，正等待数据确认故障消除；确认前无需再操作。"
    if action == "resolve" and kind != "opinion" and not note.strip():
        return "处理完毕须填写处理说明。"
    if first_valid:
        return f"工单现在是“{now}”，请先“{action_label(first_valid, kind)}”。"
    return f"工单现在是“{now}”，暂不能“{label}”。"


# the title of a refusal page by its HTTP status (the status codes stay as the API's)
ERROR_TITLE = {
    400: "提交的内容有误", 403: "无权进行此操作", 404: "链接无效或已过期",
    405: "不支持此请求方式", 409: "无法完成此操作", 413: "提交的内容过大", 500: "服务器出错",
}
NOT_FOUND_TEXT = "没有这个工单，或者此链接对它无效（可能已过期、不是本人的链接或已不在班组）。"


def error_title(status: int) -> str:
    return ERROR_TITLE.get(status, "请求未能完成")
