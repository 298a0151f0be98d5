"""XML kind: a drop folder of XML exports (court judgments), parsed safely and streamed.

Parsing uses defusedxml with DTDs forbidden: a file with a DOCTYPE or entity
declarations is never expanded (no billion laughs, no external entities); the whole file
is refused (:class:`~connectors.kinds.dropfolder.FileRejected`: quarantine, one
dead-letter record with the reason), and the connector carries on. Records are
the elements named ``record_tag``; each becomes a flat row (child tags, nested children as
``parent.child``, attributes as ``@name``, the enclosing elements' context as
``ancestor.child``: see :func:`record_row`) and is cleared after use, so memory stays flat.
A record may sit inside another record-like element: a second connector with
``record_tag: judicialRecommendation`` reads the recommendations inside the judgments.
"""

from __future__ import annotations

import contextlib
import logging
import xml.etree.ElementTree as ElementTree
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import iterparse

from connectors.config import XmlSourceConfig
from connectors.kinds.dropfolder import DropFolderSource, FileRejected, open_regular
from connectors.source import SourceRecord

__all__ = ["XmlSource", "element_row", "iter_xml_records", "record_row"]

log = logging.getLogger(__name__)
#: Elements other than records the parser may hold at once: what records' context and
#: the record being read need is a few dozen; a file of millions of them between two
#: records (39 MB: 340 MB of memory, and a row of two million columns) is refused.
MAX_HELD_ELEMENTS = 100_000
#: Nesting deeper than any export has (every open element is held until it ends).
MAX_DEPTH = 256


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def element_row(element: ElementTree.Element, prefix: str = "") -> dict[str, str]:
    """Flatten one record element into column → text.

    Nested elements become ``parent.child``; attributes ``parent.@name``; a nested element
    that repeats among its siblings is numbered (``defendants.defendant.0.name``,
    ``defendants.defendant.1.name``); repeated leaf elements join with ``;``.
    """
    row: dict[str, str] = {}
    for name, value in element.attrib.items():
        row[f"{prefix}@{_local(name)}"] = value
    tags = [_local(child.tag) for child in element]
    seen: dict[str, int] = {}
    for child, tag in zip(element, tags, strict=True):
        complex_child = bool(len(child) or child.attrib)
        if complex_child:
            name = f"{prefix}{tag}"
            if tags.count(tag) > 1:
                index = seen.get(tag, 0)
                seen[tag] = index + 1
                name = f"{name}.{index}"
            row.update(element_row(child, name + "."))
            text = (child.text or "").strip()
            if text:
                row[name] = text
            continue
        name = f"{prefix}{tag}"
        text = (child.text or "").strip()
        if name in row and text:
            row[name] = f"{row[name]};{text}"
        elif text or name not in row:
            row[name] = text
    return row


def record_row(element: ElementTree.Element,
               ancestors: list[ElementTree.Element]) -> dict[str, str]:
    """The row of one record: its own columns, its own text, and its ancestors' context.

    A record nested in a larger element (a ``<judicialRecommendation>`` inside a
    ``<judgment>``) is meaningless without what surrounds it (the court case number), so
    the row also carries, prefixed with the ancestor's tag, the attributes of every
    ancestor and the children an ancestor below the root has so far
    (``judgment.courtCaseNumber``, ``courtExport.@courtCode``): the children before the
    one on the record's path, so a row never depends on how far the parser read ahead.
    Other records (the root's children, siblings of the path's own kind) are never
    copied. The record's own text, when it has any, is the column named after its tag
    (``judicialRecommendation``).
    """
    row: dict[str, str] = {}
    for depth, ancestor in enumerate(ancestors):
        prefix = f"{_local(ancestor.tag)}."
        for attribute, value in ancestor.attrib.items():
            row[f"{prefix}@{_local(attribute)}"] = value
        if depth == 0:
            continue
        # The children the ancestor had before the one on the record's path: what the
        # parser read after it (read ahead) would make the row depend on where its buffer
        # ended. Siblings of the path's own kind (earlier records, earlier judgments
        # holding records) are other records' business, not context.
        on_path = ancestors[depth + 1] if depth + 1 < len(ancestors) else element
        context = ElementTree.Element(ancestor.tag)
        for child in ancestor:
            if child is on_path:
                break
            if child.tag != on_path.tag:
                context.append(child)
        row.update(element_row(context, prefix))
    row.update(element_row(element))
    text = (element.text or "").strip()
    tag = _local(element.tag)
    if text and tag not in row:
        row[tag] = text
    return row


def _descendants(element: ElementTree.Element) -> int:
    """Elements below ``element``: each ended before it, so each was counted as held."""
    return sum(1 for _ in element.iter()) - 1


def iter_xml_records(path: Path, record_tag: str, digest: str,
                     skip: int = 0, max_rows: int | None = None) -> Iterator[SourceRecord]:
    """Records of one XML file after the first ``skip``; unsafe or broken XML, or more
    than ``max_rows`` records, refuses the file (:class:`FileRejected`)."""
    name = path.name
    index = 0
    held = 0  # elements ended and still in the tree (records and containers let go)
    ancestors: list[ElementTree.Element] = []
    #: Elements below the root that hold records (a ``<judgment>`` of recommendations):
    #: let go of when they end, as records are, so memory and each row's context stay
    #: the size of one of them, not of the file read so far.
    containers: set[int] = set()
    try:
        handle = open_regular(path)
    except OSError as exc:
        raise FileRejected(f"{name} cannot be read: {exc}", error_type="unreadable_file",
                           value=name) from exc
    try:
        for event, element in iterparse(handle, events=("start", "end"), forbid_dtd=True,
                                        forbid_entities=True, forbid_external=True):
            if event == "start":
                ancestors.append(element)
                if len(ancestors) > MAX_DEPTH:
                    raise FileRejected(f"{name} after record {index}: elements nested more "
                                       f"than {MAX_DEPTH} deep", error_type="too_deep",
                                       value=name)
                continue
            ancestors.pop()
            if _local(element.tag) != record_tag:
                if id(element) in containers:  # it held records: done with, let go
                    containers.discard(id(element))
                    held -= _descendants(element)
                    element.clear()
                    if ancestors:
                        with contextlib.suppress(ValueError):
                            ancestors[-1].remove(element)
                    continue
                if len(ancestors) == 1:
                    # a child of the root: no record's context (record_row copies only
                    # the root's attributes), so let go of it (a <签章/> after each record)
                    element.clear()
                    with contextlib.suppress(ValueError):
                        ancestors[0].remove(element)
                    continue
                held += 1
                if held > MAX_HELD_ELEMENTS:
                    raise FileRejected(
                        f"{name} after record {index}: more than {MAX_HELD_ELEMENTS:,} "
                        f"elements that are not <{record_tag}> records held at once (the "
                        "context of every later record)", error_type="too_many_elements",
                        value=name)
                continue
            held -= _descendants(element)  # its fields, counted as they ended
            index += 1
            if max_rows is not None and index > max_rows:
                raise FileRejected(f"{name} has more than max_rows ({max_rows:,}) records",
                                   error_type="too_many_rows", value=name)
            if index > skip:
                raw = ElementTree.tostring(element, encoding="utf-8")
                yield SourceRecord(record_row(element, ancestors), raw,
                                   {"fingerprint": digest, "file": name, "row": index},
                                   f"{name}#record {index}",
                                   {"source.file": name, "source.row": str(index)})
            element.clear()
            # Taken out of its parent too: a wrapper's earlier records would otherwise be
            # walked again for every later one (``record_row`` copies a wrapper's
            # children), quadratic in the records, and kept in memory to the file's end.
            # The parser reads ahead, so later records may follow it already; the earlier
            # ones are gone, so it is found at the front.
            if ancestors:
                with contextlib.suppress(ValueError):
                    ancestors[-1].remove(element)
                containers.update(id(node) for node in ancestors[1:])
    except (DefusedXmlException, ElementTree.ParseError) as exc:
        kind = "unsafe_xml" if isinstance(exc, DefusedXmlException) else "malformed_xml"
        raise FileRejected(f"{name} after record {index}: {exc}", error_type=kind,
                           value=name) from exc
    finally:
        handle.close()


class XmlSource(DropFolderSource):
    """Reads settled XML files in mtime order, archives them once checkpointed."""

    def __init__(self, config: XmlSourceConfig) -> None:
        self.config = config
        self._open_folder(config.path, config.pattern, config.archive_dir(),
                          config.settle_seconds, config.quarantine_dir())
        self.max_file_bytes = config.limits.max_file_bytes

    def records(self, path: Path, digest: str, resume: dict[str, Any]
                ) -> Iterator[SourceRecord]:
        return iter_xml_records(path, self.config.record_tag, digest,
                                int(resume.get("row") or 0), self.config.limits.max_rows)
