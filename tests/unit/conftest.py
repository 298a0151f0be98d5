"""Fixtures shared by unit tests."""

from __future__ import annotations

import pytest

from hub.units import UnitRegistry, load_unit_registry
from tests.support.supervision_county import UNITS


@pytest.fixture(scope="module")
def registry() -> UnitRegistry:
    """The unit-test county (青山县) with its justice bureau and supervision commission
    (``tests.support.supervision_county``); a test module may define its own."""
    return load_unit_registry(UNITS)
