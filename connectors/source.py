"""The base class a source kind implements; the framework does everything else.

A kind reads its system (a folder, an API, a database) from a checkpoint position and
yields :class:`SourceRecord` objects, each carrying the position *after* it. Mapping,
producing, dead-lettering, metrics, retries and checkpointing belong to the framework
(``connectors.runner``), so a new kind is one small file.

Example, a kind that yields three fixed rows::

    class Fixed(Source):
        async def read(self, since):
            start = since.position.get("row", 0) if since else 0
            for row in range(start, 3):
                yield SourceRecord({"n": str(row)}, b"n\\n", {"row": row + 1}, f"fixed#{row}")
"""

from __future__ import annotations

import abc
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, Protocol

from connectors.checkpoint import Checkpoint

__all__ = ["DEAD_LETTER_RAW_BYTES", "RowParser", "Source", "SourceRecord", "letter_raw",
           "unencodable_path"]

#: Bytes of a record's original a dead letter carries, whatever the kind: a record may be
#: up to ``max_record_bytes`` (4 MiB) but a message over the producer's request limit
#: (1 MiB) can never be sent, and retrying it would stall the connector on that record.
DEAD_LETTER_RAW_BYTES = 256 * 1024


def letter_raw(raw: bytes) -> bytes:
    """``raw`` as a dead letter carries it: its first :data:`DEAD_LETTER_RAW_BYTES`."""
    return raw[:DEAD_LETTER_RAW_BYTES]


def unencodable_path(value: Any, path: str = "") -> str | None:
    """The dotted path of the first text in ``value`` (dicts and lists at any depth) that
    UTF-8 cannot encode: a lone surrogate, which JSON's ``\\ud800`` escape can carry in
    and no event or hash can take. Only called once encoding has failed."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return path or "?"
        return None
    items: Any = (value.items() if isinstance(value, dict)
                  else enumerate(value) if isinstance(value, list | tuple) else ())
    for key, item in items:
        found = unencodable_path(item, f"{path}.{key}" if path else str(key))
        if found is not None:
            return found
    return None


class RowParser(Protocol):
    """Turns a record's raw bytes into its row (a kind's per-file parser, picklable).

    Raises :class:`~hub.errors.RecordRejected` for a record that cannot be parsed.
    """

    def parse(self, raw: bytes) -> dict[str, Any]: ...


@dataclass(frozen=True, slots=True)
class SourceRecord:
    """One raw record and where it is.

    ``row`` is the column → cell mapping (``None`` when the record could not even be parsed:
    then ``problem`` says why and it goes straight to the dead-letter topic). ``raw`` is the
    original bytes, which the dead-letter record carries so nothing is lost. ``position`` is
    the checkpoint position after this record. ``marker`` records carry only a position
    (end of a file) and produce nothing.

    ``parser`` is set, and ``row`` left ``None``, only when the runner asked the source to
    defer parsing (:attr:`Source.defer_rows`): the mapping process then parses ``raw``
    itself, so the process that reads and produces does not.
    """

    row: dict[str, Any] | None
    raw: bytes
    position: dict[str, Any]
    reference: str
    location: dict[str, str] = field(default_factory=dict)
    problem: Exception | None = None
    marker: bool = False
    parser: RowParser | None = None


class Source(abc.ABC):
    """A source kind. Subclasses implement :meth:`read`; the rest has sensible defaults."""

    #: Set by the runner when rows are mapped in worker processes: a kind that can
    #: (the CSV file kind) then yields raw records with a :class:`RowParser` instead of
    #: parsed rows. Kinds that cannot ignore it.
    defer_rows: bool = False

    #: Set by a kind whose last :meth:`read` ended on a failure it dead-lettered instead of
    #: raising (an HTTP API's hostile answer): the runner then leaves the last-success
    #: gauge where it was, so "polls failing" alerts still fire while the connector runs on.
    failed_poll: bool = False

    @abc.abstractmethod
    def read(self, since: Checkpoint | None) -> AsyncIterator[SourceRecord]:
        """Yield every record after ``since`` that is available now, in order, then stop.

        The runner calls ``read`` again after the poll interval; a kind must not block
        waiting for new data.
        """

    async def committed(self, position: dict[str, Any]) -> None:
        """Called after a checkpoint at ``position`` is durable (e.g. archive a done file)."""
        return None

    async def lag(self, position: dict[str, Any] | None) -> float | None:
        """How far the source is ahead of ``position`` (records, files...), if known."""
        return None

    async def aclose(self) -> None:
        """Release connections, files, clients."""
        return None
