"""Payroll periods, the wording of adjustments and the CSV payroll opens in Excel — all pure.

Period rule (DOMAIN.md "Rewards and payroll", SEED R7): an adjustment belongs to the month
of its basis instant in Asia/Shanghai (the result's publication, or the revocation); from
the day after the cut-off day (default the 20th) on, to the next month; December rolls into
January of the next year. The cut-off is a calendar day, not a working day.

Open period: a period is *open* until payroll acknowledges any adjustment in it (its
acknowledgement stream `payroll-period-<YYYY-MM>` is empty); the first acknowledgement
closes it for good. A new adjustment — an award's or a reversal's — goes into the first
open period at or after the period its basis instant falls in; nothing is ever put into,
or changed in, a period payroll has begun to apply.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from shared.clock import SHANGHAI
from shared.contracts.common import Category
from shared.contracts.rewards import PayrollLine, business_no
from shared.rounds import RoundPeriod

CsvEncoding = Literal["utf-8-sig", "gbk"]
CSV_ENCODINGS: tuple[CsvEncoding, ...] = ("utf-8-sig", "gbk")


@dataclass(frozen=True, order=True)
class PayrollPeriod:
    """A payroll month."""

    year: int
    month: int

    def __post_init__(self) -> None:
        if not 1 <= self.month <= 12:
            raise ValueError(f"month {self.month} out of range")
        if not 1000 <= self.year <= 9999:
            raise ValueError(f"year {self.year} out of range")

    @classmethod
    def parse(cls, value: str) -> PayrollPeriod:
        """`2026-12`."""
        year, sep, month = value.partition("-")
        if (
            not sep
            or len(year) != 4
            or len(month) != 2
            or not (year + month).isdigit()
            or not 1 <= int(month) <= 12
        ):
            raise ValueError(f"{value!r} is not a payroll period (expected YYYY-MM, e.g. 2026-12)")
        return cls(int(year), int(month))

    @classmethod
    def containing(cls, at: datetime, cutoff_day: int) -> PayrollPeriod:
        """The period of an instant: its Shanghai month, or the next one after the cut-off day."""
        if at.tzinfo is None:
            raise ValueError("a payroll instant must be timezone-aware")
        if not 1 <= cutoff_day <= 28:
            raise ValueError("the payroll cut-off day must be 1..28")
        local = at.astimezone(SHANGHAI)
        period = cls(local.year, local.month)
        return period.next() if local.day > cutoff_day else period

    @property
    def id(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"

    def __str__(self) -> str:
        return self.id

    @property
    def label_zh(self) -> str:
        return f"{self.year}年{self.month}月"

    def next(self) -> PayrollPeriod:
        return (
            PayrollPeriod(self.year + 1, 1)
            if self.month == 12
            else PayrollPeriod(self.year, self.month + 1)
        )


def payroll_period_for(at: datetime, cutoff_day: int) -> PayrollPeriod:
    return PayrollPeriod.containing(at, cutoff_day)


def first_open_period(earliest: PayrollPeriod, closed: Collection[str]) -> PayrollPeriod:
    """The first period at or after `earliest` that payroll has not closed (acknowledged in)."""
    period = earliest
    while period.id in closed:
        period = period.next()
    return period


# --- Wording ---------------------------------------------------------------------------------


def award_description(round_id: str, category: Category, award_name_zh: str) -> str:
    """`2026年第四季度 拼搏之花 特殊贡献奖`."""
    return f"{RoundPeriod.parse(round_id).label_zh} {category.label_zh} {award_name_zh}"


def reversal_description(round_id: str, category: Category, award_name_zh: str) -> str:
    """`冲销：2026年第四季度 拼搏之花 特殊贡献奖（荣誉撤销）`."""
    return f"冲销：{award_description(round_id, category, award_name_zh)}（荣誉撤销）"


KIND_LABELS_ZH = {"award": "发放", "reversal": "冲销"}
TAX_LABELS_ZH = {"taxable_earning": "并入当月工资计税"}


# --- CSV for payroll (opens in Excel in Chinese) ---------------------------------------------

CSV_HEADER: tuple[str, ...] = (
    "序号",
    "调整单号",
    "工资期间",
    "工号",
    "姓名",
    "单位编码",
    "单位",
    "类型",
    "金额",
    "币种",
    "项目代码",
    "摘要",
    "计税方式",
    "冲销的调整单号",
    "奖励编号",
    "评选轮次",
    "花类",
    "业务单号",
)


class NotEncodable(ValueError):
    """A character the chosen encoding cannot hold (GBK lacks some rare name characters)."""

    def __init__(self, encoding: str, row: int, column: str, char: str) -> None:
        super().__init__(
            f"{encoding} cannot encode {char!r} (U+{ord(char):04X}) in row {row}, column "
            f"{column}: export with utf-8-sig instead"
        )
        self.encoding = encoding
        self.row = row
        self.column = column
        self.char = char


def _cell(value: str) -> str:
    """Text that Excel would read as a formula is quoted (CSV injection)."""
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


def csv_rows(lines: Sequence[PayrollLine]) -> list[list[str]]:
    """The table, header first, in feed order."""
    rows = [list(CSV_HEADER)]
    for number, line in enumerate(lines, start=1):
        rows.append(
            [
                str(number),
                str(line.adjustment_id),
                line.period,
                _cell(line.employee_no),
                _cell(line.name),
                _cell(line.unit_code),
                _cell(line.unit_name),
                KIND_LABELS_ZH[line.kind],
                f"{line.amount:.2f}",
                line.currency,
                _cell(line.reason_code),
                _cell(line.description_zh),
                TAX_LABELS_ZH[line.tax_treatment],
                str(line.reverses_adjustment_id or ""),
                str(line.award_id),
                RoundPeriod.parse(line.round_id).label_zh,
                line.category_zh,
                business_no(line.period, line.position),
            ]
        )
    return rows


def render_csv(lines: Sequence[PayrollLine], encoding: CsvEncoding = "utf-8-sig") -> bytes:
    """CRLF-terminated CSV; utf-8-sig carries a BOM so Excel reads it as UTF-8, gbk is ANSI."""
    if encoding not in CSV_ENCODINGS:
        raise ValueError(f"encoding must be one of {', '.join(CSV_ENCODINGS)}")
    rows = csv_rows(lines)
    if encoding == "gbk":
        for index, row in enumerate(rows):
            for column, value in zip(CSV_HEADER, row, strict=True):
                try:
                    value.encode("gbk")
                except UnicodeEncodeError as exc:
                    raise NotEncodable("gbk", index, column, value[exc.start]) from None
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerows(rows)
    return buffer.getvalue().encode(encoding)


def export_filename(period: str, file_format: Literal["csv", "xlsx"], encoding: str) -> str:
    """`薪酬调整_2026-12_UTF-8.csv`, `薪酬调整_2026-12_GBK.csv`, `薪酬调整_2026-12.xlsx`: the
    name says what opens it, so nobody has to guess the encoding of a CSV."""
    if file_format == "xlsx":
        return f"薪酬调整_{period}.xlsx"
    return f"薪酬调整_{period}_{ENCODING_LABELS[encoding]}.csv"


def export_ascii_filename(period: str, file_format: Literal["csv", "xlsx"], encoding: str) -> str:
    """The same for clients that ignore RFC 5987's `filename*`: `payroll-2026-12-UTF-8.csv`."""
    if file_format == "xlsx":
        return f"payroll-{period}.xlsx"
    return f"payroll-{period}-{ENCODING_LABELS[encoding]}.csv"


ENCODING_LABELS = {"utf-8-sig": "UTF-8", "gbk": "GBK"}


# --- Excel workbook for payroll ----------------------------------------------------------------

XLSX_HEADER: tuple[str, ...] = ("工号", "姓名", "部门", "期间", "项目", "金额", "业务单号")
XLSX_MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def render_xlsx(lines: Sequence[PayrollLine], title: str) -> bytes:
    """One sheet, in feed order: 工号 stored as text (leading zeros kept, never a number),
    金额 as a number shown with two decimals (a reversal negative). No total row: payroll
    systems read every row as an adjustment. Text is stored as text, never as a formula."""
    from openpyxl import Workbook
    from openpyxl.styles import Font

    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = title
    sheet.append(list(XLSX_HEADER))
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    for line in lines:
        sheet.append(
            [
                line.employee_no,
                line.name,
                line.unit_name,
                line.period,
                line.description_zh,
                line.amount,
                business_no(line.period, line.position),
            ]
        )
        row = sheet.max_row
        for cell in sheet[row]:
            if isinstance(cell.value, str):
                cell.data_type = "s"  # openpyxl would take "=..." for a formula
        sheet.cell(row, 1).number_format = "@"
        sheet.cell(row, 4).number_format = "@"
        sheet.cell(row, 6).number_format = "#,##0.00"
    for letter, width in zip("ABCDEFG", (12, 10, 18, 10, 40, 12, 16), strict=True):
        sheet.column_dimensions[letter].width = width
    sheet.freeze_panes = "A2"
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def parse_csv(data: bytes, encoding: CsvEncoding) -> list[list[str]]:
    """Read an export back (tests, and anyone checking a file)."""
    return list(csv.reader(io.StringIO(data.decode(encoding), newline="")))
