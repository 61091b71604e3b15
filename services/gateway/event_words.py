"""The event logs in words, for the auditor's pages: each event type's Chinese (and English)
name, and a one-line summary of what it says.

Pure: `summary(type, data, locale)` reads the event's recorded data (JSON) and never
fails on a field it does not expect — an unknown type or an older schema reads as its
label alone; the raw JSON stays one click away on the page.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from services.gateway.display import datetime_text, score_text
from services.gateway.i18n import EN, Text, pick
from shared.contracts.common import Category
from shared.contracts.nomination import ConsentUse
from shared.rounds import InvalidRoundId, RoundPeriod


def _consent_zh(d: Mapping[str, Any]) -> str:
    """The uses consented to, in Chinese ("公示、光荣榜"), or that none was."""
    uses = [u.label_zh for u in ConsentUse if u.value in d["consent"]["uses"]]
    return "、".join(uses) or "均不同意"


EVENT_LABELS: dict[str, Text] = {
    # nomination
    "UnitRegistered": ("单位登记", "Unit registered"),
    "UnitRenamed": ("单位更名", "Unit renamed"),
    "EmployeeRegistered": ("职工登记", "Employee registered"),
    "EmployeeUpdated": ("职工信息更新", "Employee updated"),
    "EmployeeTransferred": ("职工调动", "Employee transferred"),
    "EmployeeLeft": ("职工离岗", "Employee left"),
    "EmployeeRejoined": ("职工复岗", "Employee rejoined"),
    "RoundOpened": ("开放提名", "Round opened"),
    "DeadlineExtended": ("延长截止时间", "Deadline extended"),
    "NominationSubmitted": ("提交提名", "Nomination submitted"),
    "NominationAmended": ("修改提名", "Nomination amended"),
    "NominationWithdrawn": ("撤回提名", "Nomination withdrawn"),
    "PublicityConsentRecorded": ("记录公开展示授权", "Consent to publicity recorded"),
    "NominationsClosed": ("提名截止", "Nominations closed"),
    "RoundReopenedForUnit": ("为单位重新开放提名", "Round reopened for a unit"),
    "PersonalDataErased": ("个人信息已删除", "Personal data erased"),
    "ExpiredPersonalDataShredded": ("到期个人信息已删除", "Expired personal data shredded"),
    "NomineeCorrected": ("更正被推荐人信息", "Nominee's details corrected"),
    "UnitNominationsClosed": ("单位补报截止", "A unit's late window closed"),
    # review
    "CandidateRecorded": ("记录候选", "Candidate recorded"),
    "UnitWindowRecorded": ("记录单位补报", "A unit's late window noted"),
    "NominationAccepted": ("审核通过", "Nomination accepted"),
    "NominationRejected": ("审核驳回", "Nomination rejected"),
    "PanelistAssigned": ("指定评委", "Panelist assigned"),
    "PanelistRemoved": ("撤换评委", "Panelist removed"),
    "PanelistReminded": ("提醒评委评分", "Panelist reminded to score"),
    "ScoreSubmitted": ("评委打分", "Score submitted"),
    "NominationVetoed": ("一票否决", "Nomination vetoed"),
    "WinnersDecided": ("确定拟表彰人选", "Winners decided"),
    "PublicNoticeStarted": ("开始公示", "Public notice started"),
    "ObjectionRaised": ("收到异议", "Objection raised"),
    "ObjectionNoteRecorded": ("记录异议核查", "Objection note recorded"),
    "ObjectionResolved": ("异议处理完毕", "Objection resolved"),
    "WinnerRemoved": ("取消拟表彰资格", "Winner removed"),
    "ReplacementNamed": ("递补人选", "Replacement named"),
    "ResultPublished": ("公布评选结果", "Result published"),
    "WinnerRevoked": ("撤销荣誉", "Winner revoked"),
    # rewards
    "AwardGranted": ("发放奖励", "Award granted"),
    "PayrollAdjustmentIssued": ("生成工资调整", "Payroll adjustment issued"),
    "AwardRevoked": ("撤销奖励", "Award revoked"),
    "PayrollAdjustmentReversed": ("冲销工资调整", "Payroll adjustment reversed"),
    "PayrollAdjustmentAcknowledged": ("工资系统确认入账", "Acknowledged by payroll"),
    # publicity
    "MaterialsDrafted": ("生成宣传材料", "Materials drafted"),
    "MaterialEdited": ("修改宣传材料", "Material edited"),
    "MaterialApproved": ("审定宣传材料", "Material approved"),
    "MaterialPublished": ("发布宣传材料", "Material published"),
    "WinnerRevocationRecorded": ("记录荣誉撤销", "Revocation recorded"),
    "HonorRollUpdated": ("更新光荣榜", "Honor roll updated"),
    "MaterialRevised": ("修订宣传材料", "Material revised"),
    "CorrectionDrafted": ("起草更正说明", "Correction drafted"),
    "CorrectionNoteDrafted": ("起草更正说明（页面）", "Correction notice drafted from a page"),
    "WinnerPhotoAttached": ("上传获奖职工照片", "Winner's photo given"),
    # notification
    "RoundFactNoted": ("记录评选事实", "Round fact noted"),
    "NotificationIssued": ("发出通知", "Notification issued"),
    "NotificationRead": ("通知已读", "Notification read"),
    "DeliveryAttempted": ("尝试投递通知", "Delivery attempted"),
    "NotificationDelivered": ("通知投递成功", "Notification delivered"),
    "DeliveryDeadLettered": ("通知投递失败（已放弃）", "Delivery dead-lettered"),
}

OBJECTION_OUTCOMES: dict[str, Text] = {
    "dismissed": ("不成立", "dismissed"),
    "upheld": ("成立", "upheld"),
}


def event_label(event_type: str, locale: str) -> str:
    """The type's name in words; an unknown type as it is."""
    return pick(EVENT_LABELS[event_type], locale) if event_type in EVENT_LABELS else event_type


class _Words:
    """Helpers bound to one locale."""

    def __init__(self, locale: str) -> None:
        self.en = locale == EN

    def round(self, value: Any) -> str:
        try:
            period = RoundPeriod.parse(str(value))
        except InvalidRoundId:
            return str(value)
        return period.label_en if self.en else period.label_zh

    def flower(self, value: Any) -> str:
        try:
            category = Category(value)
        except ValueError:
            return str(value)
        return category.label_en if self.en else category.label_zh

    def person(self, data: Mapping[str, Any], key: str = "nominee") -> str:
        nominee = data.get(key)
        if isinstance(nominee, Mapping):
            return f"{nominee.get('name', '')}（{nominee.get('unit_name', '')}）"
        return str(data.get("name") or data.get("employee_no") or "")

    def outcome(self, value: Any) -> str:
        text = OBJECTION_OUTCOMES.get(str(value))
        return (text[1] if self.en else text[0]) if text else str(value)

    def when(self, value: Any) -> str:
        return datetime_text(str(value), EN if self.en else "zh-CN") if value else ""

    def money(self, value: Any) -> str:
        try:
            amount = Decimal(str(value))
        except InvalidOperation:
            return str(value)
        return f"{amount:,.2f}" + ("" if self.en else " 元")

    def t(self, zh: str, en: str) -> str:
        return en if self.en else zh


Summary = Callable[[_Words, Mapping[str, Any]], str]

SUMMARIES: dict[str, Summary] = {
    "UnitRegistered": lambda w, d: f"{d['name']}（{d['unit_code']}）",
    "UnitRenamed": lambda w, d: f"{d['previous_name']} → {d['name']}",
    "EmployeeRegistered": lambda w, d: f"{d['name']}（{d['employee_no']}）· {d['position']}",
    "EmployeeUpdated": lambda w, d: f"{d['name']}（{d['employee_no']}）· {d['position']}",
    "EmployeeTransferred": lambda w, d: (
        f"{d['employee_no']}：{d['from_unit_code']} → {d['to_unit_code']}"
    ),
    "EmployeeLeft": lambda w, d: f"{d['employee_no']}（{d['unit_code']}）",
    "EmployeeRejoined": lambda w, d: f"{d['name']}（{d['employee_no']}）· {d['position']}",
    "RoundOpened": lambda w, d: w.t(
        f"{w.round(d['round_id'])}，截止 {w.when(d['deadline'])}",
        f"{w.round(d['round_id'])}, deadline {w.when(d['deadline'])}",
    ),
    "DeadlineExtended": lambda w, d: w.t(
        f"{w.round(d['round_id'])}{' ' + d['unit_code'] if d.get('unit_code') else ''}"
        f" 延至 {w.when(d['new_deadline'])}：{d['reason']}",
        f"{w.round(d['round_id'])}{' ' + d['unit_code'] if d.get('unit_code') else ''}"
        f" to {w.when(d['new_deadline'])}: {d['reason']}",
    ),
    "NominationSubmitted": lambda w, d: f"{w.person(d)} · {w.flower(d['category'])}",
    "NominationAmended": lambda w, d: f"{w.person(d)} · {w.flower(d['category'])}",
    "NominationWithdrawn": lambda w, d: (
        f"{w.person(d)} · {w.flower(d['category'])}：{d.get('reason', '')}"
    ),
    "PublicityConsentRecorded": lambda w, d: w.t(
        f"{d['employee_no']} 同意：{_consent_zh(d)}",
        f"{d['employee_no']} consents to: {', '.join(d['consent']['uses']) or 'none'}",
    ),
    "NominationsClosed": lambda w, d: w.t(
        f"{w.round(d['round_id'])}，共 {len(d.get('nominations', []))} 项提名",
        f"{w.round(d['round_id'])}, {len(d.get('nominations', []))} nomination(s)",
    ),
    "RoundReopenedForUnit": lambda w, d: w.t(
        f"{w.round(d['round_id'])} {d['unit_code']} 补报至 {w.when(d['new_deadline'])}："
        f"{d['reason']}",
        f"{w.round(d['round_id'])} {d['unit_code']} until {w.when(d['new_deadline'])}: "
        f"{d['reason']}",
    ),
    "PersonalDataErased": lambda w, d: w.t(
        f"数据主体 {str(d['subject_id'])[:8]}：{d['reason']}",
        f"data subject {str(d['subject_id'])[:8]}: {d['reason']}",
    ),
    "NomineeCorrected": lambda w, d: w.t(
        f"更正{'姓名' if d['field'] == 'name' else '职务'}：{d['reason']}",
        f"{d['field']} corrected: {d['reason']}",
    ),
    "ExpiredPersonalDataShredded": lambda w, d: w.t(
        f"保存期满删除 {len(d.get('subjects', []))} 名数据主体的个人信息",
        f"personal data of {len(d.get('subjects', []))} data subject(s) past retention shredded",
    ),
    "UnitNominationsClosed": lambda w, d: w.t(
        f"{w.round(d['round_id'])} {d['unit_code']}，共 {len(d.get('nominations', []))} 项提名",
        f"{w.round(d['round_id'])} {d['unit_code']}, {len(d.get('nominations', []))} nomination(s)",
    ),
    "CandidateRecorded": lambda w, d: (
        f"{w.person(d['candidate'])} · {w.flower(d['candidate']['category'])}"
    ),
    "UnitWindowRecorded": lambda w, d: (
        w.t(
            f"{d['unit_code']} 补报至 {w.when(d['open_until'])}",
            f"{d['unit_code']} until {w.when(d['open_until'])}",
        )
        if d.get("open_until")
        else w.t(f"{d['unit_code']} 补报已截止", f"{d['unit_code']} closed")
    ),
    "NominationAccepted": lambda w, d: w.flower(d["category"]),
    "NominationRejected": lambda w, d: f"{w.flower(d['category'])}：{d['reason']}",
    "PanelistAssigned": lambda w, d: f"{d['name']}（{d['employee_no']}）",
    "PanelistRemoved": lambda w, d: str(d.get("reason", "")),
    "PanelistReminded": lambda w, d: w.t(
        f"待评 {d['waiting']} 份，提醒于 {w.when(d['reminded_at'])}",
        f"{d['waiting']} waiting, reminded {w.when(d['reminded_at'])}",
    ),
    "ScoreSubmitted": lambda w, d: w.t(
        f"{w.flower(d['category'])} · 总分 {score_text(d['total'])}",
        f"{w.flower(d['category'])} · total {score_text(d['total'])}",
    ),
    "NominationVetoed": lambda w, d: f"{w.flower(d['category'])}：{d['reason']}",
    "WinnersDecided": lambda w, d: w.t(
        f"{w.round(d['round_id'])} {w.flower(d['category'])}，{len(d['winners'])} 名",
        f"{w.round(d['round_id'])} {w.flower(d['category'])}, {len(d['winners'])}",
    ),
    "PublicNoticeStarted": lambda w, d: w.t(
        f"{w.round(d['round_id'])} 第 {d['notice_no']} 次公示，至 {w.when(d['ends_at'])}",
        f"{w.round(d['round_id'])} notice {d['notice_no']}, until {w.when(d['ends_at'])}",
    ),
    "ObjectionRaised": lambda w, d: w.t(
        f"第 {d['objection_no']} 号异议 · {w.flower(d['category'])}",
        f"objection {d['objection_no']} · {w.flower(d['category'])}",
    ),
    "ObjectionNoteRecorded": lambda w, d: w.t(
        f"第 {d['objection_no']} 号异议：{d['note']}", f"objection {d['objection_no']}: {d['note']}"
    ),
    "ObjectionResolved": lambda w, d: w.t(
        f"第 {d['objection_no']} 号异议{w.outcome(d['outcome'])}：{d['resolution']}",
        f"objection {d['objection_no']} {w.outcome(d['outcome'])}: {d['resolution']}",
    ),
    "WinnerRemoved": lambda w, d: f"{w.flower(d['category'])}：{d['reason']}",
    "ReplacementNamed": lambda w, d: w.flower(d["category"]),
    "ResultPublished": lambda w, d: w.t(
        f"{w.round(d['round_id'])}，{len(d['winners'])} 名",
        f"{w.round(d['round_id'])}, {len(d['winners'])} winner(s)",
    ),
    "WinnerRevoked": lambda w, d: f"{d['name']} · {w.flower(d['category'])}：{d['reason']}",
    "AwardGranted": lambda w, d: (
        f"{d['name']}（{d['unit_name']}）· {w.flower(d['category'])} · {w.money(d['amount'])}"
    ),
    "PayrollAdjustmentIssued": lambda w, d: f"{d['name']} · {w.money(d['amount'])} · {d['period']}",
    "AwardRevoked": lambda w, d: f"{d['name']} · {w.flower(d['category'])}：{d['reason']}",
    "PayrollAdjustmentReversed": lambda w, d: (
        f"{d['name']} · {w.money(d['amount'])} · {d['period']}"
    ),
    "PayrollAdjustmentAcknowledged": lambda w, d: (
        f"{w.money(d['amount'])} · {d['period']}"
        + (f" · {d['payroll_reference']}" if d.get("payroll_reference") else "")
    ),
    "MaterialsDrafted": lambda w, d: w.round(d["round_id"]),
    "MaterialEdited": lambda w, d: w.t(f"第 {d['revision']} 稿", f"revision {d['revision']}"),
    "MaterialApproved": lambda w, d: w.t(f"第 {d['revision']} 稿", f"revision {d['revision']}"),
    "MaterialPublished": lambda w, d: w.t(f"第 {d['revision']} 稿", f"revision {d['revision']}"),
    "WinnerRevocationRecorded": lambda w, d: f"{d['name']}：{d['reason']}",
    "HonorRollUpdated": lambda w, d: str(d.get("reason", "")),
    "MaterialRevised": lambda w, d: str(d.get("reason", "")),
    "CorrectionDrafted": lambda w, d: w.round(d["round_id"]),
    "CorrectionNoteDrafted": lambda w, d: str(d.get("content", {}).get("title", "")),
    "WinnerPhotoAttached": lambda w, d: w.round(d["round_id"]),
    "NotificationIssued": lambda w, d: f"{d['recipient']}：{d['title']}",
    "DeliveryAttempted": lambda w, d: (
        f"{d['channel']} → {d['target']} · "
        + w.t(f"第 {d['attempt']} 次", f"attempt {d['attempt']}")
        + (f" · {d['error']}" if d.get("error") else "")
    ),
    "NotificationDelivered": lambda w, d: f"{d['channel']} → {d['target']}",
    "DeliveryDeadLettered": lambda w, d: f"{d['channel']} → {d['target']} · {d['error']}",
}


def summary(event_type: str, data: Mapping[str, Any] | None, locale: str) -> str:
    """One line saying what the event records; "" when the type or its fields are unknown."""
    describe = SUMMARIES.get(event_type)
    if describe is None or not isinstance(data, Mapping):
        return ""
    try:
        return describe(_Words(locale), data)
    except (KeyError, TypeError, ValueError, AttributeError):
        return ""  # an older or newer schema: the label and the raw JSON still say it
