"""The nomination service's refusals: one class per rule, each a code, an HTTP status and
two message templates (Chinese and English) filled from its details."""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar

from shared.clock import SHANGHAI, format_zh
from shared.errors import TemplatedError
from shared.rounds import InvalidRoundId, RoundPeriod


class NominationError(TemplatedError):
    """A refused nomination-service command; subclasses fix the code and the two messages."""

    code: ClassVar[str] = "nomination_error"

    @classmethod
    def zh_words(cls, details: dict[str, Any]) -> dict[str, Any]:
        """`{round_zh}`: the round as people name it ("2026年第三季度"), its id if not one;
        `{deadline_zh}`: a deadline in the one Chinese form ("2026年12月25日 23:59")."""
        words: dict[str, Any] = {}
        round_id = details.get("round_id")
        if isinstance(round_id, str):
            try:
                words["round_zh"] = RoundPeriod.parse(round_id).label_zh
            except InvalidRoundId:
                words["round_zh"] = round_id
        deadline = details.get("deadline_local")
        if isinstance(deadline, str):
            try:
                local = datetime.strptime(deadline, LOCAL_FORMAT).replace(tzinfo=SHANGHAI)
            except ValueError:
                words["deadline_zh"] = deadline
            else:
                words["deadline_zh"] = format_zh(local)
        return words


LOCAL_FORMAT = "%Y-%m-%d %H:%M:%S"
"""`deadline_local` in a refusal's details: Beijing time, to the second (machines read it)."""


class NotANominator(NominationError):
    code = "not_a_nominator"
    status = 403
    message_zh_template = "只有单位提名人可以提名"
    message_en_template = "Only a unit nominator may nominate"


class NotOwnUnit(NominationError):
    code = "not_own_unit"
    status = 403
    message_zh_template = "提名人只能为本单位（{actor_unit_code}）提名，不能为 {unit_code} 提名"
    message_en_template = (
        "A nominator acts for their own unit only ({actor_unit_code}), not for {unit_code}"
    )


class NotOffice(NominationError):
    code = "not_office"
    status = 403
    message_zh_template = "只有评选活动领导小组办公室可以执行此操作"
    message_en_template = "Only the leadership group's office may do this"


class UnitNotFound(NominationError):
    code = "unit_not_found"
    status = 404
    message_zh_template = "单位 {unit_code} 不存在"
    message_en_template = "There is no unit {unit_code}"


class EmployeeNotFound(NominationError):
    code = "employee_not_found"
    status = 404
    message_zh_template = "职工 {employee_no} 不在职工名册中"
    message_en_template = "Employee {employee_no} is not in the directory"


class NoPersonalData(NominationError):
    code = "no_personal_data"
    status = 404
    message_zh_template = "没有职工 {employee_no} 的个人信息（从未记录，或已删除）"
    message_en_template = (
        "No personal data of employee {employee_no} is held (never recorded, or erased)"
    )


class LegalHold(NominationError):
    """A person with payroll facts still inside their legal retention period: their key
    must stay (会计档案管理办法, 30 years counted from the end of the accounting year)."""

    code = "legal_hold"
    status = 409
    message_zh_template = (
        "职工 {employee_no} 有获奖发放的工资记录，依《会计档案管理办法》须保存 {years} 年，"
        "至 {hold_ends_year} 年 12 月 31 日止；保存期满前不能删除其个人信息"
    )
    message_en_template = (
        "Employee {employee_no} has award payroll records that the Accounting Archives "
        "Regulations (会计档案管理办法) require keeping for {years} years, until the end of "
        "{hold_ends_year}: their personal data cannot be erased before then"
    )


class EmployeeInactive(NominationError):
    code = "employee_inactive"
    message_zh_template = "职工 {employee_no} 已不在岗，不能被提名"
    message_en_template = "Employee {employee_no} is no longer active and cannot be nominated"


class EmployeeNotInUnit(NominationError):
    code = "employee_not_in_unit"
    message_zh_template = "职工 {employee_no} 不属于单位 {unit_code}"
    message_en_template = "Employee {employee_no} does not belong to unit {unit_code}"


class QuotaExceeded(NominationError):
    code = "quota_exceeded"
    message_zh_template = "本单位本轮「{category_zh}」的提名名额（{quota} 名）已用完"
    message_en_template = "The unit's quota for the {category_en} this round ({quota}) is used up"


class AlreadyNominated(NominationError):
    code = "already_nominated"
    message_zh_template = "职工 {employee_no} 本轮已被提名，每人每轮只能被提名一次"
    message_en_template = "Employee {employee_no} is already nominated this round (once per round)"


class InCooldown(NominationError):
    code = "cooldown"
    message_zh_template = (
        "职工 {employee_no} 在 {won_round_id} 已获「{category_zh}」，冷却期内不能再提名"
    )
    message_en_template = (
        "Employee {employee_no} won the {category_en} in {won_round_id}: "
        "not again within the cooldown"
    )


class DeedsLength(NominationError):
    code = "deeds_length"
    status = 422
    message_zh_template = "事迹应为 {min} 至 {max} 字（现为 {length} 字）"
    message_en_template = "Deeds must be {min} to {max} characters long (they are {length})"


class InvalidLink(NominationError):
    code = "invalid_link"
    status = 422
    message_zh_template = "证明材料链接须为 http 或 https 网址：{link}"
    message_en_template = "Evidence links must be http or https URLs: {link}"


class RecommendationRequired(NominationError):
    code = "recommendation_required"
    status = 422
    message_zh_template = "请填写单位推荐意见"
    message_en_template = "The unit's recommendation opinion is required"


class ReasonRequired(NominationError):
    code = "reason_required"
    status = 422
    message_zh_template = "请填写原因"
    message_en_template = "A reason is required"


class DeadlinePassed(NominationError):
    code = "deadline_passed"
    message_zh_template = "{round_zh}的提名截止时间（{deadline_zh}）已过"
    message_en_template = "The nomination deadline of {round_id} ({deadline_local}) has passed"


class RoundClosed(NominationError):
    code = "round_closed"
    message_zh_template = "{round_zh}的提名已截止"
    message_en_template = "Nominations for {round_id} are closed"


class RoundNotClosed(NominationError):
    code = "round_not_closed"
    status = 409
    message_zh_template = "{round_zh}的提名尚未截止：请延长该单位的截止时间，而不是重新开放"
    message_en_template = (
        "Nominations for {round_id} are not closed: extend the unit's deadline instead"
    )


class AuditStarted(NominationError):
    code = "audit_started"
    status = 409
    message_zh_template = "{round_zh}的审核已经开始，不能再为单位重新开放提名"
    message_en_template = "The office has begun auditing {round_id}: no unit can be let in again"


class RoundNotOpen(NominationError):
    code = "round_not_open"
    message_zh_template = "{round_zh}尚未开放提名"
    message_en_template = "Round {round_id} is not open for nominations"


class RoundExists(NominationError):
    code = "round_exists"
    message_zh_template = "{round_zh}已开放过"
    message_en_template = "Round {round_id} has already been opened"


class CadenceMismatch(NominationError):
    code = "cadence_mismatch"
    status = 422
    message_zh_template = "轮次{round_zh}与当前评选周期（{cadence}）不符"
    message_en_template = "Round {round_id} does not fit the configured cadence ({cadence})"


class DeadlineInPast(NominationError):
    code = "deadline_in_past"
    status = 422
    message_zh_template = "截止时间（{deadline_zh}）已过，不能开放该轮次"
    message_en_template = (
        "The deadline ({deadline_local}) has already passed: cannot open the round"
    )


class ExtensionNotLater(NominationError):
    code = "extension_not_later"
    status = 422
    message_zh_template = "新的截止时间须晚于现截止时间（{deadline_zh}）和当前时间"
    message_en_template = (
        "The new deadline must be later than the current one ({deadline_local}) and than now"
    )


class NominationNotFound(NominationError):
    code = "nomination_not_found"
    status = 404
    message_zh_template = "{round_zh}中没有提名 {nomination_id}"
    message_en_template = "There is no nomination {nomination_id} in {round_id}"


class NominationAlreadyWithdrawn(NominationError):
    code = "nomination_withdrawn"
    message_zh_template = "提名 {nomination_id} 已撤回"
    message_en_template = "Nomination {nomination_id} has been withdrawn"


class NominationWasRejected(NominationError):
    code = "nomination_rejected"
    message_zh_template = "该提名已被驳回，不能再修改；名额已释放，可重新提名"
    message_en_template = (
        "Nomination {nomination_id} was rejected and can no longer be amended; "
        "its place is free for a new nomination"
    )


class NominationExists(NominationError):
    code = "nomination_exists"
    message_zh_template = "提名编号 {nomination_id} 已被另一提名使用"
    message_en_template = "Nomination id {nomination_id} is already used by another nomination"


class InvalidDirectory(NominationError):
    code = "invalid_directory"
    status = 422
    message_zh_template = "名册数据有误：{problem_zh}"
    message_en_template = "The directory rows are inconsistent: {problem_en}"


class ResultAlreadyPublished(NominationError):
    code = "result_published"
    status = 409
    message_zh_template = "{round_zh}结果已公布，不能再更改公开同意"
    message_en_template = "The result of {round_id} is published; consent can no longer change"
