"""Names of units for display, from the unit registry YAML (``units: [{code, name, …}]``).

The view shows names, the bus carries codes. A code the registry does not know is shown
as the code itself: an unknown unit is a data problem to notice, not to hide.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import yaml

from hub.errors import ConfigError
from hub.paths import package_root

__all__ = ["Unit", "UnitDirectory", "default_units_file"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Unit:
    """A member unit (成员单位) as the view needs it."""

    code: str
    name: str
    name_en: str
    kind: str


def default_units_file() -> Path | None:
    """The demo county's registry in a checkout (embedded stack), if present."""
    candidate = package_root() / "deploy" / "demo" / "units.yaml"
    return candidate if candidate.is_file() else None


class UnitDirectory:
    """Code → unit lookups; empty when no registry is configured."""

    def __init__(self, units: list[Unit] | None = None) -> None:
        self._units = {unit.code: unit for unit in units or []}

    @classmethod
    def load(cls, path: Path | None) -> UnitDirectory:
        """Read a registry file; a malformed file is a configuration error, not a guess."""
        if path is None:
            return cls()
        try:
            document = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise ConfigError(f"cannot read unit registry {path}: {exc}") from exc
        entries = document.get("units", []) if isinstance(document, dict) else document
        problems: list[str] = []
        units: list[Unit] = []
        for index, entry in enumerate(entries or []):
            if not isinstance(entry, dict) or not entry.get("code") or not entry.get("name"):
                problems.append(f"units[{index}]: needs at least 'code' and 'name'")
                continue
            units.append(
                Unit(
                    code=str(entry["code"]).upper(),
                    name=str(entry["name"]),
                    name_en=str(entry.get("name_en") or entry["name"]),
                    kind=str(entry.get("kind") or ""),
                )
            )
        if problems:
            raise ConfigError(f"unit registry {path} is invalid", problems)
        logger.info("loaded %s units from %s", len(units), path)
        return cls(units)

    def get(self, code: str) -> Unit | None:
        """The unit with this code, if the registry knows it."""
        return self._units.get(code.upper())

    def name(self, code: str, language: str = "zh") -> str:
        """Display name in the language asked for; the code itself when unknown."""
        unit = self.get(code)
        if unit is None:
            return code
        return unit.name_en if language == "en" else unit.name

    def all(self) -> list[Unit]:
        """Every unit, in registry order."""
        return list(self._units.values())

    def first_of_kind(self, kind: str) -> Unit | None:
        """The first unit of a kind (e.g. the procuratorate that operates the view)."""
        return next((unit for unit in self._units.values() if unit.kind == kind), None)
