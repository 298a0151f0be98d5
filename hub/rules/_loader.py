"""One loader for every rule file: YAML → pydantic, every problem reported at once.

Rule files are edited by operators (a province's thresholds, next year's holidays), so a
mistake must be reported with the YAML path of each bad value, all of them in one run,
instead of one traceback per restart. Each rule file can be replaced without touching the
package: a per-file environment variable, or ``LIANGFA_RULES_DIR`` for a whole directory.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Generic, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from hub.errors import ConfigError
from hub.paths import rules_dir

__all__ = [
    "RULES_DIR_ENV",
    "RuleFile",
    "RuleModel",
    "clear_rule_caches",
    "format_location",
    "load_yaml_model",
    "registered_rule_files",
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


def _describe(exc: ValidationError) -> list[str]:
    """One line per real problem.

    A bad item inside a list also makes pydantic report the list "too short" (the item
    did not survive validation); that echo only confuses an operator, so it is dropped.
    """
    errors = exc.errors()
    locations = [tuple(error["loc"]) for error in errors]
    lines: list[str] = []
    for error, location in zip(errors, locations, strict=True):
        if error["type"] == "too_short" and any(
            len(other) > len(location) and other[: len(location)] == location
            for other in locations
        ):
            continue
        message = str(error["msg"]).removeprefix("Value error, ")
        lines.append(f"{format_location(location)}: {message}")
    return lines


def load_yaml_model(path: Path, model: type[ModelT]) -> ModelT:
    """Parse ``path`` into ``model``; ConfigError lists every problem with its YAML path."""
    data = _read_yaml(path)
    if data is None:
        data = {}
    try:
        loaded = model.model_validate(data)
    except ValidationError as exc:
        problems = _describe(exc)
        raise ConfigError(f"rule file {path} has {len(problems)} problem(s)", problems) from exc
    if isinstance(loaded, RuleModel):
        problems = loaded.cross_check()
        if problems:
            raise ConfigError(f"rule file {path} has {len(problems)} problem(s)", problems)
    return loaded


class RuleFile(Generic[ModelT]):
    """A rule file with its override variable and a per-path cache.

    Processors look rules up per event; parsing YAML each time would dominate. The cache
    is keyed by the resolved path so a test or the CLI can load another file alongside.
    """

    def __init__(self, file_name: str, env_var: str, model: type[ModelT]) -> None:
        self.file_name = file_name
        self.env_var = env_var
        self.model = model
        self._lock = threading.Lock()
        self._cache: dict[Path, ModelT] = {}
        _RULE_FILES.append(self)

    def path(self, path: str | os.PathLike[str] | None = None) -> Path:
        """Where the file is read from (argument, own env var, rules-dir env var, shipped)."""
        return resolve_rule_path(self.file_name, self.env_var, path)

    def load(self, path: str | os.PathLike[str] | None = None) -> ModelT:
        """The validated contents, parsed once per path."""
        resolved = self.path(path)
        with self._lock:
            cached = self._cache.get(resolved)
        if cached is not None:
            return cached
        loaded = load_yaml_model(resolved, self.model)
        with self._lock:
            self._cache[resolved] = loaded
        return loaded

    def clear(self) -> None:
        """Forget parsed contents (after an operator replaced the file)."""
        with self._lock:
            self._cache.clear()


_RULE_FILES: list[RuleFile[Any]] = []


def registered_rule_files() -> tuple[RuleFile[Any], ...]:
    """Every rule file the hub knows, for validation commands and tests."""
    return tuple(_RULE_FILES)


def clear_rule_caches() -> None:
    """Forget every parsed rule file."""
    for rule_file in _RULE_FILES:
        rule_file.clear()
