"""The auditor's event list in words: every event type has a Chinese name, summaries read
as a sentence, and an unexpected shape never breaks the page."""

from __future__ import annotations

import pytest

from services.gateway.event_words import EVENT_LABELS, event_label, summary
from shared.contracts import nomination, notification, publicity, review, rewards


@pytest.mark.parametrize("contract", [nomination, review, rewards, publicity, notification])
def test_every_published_event_type_has_a_chinese_name(contract: object) -> None:
    types = {m.event_type for m in contract.registry.models}  # type: ignore[attr-defined]
    assert types <= set(EVENT_LABELS), types - set(EVENT_LABELS)


def test_a_summary_reads_as_words_not_values() -> None:
    assert event_label("NominationRejected", "zh-CN") == "审核驳回"
    assert summary(
        "NominationRejected",
        {"category": "striving", "reason": "事迹材料与实际不符", "round_id": "2026-Q3"},
        "zh-CN",
    ) == ("拼搏之花：事迹材料与实际不符")
    assert summary(
        "RoundOpened",
        {"round_id": "2026-Q4", "deadline": "2026-12-25T15:59:59+00:00"},
        "zh-CN",
    ) == ("2026年第四季度，截止 2026年12月25日 23:59")
    assert summary(
        "PayrollAdjustmentIssued",
        {"name": "张伟", "amount": "1500.00", "period": "2026-12"},
        "zh-CN",
    ) == ("张伟 · 1,500.00 元 · 2026-12")


def test_an_unknown_type_or_shape_reads_as_its_label_alone() -> None:
    assert event_label("SomethingNew", "zh-CN") == "SomethingNew"
    assert summary("SomethingNew", {"x": 1}, "zh-CN") == ""
    assert summary("NominationRejected", {"unexpected": True}, "zh-CN") == ""
    assert summary("NominationRejected", None, "zh-CN") == ""
