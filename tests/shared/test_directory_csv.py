"""Reading the HR directory export: encodings, bad rows with their line numbers."""

from __future__ import annotations

from shared import directory_csv

HEADER = "employee_no,name,unit_code,unit_name,position,active\n"


def test_a_utf8_file_with_chinese_text_is_read() -> None:
    parsed = directory_csv.parse((HEADER + "HQ1,张伟,WY,物业服务中心,水电工,1\n").encode())
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
    parsed = directory_csv.parse(data)
    assert parsed.encoding == "gbk"
    assert parsed.rows[0]["name"] == "李娜"
    assert parsed.rows[0]["active"] is False


def test_a_bom_is_not_part_of_the_first_column() -> None:
    parsed = directory_csv.parse(("\ufeff" + HEADER + "HQ3,王强,WX,维修中心,电工,是\n").encode())
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
    parsed = directory_csv.parse(text.encode())
    assert [e.line for e in parsed.errors] == [3, 4, 5, 6]
    assert "employee_no" in parsed.errors[0].reason_en
    assert "line 2" in parsed.errors[1].reason_en
    assert "maybe" in parsed.errors[2].reason_en
    assert [r["employee_no"] for r in parsed.rows] == ["HQ1"]


def test_a_missing_column_is_reported_on_the_header_line() -> None:
    parsed = directory_csv.parse(b"employee_no,name\nHQ1,x\n")
    assert parsed.errors[0].line == 1
    assert "unit_code" in parsed.errors[0].reason_en
