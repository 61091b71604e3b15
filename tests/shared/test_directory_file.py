"""Reading the HR directory export: encodings, Chinese headers, .xlsx, bad rows with their line
numbers, the template, and the report in words."""

from __future__ import annotations

import io

import pytest
from openpyxl import Workbook, load_workbook

from shared import directory_file

HEADER = "employee_no,name,unit_code,unit_name,position,active\n"


def test_a_utf8_file_with_chinese_text_is_read() -> None:
    parsed = directory_file.parse((HEADER + "HQ1,张伟,WY,物业服务中心,水电工,1\n").encode())
    assert parsed.ok
    assert parsed.encoding == "utf-8"
    assert parsed.rows == [
        {
            "employee_no": "HQ1",
            "name": "张伟",
            "unit_code": "WY",
            "unit_name": "物业服务中心",
            "position": "水电工",
            "active": True,
        }
    ]


def test_a_gbk_file_saved_by_excel_is_read() -> None:
    data = (HEADER + "HQ2,李娜,CY,餐饮服务中心,厨师长,否\n").encode("gbk")
    parsed = directory_file.parse(data)
    assert parsed.encoding == "gbk"
    assert parsed.rows[0]["name"] == "李娜"
    assert parsed.rows[0]["active"] is False


def test_a_bom_is_not_part_of_the_first_column() -> None:
    parsed = directory_file.parse(("\ufeff" + HEADER + "HQ3,王强,WX,维修中心,电工,是\n").encode())
    assert parsed.ok
    assert parsed.encoding == "utf-8-sig"


def test_bad_rows_are_named_by_line_and_reason() -> None:
    text = (
        HEADER
        + "HQ1,张伟,WY,物业服务中心,水电工,1\n"
        + ",无工号,WY,物业服务中心,水电工,1\n"
        + "HQ1,重复,WY,物业服务中心,水电工,1\n"
        + "HQ4,赵六,WY,物业服务中心,水电工,maybe\n"
        + "HQ5,短行\n"
    )
    parsed = directory_file.parse(text.encode())
    assert [e.line for e in parsed.errors] == [3, 4, 5, 6]
    assert parsed.errors[0].reason_zh == "工号不能为空。"
    assert "employee_no" in parsed.errors[0].reason_en
    assert "line 2" in parsed.errors[1].reason_en
    assert "maybe" in parsed.errors[2].reason_en
    assert [r["employee_no"] for r in parsed.rows] == ["HQ1"]


def test_a_missing_column_is_reported_on_the_header_line() -> None:
    parsed = directory_file.parse(b"employee_no,name\nHQ1,x\n")
    assert parsed.errors[0].line == 1
    assert "unit_code" in parsed.errors[0].reason_en


CHINESE_HEADER = "工号,姓名,单位编码,单位名称,岗位,在岗\n"


def test_chinese_headers_in_any_order_are_read() -> None:
    text = "姓名,工号,在岗,单位名称,单位编码,岗位\n张伟,HQ1,是,物业服务中心,WY,水电工\n"
    parsed = directory_file.parse(text.encode("gbk"))
    assert parsed.ok
    assert parsed.rows == [
        {
            "employee_no": "HQ1",
            "name": "张伟",
            "unit_code": "WY",
            "unit_name": "物业服务中心",
            "position": "水电工",
            "active": True,
        }
    ]


def test_errors_name_the_columns_as_hr_knows_them() -> None:
    text = CHINESE_HEADER + "HQ1,,WY,物业服务中心,水电工,是\nHQ2,李娜,WY,物业服务中心,厨师,也许\n"
    parsed = directory_file.parse(text.encode())
    assert [(e.line, e.reason_zh) for e in parsed.errors] == [
        (2, "姓名不能为空。"),
        (3, "在岗一栏的“也许”无法识别（应填 是/否 或 1/0）。"),
    ]
    missing = directory_file.parse("工号,姓名\nHQ1,x\n".encode())
    assert missing.errors[0].reason_zh == "表头缺少列：单位编码、单位名称、岗位、在岗"


def workbook(*rows: tuple[object, ...]) -> bytes:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    for row in rows:
        sheet.append(list(row))
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def test_an_excel_workbook_is_read_with_numbers_as_typed() -> None:
    data = workbook(
        ("工号", "姓名", "单位编码", "单位名称", "岗位", "在岗"),
        (1001, "王强", "WX", "维修中心", "电工", "是"),
        ("01002", "赵敏", "WX", "维修中心", None, 0),
        (None, None, None, None, None, None),
        (1003, "", "WX", "维修中心", "电工", "是"),
    )
    parsed = directory_file.parse(data)
    assert parsed.encoding == "xlsx"
    assert [(r["employee_no"], r["position"], r["active"]) for r in parsed.rows] == [
        ("1001", "电工", True),
        ("01002", "", False),
    ]
    assert [(e.line, e.reason_zh) for e in parsed.errors] == [(5, "姓名不能为空。")]


def test_a_broken_workbook_is_refused_as_unreadable() -> None:
    with pytest.raises(ValueError, match="xlsx"):
        directory_file.parse(b"PK\x03\x04 not really a zip")


def test_the_templates_read_back_as_one_example_row() -> None:
    for data in (directory_file.template_csv(), directory_file.template_xlsx()):
        parsed = directory_file.parse(data)
        assert parsed.ok
        assert [r["name"] for r in parsed.rows] == ["张伟"]
    sheet = load_workbook(io.BytesIO(directory_file.template_xlsx())).worksheets[0]
    assert [c.value for c in sheet[1]] == ["工号", "姓名", "单位编码", "单位名称", "岗位", "在岗"]
    assert sheet["A2"].number_format == "@"  # 工号 keeps its leading zeros


def test_an_import_is_reported_in_words() -> None:
    events = [
        ("UnitRegistered", {"unit_code": "YS"}),
        ("EmployeeRegistered", {"employee_no": "E1"}),
        ("EmployeeRegistered", {"employee_no": "E2"}),
        ("EmployeeUpdated", {"employee_no": "E3"}),
        ("EmployeeTransferred", {"employee_no": "E3"}),
        ("EmployeeUpdated", {"employee_no": "E4"}),
        ("EmployeeTransferred", {"employee_no": "E5"}),
        ("EmployeeLeft", {"employee_no": "E6"}),
    ]
    summary = directory_file.summarise(events)
    assert directory_file.report_zh(summary) == "新增职工 2 名，更新 3 名，离岗 1 名；新增单位 1 个"
    assert directory_file.report_en(summary) == (
        "2 employee(s) added, 3 updated, 1 left; 1 unit(s) added"
    )
    assert directory_file.report_zh(directory_file.summarise([])) == "名册已与文件一致，无变化"
