"""One loader for every rule file: YAML → pydantic, every problem reported at once.

Rule files are edited by operators (a province's thresholds, next year's holidays), so a
mistake must be reported with the YAML path of each bad value, all of them in one run,
instead of one traceback per restart. Each rule file can be replaced without touching the
package: a per-file environment variable, or ``LIANGFA_RULES_DIR`` for a whole directory.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from hub.errors import ConfigError
from hub.paths import rules_dir

__all__ = [
    "RULES_DIR_ENV",
    "RuleModel",
    "format_location",
    "load_yaml_model",
    "resolve_rule_path",
]

#: Replace the whole rule directory (every file looked up there first).
RULES_DIR_ENV = "LIANGFA_RULES_DIR"

ModelT = TypeVar("ModelT", bound=BaseModel)


class RuleModel(BaseModel):
    """Base of every rule-file model: frozen, unknown keys rejected (typos are errors)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    def cross_check(self) -> list[str]:
        """Problems a single field cannot see (duplicate ids, dangling references).

        Returned rather than raised so the loader can report them all together.
        """
        return []


def format_location(location: Iterable[int | str], root: str = "") -> str:
    """YAML path of a pydantic error location: ``("units", 3, "code")`` → ``units[3].code``."""
    text = root
    for part in location:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text or "<root>"


def resolve_rule_path(file_name: str, env_var: str, path: str | os.PathLike[str] | None) -> Path:
    """Where a rule file is read from: argument, its own env var, the rules-dir env var, shipped.

    The order lets a test or the CLI pass a file explicitly, an operator replace one file
    (``LIANGFA_RULES_DEADLINES=/etc/liangfa/deadlines.yaml``) or all of them.
    """
    if path is not None:
        return Path(path)
    own = os.environ.get(env_var)
    if own:
        return Path(own).expanduser()
    directory = os.environ.get(RULES_DIR_ENV)
    if directory:
        candidate = Path(directory).expanduser() / file_name
        if candidate.is_file():
            return candidate
    return rules_dir() / file_name


def _read_yaml(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read rule file {path}", [f"{path}: {exc}"]) from exc
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"rule file {path} is not valid YAML", [f"{path}: {exc}"]) from exc


def load_yaml_model(path: Path, model: type[ModelT]) -> ModelT:
    """Parse ``path`` into ``model``; ConfigError lists every problem with its YAML path."""
    data = _read_yaml(path)
    if data is None:
        data = {}
    try:
        loaded = model.model_validate(data)
    except ValidationError as exc:
        problems = [
            f"{format_location(error['loc'])}: {error['msg']}" for error in exc.errors()
        ]
        raise ConfigError(f"rule file {path} has {len(problems)} problem(s)", problems) from exc
    if isinstance(loaded, RuleModel):
        problems = loaded.cross_check()
        if problems:
            raise ConfigError(f"rule file {path} has {len(problems)} problem(s)", problems)
    return loaded
