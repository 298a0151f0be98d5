"""docs/runbook.md names, beside each step, the test that exercises it: every test it names
must exist, so a renamed or removed test shows here instead of leaving a step untested."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
RUNBOOK = ROOT / "docs" / "runbook.md"
SECTIONS = ("Add a unit and its connector", "Rotate a unit's credentials", "Scale workers",
            "Replay dead letters", "Rebuild the view from the bus", "Upgrade a schema",
            "Restore after losing a worker's disk")


def _named_tests(text: str) -> list[tuple[str, str | None]]:
    """(file, test) pairs; a bare ``::name`` belongs to the file named before it."""
    found: list[tuple[str, str | None]] = []
    last = ""
    for match in re.finditer(r"(tests/[\w/]+\.py)(?:::(\w+))?|`::(\w+)`", text):
        if match.group(1):
            last = match.group(1)
            found.append((last, match.group(2)))
        else:
            found.append((last, match.group(3)))
    return found


def test_every_step_names_a_test_that_exists() -> None:
    text = RUNBOOK.read_text(encoding="utf-8")
    sections = re.split(r"^## ", text, flags=re.M)[1:]
    assert [s.splitlines()[0] for s in sections] == list(SECTIONS)
    for section in sections:
        assert "*Test*" in section, section.splitlines()[0]
    named = _named_tests(text)
    assert len(named) >= 20
    missing = [(path, name) for path, name in named
               if not (ROOT / path).is_file() or (name is not None and not re.search(
                   rf"def {name}\(", (ROOT / path).read_text(encoding="utf-8")))]
    assert missing == []
    assert _named_tests("`tests/unit/x.py::a`, `::b`") == [("tests/unit/x.py", "a"),
                                                          ("tests/unit/x.py", "b")]
