"""Files a connector quarantined: what they are and why (``liangfa dlq quarantined``).

A drop-folder connector (file, XML) moves a file it refused as a whole to its quarantine
folder with ``<file>.reason.txt`` beside it (``connectors/kinds/dropfolder.py``). Dropping
the same bytes again does nothing: the connector knows the file's fingerprint and archives
it unread. A quarantined file is fixed by a corrected export (new bytes), dropped in the
drop folder; its dead letter on ``lf.dlq.<connector>`` is then settled with
``liangfa dlq resolve``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

__all__ = ["QuarantinedFile", "quarantined_files"]

_REASON_SUFFIX = ".reason.txt"


@dataclass(frozen=True, slots=True)
class QuarantinedFile:
    """One quarantined file and the fields of its reason file."""

    path: Path
    size: int
    quarantined_at: str
    reason: str
    sha256: str

    @property
    def name(self) -> str:
        return self.path.name


def _fields(note: Path) -> dict[str, str]:
    fields: dict[str, str] = {}
    try:
        text = note.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return fields
    for line in text.splitlines():
        name, sep, value = line.partition(": ")
        if sep and name in {"reason", "sha256", "quarantined at"}:
            fields.setdefault(name, value.strip())
    return fields


def quarantined_files(folder: Path) -> list[QuarantinedFile]:
    """The files in ``folder`` (a connector's quarantine), oldest first; a file whose
    reason file is missing is listed with the reason unknown."""
    if not folder.is_dir():
        return []
    found = []
    for path in folder.iterdir():
        if not path.is_file() or path.name.endswith(_REASON_SUFFIX):
            continue
        fields = _fields(path.with_name(path.name + _REASON_SUFFIX))
        stat = path.stat()
        when = fields.get("quarantined at") or datetime.fromtimestamp(
            stat.st_mtime, tz=UTC).isoformat(timespec="seconds")
        found.append(QuarantinedFile(path, stat.st_size, when,
                                     fields.get("reason", "unknown (no reason file)"),
                                     fields.get("sha256", "")))
    return sorted(found, key=lambda f: (f.quarantined_at, f.name))
