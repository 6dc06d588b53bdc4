"""The desk's words: the verbs of a call's record and of the audit log, in Chinese.

Like the crew page's (alerts/crew_words.py): a verb with no translation is never shown raw,
it falls back to a generic word.
"""

from __future__ import annotations

# a call's record (desk_call_audit: intake.py, actions.py, orders.py)
CALL_VERBS = {
    "take": "受理", "attach": "关联故障", "resolve": "办结", "visit": "回访",
    "reassign": "转交",
}
OTHER_CALL_VERB = "来电记录"
# the audit log (desk_audit: app.py, auth.py, intake.py, actions.py)
AUDIT_VERBS = {
    "sign_in": "登录", "sign_out": "退出", "session": "会话", "post": "提交表单",
    "search": "查询住户", "view_household": "查看住户", "view_phone": "查看完整电话",
    "view_call": "查看来电", "view_reporter": "查看举报人", "view_audit": "查看审计日志",
    "take_call": "受理来电", "resolve": "办结", "visit": "回访", "reassign": "转交",
    "staff_add": "添加人员", "act": "办理来电",
}
OTHER_AUDIT_VERB = "其他操作"


def call_verb(action: str) -> str:
    """A call record's verb in words (受理, 回访, ...)."""
    return CALL_VERBS.get(action, OTHER_CALL_VERB)


def audit_verb(action: str) -> str:
    """An audit line's verb in words (登录, 查看完整电话, ...)."""
    return AUDIT_VERBS.get(action, CALL_VERBS.get(action, OTHER_AUDIT_VERB))
