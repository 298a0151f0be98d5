"""Options shared by several commands, declared once."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from hub.paths import default_home

__all__ = ["HomeOption", "JsonOption"]

HomeOption = Annotated[
    Path,
    typer.Option("--home", help="State directory of the embedded stack (data, logs, ports).",
                 default_factory=default_home, show_default="$LIANGFA_HOME or XDG data dir"),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]
