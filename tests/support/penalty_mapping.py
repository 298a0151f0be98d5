"""The 双公示 penalty mapping tests map rows through: the preset's mapper for the demo
market-regulation bureau, and a sample row as the CSV source hands it on."""

from __future__ import annotations

import functools
from typing import Any

from connectors.config import parse_config
from connectors.mapping import Mapper
from connectors.samples import DEMO_MARKET_UNIT, PENALTY_HEADER, penalty_row


@functools.cache
def penalty_mapper() -> Mapper:
    """The ``penalty-disclosure`` preset's mapper (built once: it compiles its rules)."""
    config = parse_config({"id": "m-test", "unit": DEMO_MARKET_UNIT, "kind": "file",
                           "source": {"path": "/tmp"}, "preset": "penalty-disclosure"})
    return Mapper(config.mapping, unit=config.unit, connector_id=config.id)


def penalty_cells(number: int = 7, **changes: Any) -> dict[str, Any]:
    """Sample row ``number`` by column, with ``changes``."""
    row: dict[str, Any] = dict(zip(PENALTY_HEADER, penalty_row(number), strict=True))
    row.update(changes)
    return row
