"""What the file and XML kinds share: settled files, fingerprints, archiving, quarantine.

A file still being written must not be read: it is taken only when its size and times
did not change between two polls, or when it is older than the settle time. Its age is
that of its last change of any kind (the later of mtime and ctime): a copy that keeps the
source's modification time (``cp -p``, rsync, robocopy) looks years old while it is
being written, but its ctime is the copy's. A file is
identified by the SHA-256 of its content, so the same export dropped twice (or renamed)
is recognised and archived without producing anything.

A file that cannot be read as a whole (not a zip, truncated, over a configured limit, a
parser failing on it) is an event, never a crash: the kind's reader stops, one
dead-letter record names the connector, the file and the reason, and once that record
is checkpointed the file is moved to the quarantine folder with a ``.reason.txt`` beside
it. The connector goes on with the next file. Left in the drop folder, such a file would
stop the unit's whole feed at every restart.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import hashlib
import logging
import os
import shutil
import stat
import time
from abc import abstractmethod
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO

from connectors.checkpoint import Checkpoint
from connectors.source import Source, SourceRecord
from hub.errors import RecordRejected

__all__ = ["DropFolder", "DropFolderSource", "FileRejected", "fingerprint", "open_regular"]

log = logging.getLogger(__name__)
_DONE_REMEMBERED = 10_000
_QUARANTINE_REMEMBERED = 1_000
#: Bytes of a refused file the dead-letter record carries (the file is in quarantine;
#: the record must stay under the broker's message size).
_LETTER_BYTES = 64 * 1024


class FileRejected(RecordRejected):
    """A whole file is refused: it goes to quarantine, its rows are not read further.

    ``error_type`` says why in a word operations can count (``not_a_zip``,
    ``file_too_large``, ``too_many_rows``, ``zip_bomb``, ``unreadable_file``...).
    """

    def __init__(self, reason: str, *, error_type: str, value: object = None) -> None:
        super().__init__(reason, field="file", value=value, error_type=error_type)


def open_regular(path: Path) -> BinaryIO:
    """Open an export for reading, refusing anything but a regular file in its place.

    The drop folder is the unit's to write: a symbolic link dropped there (or put in the
    place of a file already seen) would make the connector read any file it can, its
    own credentials included, and send the lines it cannot map to the dead-letter topic
    the unit reads. ``O_NOFOLLOW`` refuses a link at the last step, ``O_NONBLOCK`` keeps
    a FIFO from hanging the open, and the descriptor's own type is checked after."""
    descriptor = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    if stat.S_ISREG(os.fstat(descriptor).st_mode):
        return os.fdopen(descriptor, "rb")
    os.close(descriptor)
    raise OSError(f"{path.name} is not a regular file")


def fingerprint(path: Path) -> str:
    """SHA-256 of a file's content, read in blocks (memory stays flat)."""
    digest = hashlib.sha256()
    with open_regular(path) as handle:
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
    quarantine: Path | None = None
    _seen: dict[Path, tuple[int, int, int]] = field(default_factory=dict)
    _paths: dict[str, Path] = field(default_factory=dict)
    _skipped: set[Path] = field(default_factory=set)

    def settled_files(self) -> list[Path]:
        """Files matching the pattern that are not being written any more (oldest first)."""
        now = time.time()
        ready: list[tuple[float, str, Path]] = []
        current: dict[Path, tuple[int, int, int]] = {}
        for path in self.folder.glob(self.pattern):
            if path.name.startswith("."):
                continue
            if not _nameable(path.name):
                if path not in self._skipped:
                    self._skipped.add(path)
                    log.warning("%r in the drop folder has a name that is not UTF-8: not "
                                "read; rename it (records, checkpoints and dead letters "
                                "name the file)", path.name)
                continue
            status = path.lstat()
            if not stat.S_ISREG(status.st_mode):
                # A link, a FIFO or a folder is not an export (see ``open_regular``).
                if path not in self._skipped:
                    self._skipped.add(path)
                    log.warning("%s in the drop folder is not a regular file (a link, a "
                                "pipe or a folder): not read", path.name)
                continue
            signature = (status.st_size, status.st_mtime_ns, status.st_ctime_ns)
            current[path] = signature
            old_enough = (now - max(status.st_mtime, status.st_ctime)
                          >= self.settle_seconds)
            if old_enough or self._seen.get(path) == signature:
                ready.append((status.st_mtime, path.name, path))
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

    @staticmethod
    def quarantined(position: dict[str, Any] | None) -> dict[str, str]:
        """Fingerprint → reason of the files refused so far (the latest ones)."""
        return dict((position or {}).get("quarantined") or {})

    @staticmethod
    def with_quarantined(quarantined: dict[str, str], digest: str,
                         reason: str) -> dict[str, str]:
        items = [*((d, r) for d, r in quarantined.items() if d != digest), (digest, reason)]
        return dict(items[-_QUARANTINE_REMEMBERED:])

    def archive_done(self, position: dict[str, Any]) -> None:
        """Move every file checkpointed as done into the archive, or, when it was refused,
        into the quarantine folder."""
        refused = self.quarantined(position)
        for digest in self.done_set(position):
            path = self._paths.pop(digest, None)
            if path is None or not path.exists():
                continue
            if digest in refused:
                self.move_to_quarantine(path, digest, refused[digest])
            else:
                self.move_to_archive(path, digest)

    def move_to_quarantine(self, path: Path, digest: str, reason: str) -> Path | None:
        """Move a refused file out of the drop folder and write why beside it (None when
        the quarantine folder is not a plain folder: see :func:`_own_folder`)."""
        folder = self.quarantine or self.folder.with_name(f"{self.folder.name}-quarantine")
        if not self._own_folder(folder):
            return None
        target = _move_into(path, folder, digest)
        if target is None:
            return None
        note = target.with_name(f"{target.name}.reason.txt")
        text = (f"file: {path.name}\nfrom: {path.parent}\nsha256: {digest}\n"
                f"quarantined at: {datetime.now(UTC).isoformat(timespec='seconds')}\n"
                f"reason: {reason}\n"
                "Nothing of this file after the reason's row was read. Fix the export and "
                "drop the corrected file in the drop folder again.\n")
        with contextlib.suppress(FileExistsError):  # a link or file put there: not written
            descriptor = os.open(note, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW,
                                 0o644)
            with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
                handle.write(text)
        log.warning("quarantined %s to %s: %s", path.name, target, reason)
        return target

    def move_to_archive(self, path: Path, digest: str) -> None:
        if not self._own_folder(self.archive):
            return
        target = _move_into(path, self.archive, digest)
        if target is not None:
            log.info("archived %s to %s", path.name, target)

    def _own_folder(self, folder: Path) -> bool:
        """Create ``folder`` if needed; False (logged) when it lies in the drop folder and
        what stands at its place is a link or not a folder. The archive folder lies in the
        drop folder by default, which the unit writes: a link put in its place would have
        the connector move files wherever it may write. (An operator's own archive
        elsewhere may be a link, to a larger volume say.) Such a file stays in the drop
        folder; read once, it is not read again."""
        inside = self.folder.absolute() in folder.absolute().parents
        if not (inside and folder.is_symlink()):
            folder.mkdir(parents=True, exist_ok=True)
        if inside and (folder.is_symlink() or not folder.is_dir()):
            log.error("%s is a link or not a folder: nothing is moved into it; replace it "
                      "with a plain folder", folder)
            return False
        return True


def _nameable(name: str) -> bool:
    """Whether a file name is valid UTF-8 (Python keeps other bytes as lone surrogates,
    which no checkpoint, header or log line can write)."""
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _move_into(path: Path, folder: Path, digest: str) -> Path | None:
    """Move ``path`` into ``folder`` under its name, or under its name and digest when
    that is taken; None (logged) when both are. Whatever stands at a name (a link the unit
    put in an archive folder inside its drop folder included) is never followed or
    replaced: the file is renamed to a name nothing holds."""
    for target in (folder / path.name, folder / f"{path.stem}.{digest[:12]}{path.suffix}"):
        if os.path.lexists(target):
            continue
        try:
            path.rename(target)  # os.rename: never follows a link at the target
        except OSError as exc:
            if exc.errno != errno.EXDEV:
                raise
            shutil.copy2(path, target, follow_symlinks=False)
            path.unlink()
        return target
    log.error("%s: %s and its digest's name are taken in %s: left in the drop folder",
              path.name, path.name, folder)
    return None


def _unreadable(path: Path, exc: Exception) -> FileRejected:
    """A parser's own exception on a file, as the file's refusal.

    A kind's parser is third-party code (csv, openpyxl, zipfile, defusedxml) fed whatever
    an exporter dropped: any exception it raises belongs to that file, and must stop that
    file only, never the connector.
    """
    kind = type(exc).__name__
    return FileRejected(f"{path.name} cannot be read: {kind}: {exc}",
                        error_type="unreadable_file", value=path.name)


def _head(path: Path) -> bytes:
    """The first bytes of a refused file, for its dead-letter record."""
    try:
        with open_regular(path) as handle:
            return handle.read(_LETTER_BYTES)
    except OSError:
        return b""


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

    #: Largest file read at all (kinds set it from their limits).
    max_file_bytes: int | None = None

    def _open_folder(self, path: Path, pattern: str, archive: Path, settle_seconds: float,
                     quarantine: Path | None = None) -> None:
        self.path, self.pattern = path, pattern
        self.folder = DropFolder(path, pattern, archive, settle_seconds, quarantine)

    @abstractmethod
    def records(self, path: Path, digest: str, resume: dict[str, Any]
                ) -> Iterator[SourceRecord]:
        """The records of one file; ``resume`` is the checkpoint position inside it, if any."""

    async def read(self, since: Checkpoint | None) -> AsyncIterator[SourceRecord]:
        position = since.position if since else {}
        done = DropFolder.done_set(position)
        done_lookup = set(done)
        refused = DropFolder.quarantined(position)
        for path in await asyncio.to_thread(self.folder.settled_files):
            digest = await asyncio.to_thread(fingerprint, path)
            self.folder.remember(digest, path)
            if digest in done_lookup:
                if digest in refused:
                    log.info("%s was refused before (same content); quarantining it",
                             path.name)
                    await asyncio.to_thread(self.folder.move_to_quarantine, path, digest,
                                            refused[digest])
                    continue
                log.info("%s was already ingested (same content); archiving it", path.name)
                await asyncio.to_thread(self.folder.move_to_archive, path, digest)
                continue
            resume = position if position.get("fingerprint") == digest else {}
            rows = 0
            problem: FileRejected | None = None
            records = self._file_records(path, digest, resume)
            while True:
                try:
                    record = next(records)
                except StopIteration:
                    break
                except FileRejected as exc:
                    problem = exc
                    break
                except Exception as exc:  # noqa: BLE001 - see _unreadable
                    problem = _unreadable(path, exc)
                    break
                rows += 1
                yield record
                if rows % _YIELD_EVERY == 0:
                    await asyncio.sleep(0)
            done = DropFolder.with_done(done, digest)
            done_lookup.add(digest)
            end = {"fingerprint": None, "file": None, "offset": 0, "row": 0, "done": done}
            if problem is not None:
                reason = f"{problem.error_type}: {problem.reason}"
                refused = DropFolder.with_quarantined(refused, digest, reason)
                yield SourceRecord(None, _head(path), {**end, "quarantined": refused},
                                   f"{path.name}#file",
                                   {"source.file": path.name, "source.row": "file"}, problem)
                continue
            if rows == 0 and not resume:
                log.warning("%s has no data rows (empty, header only or only empty rows)",
                            path.name)
            yield SourceRecord(None, b"", end, f"{path.name}#end",
                               {"source.file": path.name, "source.rows": str(rows)},
                               marker=True)

    def _file_records(self, path: Path, digest: str, resume: dict[str, Any]
                      ) -> Iterator[SourceRecord]:
        """The kind's records of one file, after the checks every kind shares."""
        size = path.stat().st_size
        if self.max_file_bytes is not None and size > self.max_file_bytes:
            raise FileRejected(f"{path.name} is {size:,} bytes, over max_file_bytes "
                               f"({self.max_file_bytes:,})", error_type="file_too_large",
                               value=path.name)
        yield from self.records(path, digest, resume)

    async def committed(self, position: dict[str, Any]) -> None:
        await asyncio.to_thread(self.folder.archive_done, position)

    async def lag(self, position: dict[str, Any] | None) -> float:
        """Files waiting in the drop folder."""
        return float(sum(1 for p in self.path.glob(self.pattern) if p.is_file()))
