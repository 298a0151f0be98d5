"""Screening: placeholder until its pure logic module lands."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from streams.app import Runtime

__all__ = ["register"]


def register(runtime: Runtime) -> None:
    """Nothing yet."""
