"""Reading the HR directory export: `employee_no,name,unit_code,unit_name,position,active`.

UTF-8 (with or without BOM) or GBK as Excel saves it in Chinese locales. Every bad row is
reported with its line number and reason; callers apply nothing of a file with errors unless
told to skip the bad rows. Used by `flowers directory import` and the gateway's upload.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from typing import Any

COLUMNS = ("employee_no", "name", "unit_code", "unit_name", "position", "active")
TRUE_WORDS = {"1", "true", "yes", "y", "是", "在职", "active"}
FALSE_WORDS = {"0", "false", "no", "n", "否", "离职", "inactive"}
MAX_FIELD = 100


@dataclass(frozen=True)
class RowError:
    line: int
    reason_zh: str
    reason_en: str


@dataclass
class ParsedDirectory:
    encoding: str
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


def parse(data: bytes) -> ParsedDirectory:
    text, encoding = decode(data)
    result = ParsedDirectory(encoding)
    reader = csv.reader(io.StringIO(text, newline=""))
    header = next(reader, None)
    if header is None:
        result.errors.append(RowError(1, "文件为空。", "The file is empty."))
        return result
    names = [h.strip().lower() for h in header]
    missing = [c for c in COLUMNS if c not in names]
    if missing:
        result.errors.append(
            RowError(
                1,
                f"表头缺少列：{', '.join(missing)}",
                f"The header lacks the column(s): {', '.join(missing)}",
            )
        )
        return result
    index = {c: names.index(c) for c in COLUMNS}
    seen: dict[str, int] = {}
    for row in reader:
        line = reader.line_num
        if not any(cell.strip() for cell in row):
            continue
        if len(row) < len(names):
            result.errors.append(
                RowError(line, f"列数不足（{len(row)} 列）。", f"Too few columns ({len(row)}).")
            )
            continue
        values = {c: row[index[c]].strip() for c in COLUMNS}
        error = _check(values)
        if error is None and values["employee_no"] in seen:
            first = seen[values["employee_no"]]
            error = (f"工号与第 {first} 行重复。", f"Employee number repeats line {first}.")
        if error is not None:
            result.errors.append(RowError(line, *error))
            continue
        seen[values["employee_no"]] = line
        active = values["active"].lower()
        result.rows.append(
            {
                "employee_no": values["employee_no"],
                "name": values["name"],
                "unit_code": values["unit_code"],
                "unit_name": values["unit_name"],
                "position": values["position"],
                "active": active in TRUE_WORDS,
            }
        )
    return result


def _check(values: dict[str, str]) -> tuple[str, str] | None:
    for column in ("employee_no", "name", "unit_code", "unit_name"):
        if not values[column]:
            return f"{column} 不能为空。", f"{column} must not be empty."
    for column, value in values.items():
        if len(value) > MAX_FIELD:
            return (
                f"{column} 超过 {MAX_FIELD} 个字符。",
                f"{column} exceeds {MAX_FIELD} characters.",
            )
        if any(ord(ch) < 32 for ch in value):
            return f"{column} 含有控制字符。", f"{column} contains control characters."
    if values["active"].lower() not in TRUE_WORDS | FALSE_WORDS:
        return (
            f"active 的值“{values['active']}”无法识别（应为 1/0、是/否）。",
            f"active value {values['active']!r} is not understood (use 1/0, yes/no).",
        )
    return None
