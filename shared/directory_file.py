"""Reading the HR directory export, writing its template, and telling what an import changed.

The file is a CSV (UTF-8 with or without BOM, or GBK as Excel saves it in Chinese locales)
or an Excel workbook (.xlsx, its first sheet); which one is told by its bytes, not its name.
The header names the columns in Chinese (工号, 姓名, 单位编码, 单位名称, 岗位, 在岗) or in
English (employee_no, name, unit_code, unit_name, position, active), in any order. Every bad
row is reported with its line number and a reason that names the column as HR knows it;
callers apply nothing of a file with errors unless told to skip the bad rows. Used by
`flowers directory import` and the gateway's upload.
"""

from __future__ import annotations

import csv
import io
import zipfile
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

COLUMNS = ("employee_no", "name", "unit_code", "unit_name", "position", "active")
# The column names of the template and of the errors: what HR's own exports call them.
LABELS_ZH: dict[str, str] = {
    "employee_no": "工号",
    "name": "姓名",
    "unit_code": "单位编码",
    "unit_name": "单位名称",
    "position": "岗位",
    "active": "在岗",
}
# Other spellings HR systems use for the same columns.
ALIASES: dict[str, str] = {
    "员工编号": "employee_no",
    "职工编号": "employee_no",
    "单位代码": "unit_code",
    "部门编码": "unit_code",
    "部门代码": "unit_code",
    "部门名称": "unit_name",
    "单位": "unit_name",
    "部门": "unit_name",
    "职务": "position",
    "在职": "active",
    "是否在岗": "active",
    "是否在职": "active",
}
HEADER_NAMES: dict[str, str] = {
    **{c: c for c in COLUMNS},
    **{zh: c for c, zh in LABELS_ZH.items()},
    **ALIASES,
}
TRUE_WORDS = {"1", "true", "yes", "y", "是", "在职", "在岗", "active"}
FALSE_WORDS = {"0", "false", "no", "n", "否", "离职", "离岗", "inactive"}
MAX_FIELD = 100
XLSX_MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
TEMPLATE_EXAMPLE = ("E1001", "张伟", "WY", "物业服务中心", "水电工", "是")


@dataclass(frozen=True)
class RowError:
    line: int
    reason_zh: str
    reason_en: str


@dataclass
class ParsedDirectory:
    encoding: str  # utf-8, utf-8-sig, gbk, or xlsx
    rows: list[dict[str, Any]] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors


def decode(data: bytes) -> tuple[str, str]:
    """The text and the encoding it was in: UTF-8 first, then GBK (GB18030)."""
    if data.startswith(b"\xef\xbb\xbf"):
        return data[3:].decode("utf-8"), "utf-8-sig"
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("gb18030"), "gbk"
    except UnicodeDecodeError as exc:
        raise ValueError("the file is neither UTF-8 nor GBK text") from exc


def is_xlsx(data: bytes) -> bool:
    """An .xlsx is a ZIP archive: it starts with the local file header `PK\\x03\\x04`."""
    return data.startswith(b"PK\x03\x04")


def parse(data: bytes) -> ParsedDirectory:
    """A CSV or .xlsx export; ValueError when it is neither readable text nor a workbook."""
    if is_xlsx(data):
        return _parse_table(_xlsx_lines(data), "xlsx")
    text, encoding = decode(data)
    reader = csv.reader(io.StringIO(text, newline=""))
    return _parse_table(((reader.line_num, row) for row in reader), encoding)


def _xlsx_lines(data: bytes) -> Iterator[tuple[int, list[str]]]:
    from openpyxl import load_workbook

    try:
        book = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, OSError, ValueError) as exc:
        raise ValueError("the file is not a readable .xlsx workbook") from exc
    try:
        sheet = book.worksheets[0]
        for number, cells in enumerate(sheet.iter_rows(values_only=True), start=1):
            yield number, [_text(cell) for cell in cells]
    finally:
        book.close()


def _text(cell: object) -> str:
    """A cell as the text HR typed: 1001 (a number Excel stored) reads as "1001"."""
    if cell is None:
        return ""
    if isinstance(cell, bool):
        return "是" if cell else "否"
    if isinstance(cell, float) and cell.is_integer():
        return str(int(cell))
    if isinstance(cell, datetime | date):
        return cell.isoformat()
    return str(cell)


def _parse_table(lines: Iterable[tuple[int, list[str]]], encoding: str) -> ParsedDirectory:
    result = ParsedDirectory(encoding)
    iterator = iter(lines)
    first = next(iterator, None)
    if first is None:
        result.errors.append(RowError(1, "文件为空。", "The file is empty."))
        return result
    header_line, header = first
    names = [HEADER_NAMES.get(h.strip().lstrip("\ufeff").lower(), h.strip()) for h in header]
    missing = [c for c in COLUMNS if c not in names]
    if missing:
        result.errors.append(
            RowError(
                header_line,
                f"表头缺少列：{'、'.join(LABELS_ZH[c] for c in missing)}",
                f"The header lacks the column(s): {', '.join(missing)}",
            )
        )
        return result
    index = {c: names.index(c) for c in COLUMNS}
    width = max(index.values()) + 1
    seen: dict[str, int] = {}
    for line, row in iterator:
        if not any(cell.strip() for cell in row):
            continue
        if len(row) < width:
            result.errors.append(
                RowError(line, f"列数不足（{len(row)} 列）。", f"Too few columns ({len(row)}).")
            )
            continue
        values = {c: row[index[c]].strip() for c in COLUMNS}
        error = _check(values)
        if error is None and values["employee_no"] in seen:
            first_line = seen[values["employee_no"]]
            error = (f"工号与第{first_line}行重复。", f"Employee number repeats line {first_line}.")
        if error is not None:
            result.errors.append(RowError(line, *error))
            continue
        seen[values["employee_no"]] = line
        result.rows.append(
            {
                "employee_no": values["employee_no"],
                "name": values["name"],
                "unit_code": values["unit_code"],
                "unit_name": values["unit_name"],
                "position": values["position"],
                "active": values["active"].lower() in TRUE_WORDS,
            }
        )
    return result


def _check(values: dict[str, str]) -> tuple[str, str] | None:
    for column in ("employee_no", "name", "unit_code", "unit_name"):
        if not values[column]:
            return f"{LABELS_ZH[column]}不能为空。", f"{column} must not be empty."
    for column, value in values.items():
        if len(value) > MAX_FIELD:
            return (
                f"{LABELS_ZH[column]}超过 {MAX_FIELD} 个字符。",
                f"{column} exceeds {MAX_FIELD} characters.",
            )
        if any(ord(ch) < 32 for ch in value):
            return f"{LABELS_ZH[column]}含有控制字符。", f"{column} contains control characters."
    if values["active"].lower() not in TRUE_WORDS | FALSE_WORDS:
        return (
            f"在岗一栏的“{values['active']}”无法识别（应填 是/否 或 1/0）。",
            f"active value {values['active']!r} is not understood (use 1/0, yes/no).",
        )
    return None


# --- The template HR fills in -----------------------------------------------------------------


def template_csv() -> bytes:
    """The Chinese header and one example row, UTF-8 with BOM so Excel opens it in Chinese."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow([LABELS_ZH[c] for c in COLUMNS])
    writer.writerow(TEMPLATE_EXAMPLE)
    return buffer.getvalue().encode("utf-8-sig")


def template_xlsx() -> bytes:
    """The same as a workbook: 工号 and 单位编码 formatted as text, a sheet of instructions."""
    from openpyxl import Workbook
    from openpyxl.styles import Font

    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = "职工名册"
    sheet.append([LABELS_ZH[c] for c in COLUMNS])
    sheet.append(list(TEMPLATE_EXAMPLE))
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    for letter, width in zip("ABCDEF", (12, 10, 10, 20, 14, 8), strict=True):
        sheet.column_dimensions[letter].width = width
        if letter in "AC":  # leading zeros and long numbers stay as typed
            for row in range(2, 1002):
                sheet[f"{letter}{row}"].number_format = "@"
    notes = book.create_sheet("填写说明")
    for text in (
        "第一行是表头，请勿修改；从第二行起每行一名职工，示例行可改写或删除。",
        "工号、姓名、单位编码、单位名称必填；同一单位编码只对应一个单位名称。",
        "在岗填“是”或“否”（也可填 1/0）；填“否”表示该职工已离岗。",
        "只导入第一个工作表；也可另存为 CSV（UTF-8 或 GBK）后上传。",
    ):
        notes.append([text])
    notes.column_dimensions["A"].width = 80
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


# --- What an import changed, in words ---------------------------------------------------------


def summarise(events: Iterable[tuple[str, Mapping[str, Any]]]) -> dict[str, int]:
    """Counts of people and units per kind of change, from the import's (type, data) events.

    An employee both transferred and renamed in one import counts once as updated.
    """
    updated: set[str] = set()
    counts = dict.fromkeys(
        ("employees_added", "employees_updated", "employees_left", "employees_rejoined"), 0
    )
    counts |= {"units_added": 0, "units_renamed": 0}
    simple = {
        "EmployeeRegistered": "employees_added",
        "EmployeeLeft": "employees_left",
        "EmployeeRejoined": "employees_rejoined",
        "UnitRegistered": "units_added",
        "UnitRenamed": "units_renamed",
    }
    for event_type, data in events:
        if event_type in simple:
            counts[simple[event_type]] += 1
        elif event_type in ("EmployeeUpdated", "EmployeeTransferred"):
            updated.add(str(data.get("employee_no")))
    counts["employees_updated"] = len(updated)
    return counts


def report_zh(summary: Mapping[str, int]) -> str:
    """`新增职工 2 名，更新 3 名，离岗 1 名；新增单位 1 个` — only what happened."""
    people = [
        f"{word} {summary.get(key, 0)} 名"
        for key, word in (
            ("employees_added", "新增职工"),
            ("employees_updated", "更新"),
            ("employees_left", "离岗"),
            ("employees_rejoined", "复岗"),
        )
        if summary.get(key, 0)
    ]
    units = [
        f"{word} {summary.get(key, 0)} 个"
        for key, word in (("units_added", "新增单位"), ("units_renamed", "单位更名"))
        if summary.get(key, 0)
    ]
    parts = [p for p in ("，".join(people), "，".join(units)) if p]
    return "；".join(parts) if parts else "名册已与文件一致，无变化"


def report_en(summary: Mapping[str, int]) -> str:
    """`2 employee(s) added, 3 updated, 1 left; 1 unit(s) added`."""
    people = [
        f"{summary.get(key, 0)} {word}"
        for key, word in (
            ("employees_added", "employee(s) added"),
            ("employees_updated", "updated"),
            ("employees_left", "left"),
            ("employees_rejoined", "rejoined"),
        )
        if summary.get(key, 0)
    ]
    units = [
        f"{summary.get(key, 0)} {word}"
        for key, word in (("units_added", "unit(s) added"), ("units_renamed", "renamed"))
        if summary.get(key, 0)
    ]
    parts = [p for p in (", ".join(people), ", ".join(units)) if p]
    return "; ".join(parts) if parts else "No changes: the directory already matches the file"
