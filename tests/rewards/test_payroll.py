"""Payroll periods, wording and the CSV, as tables: no servers."""

from __future__ import annotations

import io
import uuid
from datetime import UTC, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from openpyxl import load_workbook

from services.rewards.payroll import (
    CSV_HEADER,
    XLSX_HEADER,
    NotEncodable,
    PayrollPeriod,
    award_description,
    export_ascii_filename,
    export_filename,
    first_open_period,
    parse_csv,
    render_csv,
    render_xlsx,
    reversal_description,
)
from shared.contracts.common import Category
from shared.contracts.rewards import PayrollLine

SH = ZoneInfo("Asia/Shanghai")


@pytest.mark.parametrize(
    ("published_at", "cutoff_day", "period"),
    [
        # The month of publication, up to and including the cut-off day …
        (datetime(2026, 11, 1, 0, 0, tzinfo=SH), 20, "2026-11"),
        (datetime(2026, 11, 20, 23, 59, 59, tzinfo=SH), 20, "2026-11"),
        # … from the next day on, the next month.
        (datetime(2026, 11, 21, 0, 0, tzinfo=SH), 20, "2026-12"),
        (datetime(2026, 11, 30, 23, 59, 59, tzinfo=SH), 20, "2026-12"),
        # December rolls into January of the next year.
        (datetime(2026, 12, 20, 18, 0, tzinfo=SH), 20, "2026-12"),
        (datetime(2026, 12, 21, 9, 0, tzinfo=SH), 20, "2027-01"),
        (datetime(2026, 12, 31, 23, 59, 59, tzinfo=SH), 20, "2027-01"),
        (datetime(2027, 1, 1, 0, 0, tzinfo=SH), 20, "2027-01"),
        # Month ends: short months, leap years, a cut-off on the 28th.
        (datetime(2026, 2, 28, 12, 0, tzinfo=SH), 28, "2026-02"),
        (datetime(2028, 2, 29, 12, 0, tzinfo=SH), 28, "2028-03"),
        (datetime(2026, 1, 31, 12, 0, tzinfo=SH), 20, "2026-02"),
        (datetime(2026, 4, 30, 12, 0, tzinfo=SH), 28, "2026-05"),
        (datetime(2026, 6, 1, 0, 0, tzinfo=SH), 1, "2026-06"),
        (datetime(2026, 6, 2, 0, 0, tzinfo=SH), 1, "2026-07"),
        # The calendar day is Shanghai's, whatever zone the instant is written in.
        (datetime(2026, 11, 20, 15, 59, 59, tzinfo=UTC), 20, "2026-11"),  # 23:59:59 in Shanghai
        (datetime(2026, 11, 20, 16, 0, 0, tzinfo=UTC), 20, "2026-12"),  # 00:00 on the 21st
        (datetime(2026, 12, 31, 16, 0, 0, tzinfo=UTC), 20, "2027-01"),  # new year in Shanghai
        (datetime(2026, 10, 31, 16, 30, tzinfo=UTC), 20, "2026-11"),  # 1 Nov 00:30 in Shanghai
    ],
)
def test_an_award_is_paid_in_the_month_published_or_the_next_after_the_cutoff(
    published_at: datetime, cutoff_day: int, period: str
) -> None:
    assert PayrollPeriod.containing(published_at, cutoff_day).id == period


def test_a_period_needs_an_aware_instant_and_a_cutoff_every_month_has() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        PayrollPeriod.containing(datetime(2026, 11, 1), 20)
    with pytest.raises(ValueError, match=r"1\.\.28"):
        PayrollPeriod.containing(datetime(2026, 11, 1, tzinfo=SH), 30)


@pytest.mark.parametrize(
    ("earliest", "closed", "open_period"),
    [
        ("2026-11", set(), "2026-11"),
        ("2026-11", {"2026-10"}, "2026-11"),
        ("2026-11", {"2026-11"}, "2026-12"),
        ("2026-11", {"2026-11", "2026-12"}, "2027-01"),
        ("2026-12", {"2026-12"}, "2027-01"),
        ("2026-12", {"2026-12", "2027-02"}, "2027-01"),
    ],
)
def test_the_next_open_period_skips_every_period_payroll_has_acknowledged(
    earliest: str, closed: set[str], open_period: str
) -> None:
    assert first_open_period(PayrollPeriod.parse(earliest), closed).id == open_period


@pytest.mark.parametrize("bad", ["2026-13", "2026-00", "2026-1", "26-01", "2026/01", "2026-Q4"])
def test_a_payroll_period_is_a_month(bad: str) -> None:
    with pytest.raises(ValueError, match="payroll period"):
        PayrollPeriod.parse(bad)


def test_periods_read_in_chinese_and_follow_each_other() -> None:
    assert PayrollPeriod.parse("2026-12").label_zh == "2026年12月"
    assert PayrollPeriod.parse("2026-12").next().id == "2027-01"
    assert PayrollPeriod.parse("2026-09").next().id == "2026-10"


def test_the_adjustment_describes_round_flower_and_award_in_chinese() -> None:
    assert (
        award_description("2026-Q4", Category.STRIVING, "特殊贡献奖")
        == "2026年第四季度 拼搏之花 特殊贡献奖"
    )
    assert award_description("2026-11", Category.REFORM, "特殊贡献奖") == (
        "2026年11月 改革之花 特殊贡献奖"
    )
    assert reversal_description("2026-Q4", Category.DEDICATION, "特殊贡献奖") == (
        "冲销：2026年第四季度 奉献之花 特殊贡献奖（荣誉撤销）"
    )


# --- CSV ------------------------------------------------------------------------------------------


def line(n: int, name: str = "张伟", amount: str = "500.00", **kw: object) -> PayrollLine:
    values: dict[str, object] = {
        "position": n,
        "adjustment_id": uuid.UUID(int=n),
        "kind": "award",
        "award_id": uuid.UUID(int=1000 + n),
        "round_id": "2026-Q4",
        "category": Category.STRIVING,
        "category_zh": "拼搏之花",
        "employee_no": f"E{n:04d}",
        "name": name,
        "unit_code": "PS",
        "unit_name": "物业服务中心",
        "amount": Decimal(amount),
        "currency": "CNY",
        "period": "2026-12",
        "reason_code": "FLOWER_AWARD",
        "description_zh": "2026年第四季度 拼搏之花 特殊贡献奖",
        "issued_at": datetime(2026, 12, 1, tzinfo=SH),
        **kw,
    }
    return PayrollLine.model_validate(values)


LINES = [
    line(1, "张伟"),
    line(2, "欧阳娜娜"),
    line(
        3,
        "李静",
        "-500.00",
        kind="reversal",
        reverses_adjustment_id=uuid.UUID(int=9),
        reason_code="FLOWER_AWARD_REVERSAL",
        description_zh="冲销：2026年第四季度 拼搏之花 特殊贡献奖（荣誉撤销）",
    ),
]


@pytest.mark.parametrize("encoding", ["utf-8-sig", "gbk"])
def test_the_export_reads_back_with_the_same_chinese_text(encoding: str) -> None:
    data = render_csv(LINES, encoding)  # type: ignore[arg-type]
    rows = parse_csv(data, encoding)  # type: ignore[arg-type]
    assert tuple(rows[0]) == CSV_HEADER
    assert [r[4] for r in rows[1:]] == ["张伟", "欧阳娜娜", "李静"]
    assert rows[1][6] == "物业服务中心"
    assert rows[1][11] == "2026年第四季度 拼搏之花 特殊贡献奖"
    assert rows[3][7] == "冲销"
    assert rows[3][8] == "-500.00"
    assert rows[3][13] == str(uuid.UUID(int=9))
    assert rows[1][12] == "并入当月工资计税"
    assert rows[1][15] == "2026年第四季度"
    assert rows[1][16] == "拼搏之花"
    assert rows[1][17] == "TZ202612-0001"  # 业务单号
    assert data.endswith(b"\r\n")


def test_the_utf8_export_starts_with_a_bom_so_excel_reads_it_as_utf8() -> None:
    assert render_csv(LINES, "utf-8-sig").startswith(b"\xef\xbb\xbf")
    assert not render_csv(LINES, "gbk").startswith(b"\xef\xbb\xbf")
    assert "张伟".encode("gbk") in render_csv(LINES, "gbk")


def test_a_name_gbk_cannot_hold_is_refused_rather_than_garbled() -> None:
    rare = [line(1, "王𠮷")]  # U+20BB7, outside GBK
    with pytest.raises(NotEncodable) as caught:
        render_csv(rare, "gbk")
    assert caught.value.row == 1
    assert caught.value.column == "姓名"
    assert parse_csv(render_csv(rare, "utf-8-sig"), "utf-8-sig")[1][4] == "王𠮷"


def test_text_that_excel_would_run_as_a_formula_is_quoted() -> None:
    rows = parse_csv(render_csv([line(1, "=HYPERLINK(1)")], "utf-8-sig"), "utf-8-sig")
    assert rows[1][4] == "'=HYPERLINK(1)"


def test_the_workbook_keeps_employee_numbers_as_text_and_amounts_as_numbers() -> None:
    lines = [line(1, "张伟", employee_no="007"), *LINES[1:], line(4, "=HYPERLINK(1)")]
    sheet = load_workbook(io.BytesIO(render_xlsx(lines, title="2026年12月"))).worksheets[0]
    assert sheet.title == "2026年12月"
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0] == XLSX_HEADER
    assert rows[1] == (
        "007",
        "张伟",
        "物业服务中心",
        "2026-12",
        "2026年第四季度 拼搏之花 特殊贡献奖",
        500,
        "TZ202612-0001",
    )
    assert rows[3][5] == -500
    assert rows[3][4] == "冲销：2026年第四季度 拼搏之花 特殊贡献奖（荣誉撤销）"
    assert sheet["F2"].number_format == "#,##0.00"
    assert sheet["A2"].data_type == "s"
    assert sheet["B5"].data_type == "s"  # stored as text, not run as a formula
    assert rows[4][1] == "=HYPERLINK(1)"


def test_the_file_name_says_what_opens_it() -> None:
    assert export_filename("2026-12", "csv", "utf-8-sig") == "薪酬调整_2026-12_UTF-8.csv"
    assert export_filename("2026-12", "csv", "gbk") == "薪酬调整_2026-12_GBK.csv"
    assert export_filename("2026-12", "xlsx", "utf-8-sig") == "薪酬调整_2026-12.xlsx"
    assert export_ascii_filename("2026-12", "csv", "gbk") == "payroll-2026-12-GBK.csv"
