"""What the file and XML kinds share: settled files, fingerprints, archiving.

A file still being written must not be read: it is taken only when its size and mtime
did not change between two polls, or when it is older than the settle time. A file is
identified by the SHA-256 of its content, so the same export dropped twice (or renamed)
is recognised and archived without producing anything.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import shutil
import time
from abc import abstractmethod
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from connectors.checkpoint import Checkpoint
from connectors.source import Source, SourceRecord

__all__ = ["DropFolder", "DropFolderSource", "fingerprint"]

log = logging.getLogger(__name__)
_DONE_REMEMBERED = 10_000


def fingerprint(path: Path) -> str:
    """SHA-256 of a file's content, read in blocks (memory stays flat)."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


@dataclass
class DropFolder:
    """A folder of exports, with the done set and the archive."""

    folder: Path
    pattern: str
    archive: Path
    settle_seconds: float
    _seen: dict[Path, tuple[int, int]] = field(default_factory=dict)
    _paths: dict[str, Path] = field(default_factory=dict)

    def settled_files(self) -> list[Path]:
        """Files matching the pattern that are not being written any more (oldest first)."""
        now = time.time()
        ready: list[tuple[float, str, Path]] = []
        current: dict[Path, tuple[int, int]] = {}
        for path in self.folder.glob(self.pattern):
            if not path.is_file() or path.name.startswith("."):
                continue
            stat = path.stat()
            signature = (stat.st_size, stat.st_mtime_ns)
            current[path] = signature
            old_enough = now - stat.st_mtime >= self.settle_seconds
            if old_enough or self._seen.get(path) == signature:
                ready.append((stat.st_mtime, path.name, path))
        self._seen = current
        return [path for _, _, path in sorted(ready)]

    def remember(self, digest: str, path: Path) -> None:
        self._paths[digest] = path

    @staticmethod
    def done_set(position: dict[str, Any] | None) -> list[str]:
        return list((position or {}).get("done") or [])

    @staticmethod
    def with_done(done: list[str], digest: str) -> list[str]:
        return [*done, digest][-_DONE_REMEMBERED:]

    def archive_done(self, position: dict[str, Any]) -> None:
        """Move every file whose fingerprint is checkpointed as done into the archive."""
        for digest in self.done_set(position):
            path = self._paths.pop(digest, None)
            if path is not None and path.exists():
                self.move_to_archive(path, digest)

    def move_to_archive(self, path: Path, digest: str) -> None:
        self.archive.mkdir(parents=True, exist_ok=True)
        target = self.archive / path.name
        if target.exists():
            target = self.archive / f"{path.stem}.{digest[:12]}{path.suffix}"
        shutil.move(str(path), str(target))
        log.info("archived %s to %s", path.name, target)


#: Records handed out between two yields to the event loop, so a large file does not
#: starve the delivery tasks running beside the reader.
_YIELD_EVERY = 256


class DropFolderSource(Source):
    """A source over a drop folder: settled files in mtime order, each read once, resumed
    mid-file from its checkpoint, archived once checkpointed; a re-dropped file (same
    content) is archived unread. Kinds only say how one file becomes records."""

    folder: DropFolder
    path: Path
    pattern: str

    def _open_folder(self, path: Path, pattern: str, archive: Path, settle_seconds: float
                     ) -> None:
        self.path, self.pattern = path, pattern
        self.folder = DropFolder(path, pattern, archive, settle_seconds)

    @abstractmethod
    def records(self, path: Path, digest: str, resume: dict[str, Any]
                ) -> Iterator[SourceRecord]:
        """The records of one file; ``resume`` is the checkpoint position inside it, if any."""

    async def read(self, since: Checkpoint | None) -> AsyncIterator[SourceRecord]:
        position = since.position if since else {}
        done = DropFolder.done_set(position)
        done_lookup = set(done)
        for path in await asyncio.to_thread(self.folder.settled_files):
            digest = await asyncio.to_thread(fingerprint, path)
            self.folder.remember(digest, path)
            if digest in done_lookup:
                log.info("%s was already ingested (same content); archiving it", path.name)
                await asyncio.to_thread(self.folder.move_to_archive, path, digest)
                continue
            resume = position if position.get("fingerprint") == digest else {}
            for count, record in enumerate(self.records(path, digest, resume), start=1):
                yield record
                if count % _YIELD_EVERY == 0:
                    await asyncio.sleep(0)
            done = DropFolder.with_done(done, digest)
            done_lookup.add(digest)
            yield SourceRecord(None, b"", {"fingerprint": None, "file": None, "offset": 0,
                                           "row": 0, "done": done},
                               f"{path.name}#end", marker=True)

    async def committed(self, position: dict[str, Any]) -> None:
        await asyncio.to_thread(self.folder.archive_done, position)

    async def lag(self, position: dict[str, Any] | None) -> float:
        """Files waiting in the drop folder."""
        return float(sum(1 for p in self.path.glob(self.pattern) if p.is_file()))
