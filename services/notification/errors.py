"""The notification service's refusals."""

from __future__ import annotations

from typing import ClassVar

from shared.errors import TemplatedError


class NotificationError(TemplatedError):
    code: ClassVar[str] = "notification_error"


class NotificationNotFound(NotificationError):
    code = "notification_not_found"
    status = 404
    message_zh_template = "找不到该通知（{notification_id}）"
    message_en_template = "No such notification ({notification_id})"


class InvalidPreferences(NotificationError):
    code = "invalid_preferences"
    status = 422
    message_zh_template = "通知设置有误：{reason}"
    message_en_template = "Notification settings refused: {reason}"
