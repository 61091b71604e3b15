"""The review's refusals: one class per rule, each a code, an HTTP status and two message
templates (Chinese and English) filled from its details."""

from __future__ import annotations

from typing import Any, ClassVar

from shared.clock import format_zh
from shared.contracts.common import Category
from shared.errors import TemplatedError


class ReviewError(TemplatedError):
    """A refused review command; subclasses fix the code and the two message templates.

    A template may name a flower's labels (`{category.label_zh}`); the details carry its code.
    """

    code: ClassVar[str] = "review_error"
    message_zh_template = "评审操作被拒绝。"
    message_en_template = "The review refused this command."

    def __init__(self, **details: Any) -> None:
        super().__init__(**details)
        self.details = {
            k: v.value if isinstance(v, Category) else v for k, v in self.details.items()
        }


class NotPermitted(ReviewError):
    code = "not_permitted"
    status = 403
    message_zh_template = "您无权{action_zh}。"
    message_en_template = "You are not permitted to {action}."


class WrongRound(ReviewError):
    code = "wrong_round"
    status = 422
    message_zh_template = "该指令属于评选轮次{given}，而不是{expected}。"
    message_en_template = "The command is for round {given}, not {expected}."


class UnknownNomination(ReviewError):
    code = "unknown_nomination"
    status = 404
    message_zh_template = "本轮评审中没有推荐{nomination_id}。"
    message_en_template = "Nomination {nomination_id} is not in this round's review."


class NominationWithdrawn(ReviewError):
    code = "nomination_withdrawn"
    message_zh_template = "推荐{nomination_id}已被撤回。"
    message_en_template = "Nomination {nomination_id} was withdrawn."


class AlreadyAudited(ReviewError):
    code = "already_audited"
    message_zh_template = "推荐{nomination_id}已审核（{audit}）。"
    message_en_template = "Nomination {nomination_id} has already been audited ({audit})."


class NotAccepted(ReviewError):
    code = "not_accepted"
    message_zh_template = "推荐{nomination_id}未通过资格审核。"
    message_en_template = (
        "Nomination {nomination_id} has not been accepted in the eligibility audit."
    )


class AlreadyAssigned(ReviewError):
    code = "already_assigned"
    message_zh_template = "{panelist_id}已是本轮评审组成员。"
    message_en_template = "{panelist_id} is already on this round's panel."


class UnknownPanelist(ReviewError):
    code = "unknown_panelist"
    status = 404
    message_zh_template = "{panelist_id}不是本轮评审组成员。"
    message_en_template = "{panelist_id} is not on this round's panel."


class NothingToScore(ReviewError):
    code = "nothing_to_score"
    message_zh_template = "{name}已没有待评分的提名，无需提醒。"
    message_en_template = "Nothing waits for {name}'s score: no reminder is needed."


class NotAPanelist(ReviewError):
    code = "not_a_panelist"
    status = 403
    message_zh_template = "只有本轮评审组成员才能打分。"
    message_en_template = "Only a member of this round's panel may score."


class ConflictOfInterest(ReviewError):
    code = "conflict_of_interest"
    status = 403
    message_zh_template = "利益冲突：评委不得为{conflict_zh}打分。"
    message_en_template = "Conflict of interest: a panelist may not score {conflict_en}."

    TEXTS: ClassVar[dict[str, tuple[str, str]]] = {
        "own_unit": ("本单位的被推荐人", "a nominee of their own unit"),
        "self": ("自己", "themselves"),
        "submitted_by_panelist": ("自己提交的推荐", "a nomination they submitted"),
    }

    def __init__(self, conflict: str, **details: Any) -> None:
        zh, en = self.TEXTS[conflict]
        super().__init__(conflict=conflict, conflict_zh=zh, conflict_en=en, **details)


class InvalidScore(ReviewError):
    code = "invalid_score"
    status = 422
    message_zh_template = "评分表不符合评分细则：{problem}"
    message_en_template = "The score sheet does not fit the rubric: {problem}"


class RankingFrozen(ReviewError):
    code = "ranking_frozen"
    message_zh_template = "{category.label_zh}的评选结果已决定，排名已冻结。"
    message_en_template = (
        "The winners of {category.label_en} have been decided; its ranking is frozen."
    )


class Vetoed(ReviewError):
    code = "vetoed"
    message_zh_template = "推荐{nomination_id}已被纪检一票否决，不能当选。"
    message_en_template = (
        "Nomination {nomination_id} was vetoed by discipline inspection and cannot win."
    )


class AlreadyVetoed(ReviewError):
    code = "already_vetoed"
    message_zh_template = "推荐{nomination_id}已被否决。"
    message_en_template = "Nomination {nomination_id} has already been vetoed."


class AlreadyDecided(ReviewError):
    code = "already_decided"
    message_zh_template = "{category.label_zh}的评选结果已决定。"
    message_en_template = "The winners of {category.label_en} have already been decided."


class NominationsStillOpen(ReviewError):
    code = "nominations_open"
    message_zh_template = "本轮提名尚未截止：须待各单位的提名全部截止后，才能确定当选人或发布公示。"
    message_en_template = (
        "Nominations for this round are still open: winners can be decided and the notice "
        "started only once every unit's nominations have closed."
    )


class NotDecided(ReviewError):
    code = "not_decided"
    message_zh_template = "{category.label_zh}的评选结果尚未决定。"
    message_en_template = "The winners of {category.label_en} have not been decided yet."


class WrongCategory(ReviewError):
    code = "wrong_category"
    status = 422
    message_zh_template = "推荐{nomination_id}不属于{category.label_zh}。"
    message_en_template = "Nomination {nomination_id} is not in {category.label_en}."


class InsufficientScores(ReviewError):
    code = "insufficient_scores"
    message_zh_template = (
        "推荐{nomination_id}尚未获得{min_scores}个不同部门评委的评分，不能参与排名。"
    )
    message_en_template = (
        "Nomination {nomination_id} lacks scores from {min_scores} different departments"
        " and cannot be ranked."
    )


class QuotaExceeded(ReviewError):
    code = "quota_exceeded"
    message_zh_template = "{category.label_zh}每轮最多评出{quota}名，您选择了{chosen}名。"
    message_en_template = (
        "{category.label_en} has at most {quota} winner(s) per round; {chosen} were chosen."
    )


class ReasonRequired(ReviewError):
    code = "reason_required"
    status = 422
    message_zh_template = "未按排名顺序确定人选，须写明理由。"
    message_en_template = "A choice that departs from the ranking's order needs a written reason."


class NotEligible(ReviewError):
    code = "not_eligible"
    message_zh_template = "推荐{nomination_id}不能作为替补人选（{why_zh}）。"
    message_en_template = "Nomination {nomination_id} cannot be named as a replacement ({why})."


class NothingToAnnounce(ReviewError):
    code = "nothing_to_announce"
    message_zh_template = "没有待公示的评选结果。"
    message_en_template = "There is no decided result waiting to be announced."


class AlreadyAnnounced(ReviewError):
    code = "already_announced"
    message_zh_template = "{category.label_zh}的评选结果已公示。"
    message_en_template = "The result of {category.label_en} has already been announced."


class NoticeNotRunning(ReviewError):
    code = "notice_not_running"
    message_zh_template = "{category.label_zh}不在公示期内，不能提出异议。"
    message_en_template = (
        "{category.label_en} is not in its public notice period: objections are closed."
    )


class NotAWinner(ReviewError):
    code = "not_a_winner"
    message_zh_template = "推荐{nomination_id}不是当选人。"
    message_en_template = "Nomination {nomination_id} is not a winner."


class UnknownObjection(ReviewError):
    code = "unknown_objection"
    status = 404
    message_zh_template = "没有编号为{objection_no}的异议。"
    message_en_template = "There is no objection number {objection_no}."


class ObjectionClosed(ReviewError):
    code = "objection_closed"
    message_zh_template = "异议{objection_no}已处理完毕。"
    message_en_template = "Objection {objection_no} has already been resolved."


class NoVacancy(ReviewError):
    code = "no_vacancy"
    message_zh_template = "{category.label_zh}没有因异议成立而空缺的名额。"
    message_en_template = "{category.label_en} has no place left vacant by an upheld objection."


class NoticeNotStarted(ReviewError):
    code = "notice_not_started"
    message_zh_template = "{category.label_zh}的评选结果尚未公示。"
    message_en_template = "The result of {category.label_en} has not been announced yet."


class NoticeRunning(ReviewError):
    code = "notice_running"
    message_zh_template = "公示期尚未结束（至{ends_at_zh}）。"
    message_en_template = "The public notice is still running (until {ends_at})."

    @classmethod
    def zh_words(cls, details: dict[str, Any]) -> dict[str, Any]:
        """`{ends_at_zh}`: the end in Beijing time ("2026年12月10日 24:00"), else as given."""
        try:
            return {"ends_at_zh": format_zh(details["ends_at"])}
        except (TypeError, ValueError):
            return {"ends_at_zh": details["ends_at"]}


class ObjectionOpen(ReviewError):
    code = "objection_open"
    message_zh_template = "尚有未处理的异议：{objections}。"
    message_en_template = "Objections are still open: {objections}."


class NothingToPublish(ReviewError):
    code = "nothing_to_publish"
    message_zh_template = "本轮尚无已决定的评选结果。"
    message_en_template = "No category of this round has been decided."


class AlreadyPublished(ReviewError):
    code = "already_published"
    message_zh_template = "本轮评选结果已正式发布。"
    message_en_template = "This round's result has already been published."


class NotPublished(ReviewError):
    code = "not_published"
    message_zh_template = "本轮评选结果尚未发布。"
    message_en_template = "This round's result has not been published yet."


class AlreadyRevoked(ReviewError):
    code = "already_revoked"
    message_zh_template = "推荐{nomination_id}的荣誉已撤销。"
    message_en_template = "The award of nomination {nomination_id} has already been revoked."
