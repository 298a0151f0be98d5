"""Wheel build hook: the connector's native row path goes into the wheel when it is built.

``scripts/build-native.sh`` compiles ``native/rowpath`` into
``connectors/rowpath/_rowpath.so`` (ignored by git, so hatch would leave it out). With
it, the wheel carries the compiled core and is tagged for this interpreter and platform;
without it, the wheel is pure Python and its connectors map every row in Python (same
bytes, ~7 times the mapping's CPU).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface

_CORE = Path("connectors") / "rowpath" / "_rowpath.so"


class NativeRowPathHook(BuildHookInterface):  # type: ignore[type-arg]
    """Adds the compiled core, if any, and the platform tag it needs."""

    PLUGIN_NAME = "custom"

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        if self.target_name != "wheel":
            return
        core = Path(self.root) / _CORE
        if not core.is_file():
            return
        build_data["pure_python"] = False
        build_data["infer_tag"] = True
        build_data["force_include"][str(core)] = str(_CORE)
