"""Fixtures shared by the stream worker tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from hub.models.examples import EXAMPLE_PROCURATORATE
from tests.integration.test_streams_harness import (
    StreamsDeployment,
    rogue_county_deployment,
    write_example_units,
)
from tests.support.supervision_county import EXAMPLE_OVERSIGHT_UNITS_YAML


@pytest.fixture
def example_county(bootstrap: str, registry_url: str,
                   tmp_path: Path) -> Iterator[StreamsDeployment]:
    """Workers of the example county (``hub.models.examples`` units), run by its
    procuratorate, on topics of their own; every worker is stopped afterwards."""
    deployment = StreamsDeployment(bootstrap, registry_url, tmp_path)
    deployment.units_file = write_example_units(tmp_path)
    deployment.hub_unit = EXAMPLE_PROCURATORATE
    try:
        yield deployment
    finally:
        deployment.stop_all()


@pytest.fixture
def rogue_county(bootstrap: str, registry_url: str,
                 tmp_path: Path) -> Iterator[StreamsDeployment]:
    """The example county with a rogue agency of its own (entitlement tests); every
    worker is stopped afterwards."""
    deployment = rogue_county_deployment(bootstrap, registry_url, tmp_path)
    try:
        yield deployment
    finally:
        deployment.stop_all()


@pytest.fixture
def supervision_county(bootstrap: str, registry_url: str,
                       tmp_path: Path) -> Iterator[StreamsDeployment]:
    """The example county with a justice bureau and a supervision commission
    (``tests.support.supervision_county``), run by its procuratorate: what the tests of
    supervision acts and leads share; every worker is stopped afterwards."""
    deployment = StreamsDeployment(bootstrap, registry_url, tmp_path)
    units = tmp_path / "units.yaml"
    units.write_text(EXAMPLE_OVERSIGHT_UNITS_YAML, encoding="utf-8")
    deployment.units_file = units
    deployment.hub_unit = EXAMPLE_PROCURATORATE
    try:
        yield deployment
    finally:
        deployment.stop_all()
