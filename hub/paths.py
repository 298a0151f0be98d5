"""Where the hub finds its shipped files and keeps its state.

Shipped files (Avro schemas, rule data, topic manifest) are found the same way from a
source checkout and from an installed wheel, so the CLI behaves identically in both.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["cache_dir", "default_home", "package_root", "rules_dir", "schemas_dir"]

_HUB_DIR = Path(__file__).resolve().parent


def package_root() -> Path:
    """The directory holding the ``hub`` package (the repository root in a checkout)."""
    return _HUB_DIR.parent


def schemas_dir() -> Path:
    """The ``.avsc`` files: ``hub/_schemas`` inside a wheel, ``schemas/`` in a checkout."""
    shipped = _HUB_DIR / "_schemas"
    if shipped.is_dir():
        return shipped
    return package_root() / "schemas"


def rules_dir() -> Path:
    """Legal rule data (deadlines, thresholds, routing, code lists), each naming its source."""
    return _HUB_DIR / "rules"


def default_home() -> Path:
    """State of the embedded stack: ``$LIANGFA_HOME`` or the XDG data directory."""
    env = os.environ.get("LIANGFA_HOME")
    if env:
        return Path(env).expanduser()
    data = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(data) / "liangfa-hub"


def cache_dir() -> Path:
    """Downloaded artifacts (Kafka jars, registry), shared by every home: outside the repo."""
    env = os.environ.get("LIANGFA_CACHE")
    if env:
        return Path(env).expanduser()
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "liangfa-hub"
