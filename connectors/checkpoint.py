"""Durable checkpoints: where a connector resumes after a crash, a kill or a restart.

A checkpoint is written only after the broker acknowledged every record before its
position, and written so that a crash mid-write leaves the previous checkpoint intact:
temporary file, fsync, atomic rename, fsync of the directory.
"""

from __future__ import annotations

import json
import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hub.errors import FatalError

__all__ = ["Checkpoint", "CheckpointStore"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Checkpoint:
    """A source position plus what the delivery layer needs to resume without duplicates.

    ``position`` is opaque to the framework (each kind defines it). ``topic_offsets`` maps
    ``topic:partition`` to the offset after the last acknowledged record before the
    position: on restart the connector reads the topics from there to learn which records
    after the position were already written before the crash.
    """

    position: dict[str, Any]
    topic_offsets: dict[str, int] = field(default_factory=dict)
    written_at: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return {"position": self.position, "topic_offsets": self.topic_offsets,
                "written_at": self.written_at}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Checkpoint:
        return cls(position=dict(data.get("position") or {}),
                   topic_offsets={str(k): int(v) for k, v in
                                  (data.get("topic_offsets") or {}).items()},
                   written_at=float(data.get("written_at") or 0.0))


class CheckpointStore:
    """One JSON file per connector in the state directory."""

    def __init__(self, directory: Path, connector_id: str) -> None:
        self.directory = directory
        self.path = directory / f"{connector_id}.checkpoint.json"

    def load(self) -> Checkpoint | None:
        """The last durable checkpoint, or ``None`` for a connector that never ran."""
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        try:
            return Checkpoint.from_json(json.loads(text))
        except (ValueError, TypeError, AttributeError) as exc:
            # A torn checkpoint cannot happen with rename; a corrupt one needs a person.
            raise FatalError(f"checkpoint {self.path} is corrupt: {exc}") from exc

    def save(self, checkpoint: Checkpoint) -> Checkpoint:
        """Write durably: temp file, fsync, rename over the old one, fsync the directory."""
        self.directory.mkdir(parents=True, exist_ok=True)
        stamped = Checkpoint(checkpoint.position, dict(checkpoint.topic_offsets), time.time())
        temporary = self.path.with_suffix(f".tmp.{os.getpid()}")
        data = json.dumps(stamped.to_json(), ensure_ascii=False, sort_keys=True)
        with temporary.open("w", encoding="utf-8") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        temporary.replace(self.path)
        directory_fd = os.open(self.directory, os.O_RDONLY)
        try:
            os.fsync(directory_fd)
        finally:
            os.close(directory_fd)
        log.debug("checkpoint %s written: %s", self.path, stamped.position)
        return stamped
