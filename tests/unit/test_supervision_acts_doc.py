"""docs/supervision-acts.md, "Test coverage per act": the matrix that shows, act by act,
which test asserts each step issue #13 asks for. A matrix naming tests that were renamed
or removed would claim coverage nobody has, so every code must resolve to a test
function that exists, every parametrized case named must exist, every act the issue
names must have its row, and no cell may be left blank (``—`` and **missing** say why)."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "supervision-acts.md"
_LEGEND = re.compile(r"^- `(?P<code>[A-Z0-9]+)` — `(?P<file>tests/[^`:]+)::(?P<test>\w+)`$")
_CODE = re.compile(r"`(?P<code>[A-Z][A-Z0-9]*)(?:\[(?P<case>[^\]]+)\])?`")
#: The acts issue #13 names, as the matrix's first column spells them.
ACTS = ("建议移送", "要求说明不立案理由", "通知立案", "检察建议书", "检察意见书", "纠正违法通知书",
        "督促起诉意见书", "案件咨询", "提前介入", "open-case register", "线索移送", "撤案",
        "objection", "司法建议书", "执行到位")
COLUMNS = 9


def _section() -> list[str]:
    text = DOC.read_text(encoding="utf-8")
    start = text.index("## Test coverage per act")
    end = text.index("\n## ", start + 1)
    return text[start:end].splitlines()


def test_every_code_names_an_existing_test_and_case() -> None:
    lines = _section()
    legend = {m["code"]: (m["file"], m["test"]) for m in map(_LEGEND.match, lines) if m}
    assert len(legend) >= 40
    rows = [line for line in lines if line.startswith("| ") and not line.startswith("| act")]
    used: set[str] = set()
    for row in rows:
        for found in _CODE.finditer(row):
            code, case = found["code"], found["case"]
            assert code in legend, f"{code} has no legend line"
            used.add(code)
            file, test = legend[code]
            source = (ROOT / file).read_text(encoding="utf-8")
            assert re.search(rf"^(async )?def {test}\(", source, re.MULTILINE), (code, test)
            if case is not None:
                assert case in source, f"{code}[{case}]: no such case in {file}"
    assert used == set(legend), f"legend codes never used: {set(legend) - used}"


def test_every_act_has_a_row_and_no_cell_is_blank() -> None:
    rows = [line for line in _section() if line.startswith("| ")
            and not line.startswith("| act")]
    for act in ACTS:
        assert any(act in row.split("|")[1] for row in rows), act
    for row in rows:
        cells = [cell.strip() for cell in row.strip().strip("|").split("|")]
        assert len(cells) == COLUMNS, row
        assert all(cells), row
