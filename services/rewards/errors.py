"""The rewards service's refusals: one class per rule, each a code, an HTTP status and two
message templates (Chinese and English) filled from its details."""

from __future__ import annotations

from typing import ClassVar

from shared.errors import TemplatedError


class RewardsError(TemplatedError):
    """A refused rewards command; subclasses fix the code and the two messages."""

    code: ClassVar[str] = "rewards_error"


class NotPayroll(RewardsError):
    code = "not_payroll"
    status = 403
    message_zh_template = "只有薪酬（财务）人员可以确认工资调整"
    message_en_template = "Only payroll (Finance) may acknowledge payroll adjustments"


class PeriodRequired(RewardsError):
    code = "period_required"
    status = 422
    message_zh_template = "未找到调整单 {adjustment_id}，确认时须写明工资期间和金额"
    message_en_template = (
        "No adjustment {adjustment_id} was issued: give the period and the amount applied"
    )


class AcknowledgementConflict(RewardsError):
    code = "acknowledgement_conflict"
    status = 409
    message_zh_template = (
        "调整单 {adjustment_id} 已确认（{period}，{amount} {currency}），与本次确认不符"
    )
    message_en_template = (
        "Adjustment {adjustment_id} was already acknowledged ({period}, {amount} {currency}) "
        "differently"
    )


class AwardNotGranted(RewardsError):
    """A revocation arrived before its award: retried later by the consumer."""

    code = "award_not_granted"
    status = 409
    message_zh_template = "尚未发放奖励 {award_id}，无法撤销"
    message_en_template = "Award {award_id} has not been granted yet: it cannot be revoked"
