"""Fail when a stream-engine module grows past the size a newcomer can read in one go.

The engine's parts are found by their module names (tasks, state stores, timers, outputs,
processors); a module that keeps growing hides a second job that deserves a name of its
own. Run by ``make lint``; the limit is the one the engine's design set (issue #10).
"""

from __future__ import annotations

import sys
from pathlib import Path

#: Folders held to the limit, and the limit in lines.
CHECKED = ("streams",)
MAX_LINES = 500


def oversized(root: Path) -> list[tuple[Path, int]]:
    """The modules under the checked folders longer than :data:`MAX_LINES`."""
    found: list[tuple[Path, int]] = []
    for folder in CHECKED:
        for path in sorted((root / folder).rglob("*.py")):
            lines = len(path.read_text(encoding="utf-8").splitlines())
            if lines > MAX_LINES:
                found.append((path.relative_to(root), lines))
    return found


def main() -> int:
    root = Path(__file__).resolve().parent.parent
    found = oversized(root)
    for path, lines in found:
        print(f"{path}: {lines} lines (at most {MAX_LINES}): give its second job a module "
              "of its own", file=sys.stderr)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
