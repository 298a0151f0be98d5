"""Fictional 双公示 penalty rows for dry runs, tests and the ingest benchmark.

Every party, code and number is invented; codes carry valid check characters so the rows
pass validation (resident ID digits and division code 429901 are not real ones).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from pathlib import Path

from hub.identity import credit_code_check_char, resident_id_check_char

__all__ = ["DEMO_MARKET_UNIT", "PENALTY_HEADER", "penalty_row", "write_penalty_csv"]

#: Demo County Administration for Market Regulation (fictional, deploy/demo/units.yaml).
DEMO_MARKET_UNIT = "11429901030089405N"

PENALTY_HEADER = [
    "行政相对人名称", "行政相对人类别", "行政相对人代码_1", "行政相对人代码_2", "行政相对人代码_3",
    "行政相对人代码_4", "行政相对人代码_5", "行政相对人代码_6", "法定代表人", "法定代表人证件类型",
    "法定代表人证件号码", "证件类型", "证件号码", "行政处罚决定书文号", "违法行为类型", "违法事实",
    "处罚依据", "处罚类别", "处罚内容", "罚款金额（万元）",
    "没收违法所得、没收非法财物的金额（万元）",
    "暂扣或吊销证照名称及编号", "处罚决定日期", "处罚有效期", "公示截止期", "处罚机关",
    "处罚机关统一社会信用代码", "数据来源单位", "数据来源单位统一社会信用代码", "备注",
]


def _party_code(number: int) -> str:
    first17 = f"9142990{number % 10**10:010d}"
    return first17 + credit_code_check_char(first17)


def _resident_id(number: int) -> str:
    first17 = f"429901198{number % 10:01d}0101{number % 1000:03d}"[:17].ljust(17, "1")
    return first17 + resident_id_check_char(first17)


def penalty_row(number: int, *, unit: str = DEMO_MARKET_UNIT,
                natural_person: bool = False) -> list[str]:
    """One fictional 双公示 row; ``number`` makes the decision number unique."""
    fine = f"{(number % 97) + 1}.{number % 100:02d}"
    common = [
        f"演示县市监处罚〔2024〕{number}号", "销售不合格产品", "销售抽检不合格的食用油（虚构）",
        "《中华人民共和国产品质量法》第四十九条", "罚款;没收违法所得", f"罚款{fine}万元",
        fine, "0.5", "", "2024-03-15", "2025-03-15", "2027-03-15", "演示县市场监督管理局",
        unit, "演示县市场监督管理局", unit, "虚构数据",
    ]
    if natural_person:
        party = [f"周某{number % 1000}", "自然人", "", "", "", "", "", "", "", "", "",
                 "身份证", _resident_id(number)]
    else:
        party = [f"演示县虚构商贸有限公司{number}", "法人及非法人组织", _party_code(number), "",
                 "", "", "", "", "钱某", "身份证", _resident_id(number), "", ""]
    return party + common


def penalty_rows(count: int, start: int = 1) -> Iterator[list[str]]:
    for number in range(start, start + count):
        yield penalty_row(number, natural_person=number % 5 == 0)


def write_penalty_csv(path: Path, count: int, *, encoding: str = "gbk", start: int = 1,
                      extra_rows: list[list[str]] | None = None) -> Path:
    """Write an N-row export in ``encoding`` (streaming, for large benchmarks too)."""
    with path.open("w", encoding=encoding, newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(PENALTY_HEADER)
        buffer = io.StringIO()
        batch = csv.writer(buffer)
        for index, row in enumerate(penalty_rows(count, start), start=1):
            batch.writerow(row)
            if index % 10_000 == 0:
                handle.write(buffer.getvalue())
                buffer.seek(0)
                buffer.truncate()
        handle.write(buffer.getvalue())
        for row in extra_rows or []:
            writer.writerow(row)
    return path


def write_court_xml(path: Path, count: int, *, start: int = 1, bad_date: bool = False) -> Path:
    """A fictional court judgment XML export (UTF-8), streamed to disk."""
    from xml.sax.saxutils import escape

    with path.open("w", encoding="utf-8") as handle:
        handle.write('<?xml version="1.0" encoding="UTF-8"?>\n<judgments>\n')
        for number in range(start, start + count):
            handle.write(
                "<judgment>"
                f"<court_case_number>（2024）鄂9901刑初{number}号</court_case_number>"
                f"<judgment_number>（2024）鄂9901刑初{number}号判决书</judgment_number>"
                "<verdict>有罪判决</verdict><offence>销售伪劣产品罪</offence>"
                "<sentence>有期徒刑一年，缓刑一年</sentence>"
                f"<fine_yuan>{number % 9 + 1}0000.50</fine_yuan>"
                f"<defendant><name>{escape(f'吴某{number % 1000}')}</name>"
                "<category>自然人</category></defendant>"
                f"<procuratorate_case_number>演检刑诉〔2024〕{number}号"
                "</procuratorate_case_number>"
                "<effective>是</effective><judgment_date>2024-06-01</judgment_date>"
                "</judgment>\n")
        if bad_date:
            handle.write("<judgment><court_case_number>（2024）鄂9901刑初0号</court_case_number>"
                         "<judgment_date>六月一日</judgment_date></judgment>\n")
        handle.write("</judgments>\n")
    return path
