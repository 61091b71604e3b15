"""The publicity service's refusals: one class per rule, each a code, an HTTP status and
two message templates (Chinese and English) filled from its details."""

from __future__ import annotations

from typing import ClassVar

from shared.errors import TemplatedError


class PublicityError(TemplatedError):
    """A refused publicity command; subclasses fix the code and the two messages."""

    code: ClassVar[str] = "publicity_error"


class NotPublicity(PublicityError):
    code = "not_publicity"
    status = 403
    message_zh_template = "只有党群工作部（宣传）可以编辑、审核和发布宣传材料"
    message_en_template = "Only the publicity role may edit, approve and publish materials"


class MaterialNotFound(PublicityError):
    code = "material_not_found"
    status = 404
    message_zh_template = "找不到该宣传材料（{material_id}）"
    message_en_template = "No such material ({material_id})"


class StaleRevision(PublicityError):
    code = "stale_revision"
    message_zh_template = (
        "材料已被修改（当前为第 {revision} 版，您看到的是第 {expected} 版），请刷新后再操作"
    )
    message_en_template = (
        "The material changed meanwhile (now revision {revision}, you saw {expected}); reload"
    )


class AlreadyPublished(PublicityError):
    code = "already_published"
    message_zh_template = "该版本已发布，不能再修改；如需更正请发布更正说明"
    message_en_template = "This revision is published and cannot change; publish a correction"


class NotApproved(PublicityError):
    code = "not_approved"
    message_zh_template = "材料尚未审核通过，不能发布"
    message_en_template = "The material is not approved and cannot be published"


class ChannelNotAllowed(PublicityError):
    code = "channel_not_allowed"
    status = 422
    message_zh_template = "{kind_zh}不能在“{channel_zh}”发布"
    message_en_template = "A {kind} is not published on channel {channel}"


class UnknownSection(PublicityError):
    code = "unknown_section"
    status = 422
    message_zh_template = "该材料中没有这位获奖职工（{nomination_id}）"
    message_en_template = "The material features no winner {nomination_id}"


class FieldNotForKind(PublicityError):
    code = "field_not_for_kind"
    status = 422
    message_zh_template = "{kind_zh}没有“{field_zh}”这一项"
    message_en_template = "A {kind} has no {field}"


class CaptionTooLong(PublicityError):
    code = "caption_too_long"
    status = 422
    message_zh_template = "字幕最多 {max} 个字（现为 {length} 个字）"
    message_en_template = "A caption has at most {max} characters (this one has {length})"


class DurationOutOfRange(PublicityError):
    code = "duration_out_of_range"
    status = 422
    message_zh_template = "片段时长应为 {min} 至 {max} 秒（现为 {value} 秒）"
    message_en_template = "A segment lasts {min} to {max} seconds (not {value})"


class EmptyText(PublicityError):
    code = "empty_text"
    status = 422
    message_zh_template = "“{field_zh}”不能为空"
    message_en_template = "{field} must not be empty"


class NotAStoryboard(PublicityError):
    code = "not_a_storyboard"
    status = 422
    message_zh_template = "只有会议短视频脚本可以生成视频"
    message_en_template = "Only a meeting video storyboard renders to a video"


class StoryboardNotApproved(PublicityError):
    code = "storyboard_not_approved"
    message_zh_template = "分镜脚本审核通过后才能生成视频"
    message_en_template = "The storyboard must be approved before its video is rendered"


class NotPublished(PublicityError):
    code = "not_published"
    message_zh_template = "只有已发布的材料才需要更正说明；未发布的草稿请直接修改"
    message_en_template = "Only a published material is corrected; edit a draft instead"


class CorrectionPending(PublicityError):
    code = "correction_pending"
    message_zh_template = "该材料已有一份未发布的更正说明，请先完成它"
    message_en_template = (
        "A correction notice of this material is not published yet; finish it first"
    )


class NotPhotoGiver(PublicityError):
    code = "not_photo_giver"
    status = 403
    message_zh_template = "只有活动领导小组办公室或党群工作部（宣传）可以上传获奖职工照片"
    message_en_template = "Only the office or the publicity role may give winners' photos"


class RoundNotDrafted(PublicityError):
    code = "round_not_drafted"
    status = 404
    message_zh_template = "该轮次尚无宣传材料（评选结果公布后才能上传照片）"
    message_en_template = "No materials for this round yet (photos come after the result)"


class NotAWinner(PublicityError):
    code = "not_a_winner"
    status = 404
    message_zh_template = "该轮次的获奖职工中没有这一位（{nomination_id}）"
    message_en_template = "No winner {nomination_id} in this round"


class WinnerRevokedPhoto(PublicityError):
    code = "winner_revoked"
    message_zh_template = "{name}的荣誉已撤销，不再上传照片"
    message_en_template = "{name}'s award was revoked: no photo is given"


class PhotoRefused(PublicityError):
    code = "photo_refused"
    status = 422
    message_zh_template = "{reason_zh}"
    message_en_template = "{reason_en}"
