"""Message catalogues of the web UI: Simplified Chinese by default, English on request.

Strings live in ``i18n/<language>.yaml`` (nested keys, read as ``section.key``), never in
templates; a page family may keep its own ``i18n/<family>.<language>.yaml`` (merged in, so
engineers working on different pages do not edit one file). A key missing from a catalogue
falls back to Chinese, then to the key itself, so a forgotten translation shows up as a
visible key rather than an error page.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import yaml

__all__ = ["LANGUAGES", "Translator", "catalogue"]

LANGUAGES = ("zh", "en")
_DIR = Path(__file__).with_name("i18n")


def _flatten(prefix: str, node: Any, out: dict[str, str]) -> None:
    if isinstance(node, dict):
        for key, value in node.items():
            _flatten(f"{prefix}.{key}" if prefix else str(key), value, out)
    else:
        out[prefix] = str(node)


@cache
def catalogue(language: str) -> dict[str, str]:
    """The flattened catalogue of a language (``{"nav.cases": "案件查询", …}``)."""
    if language not in LANGUAGES:
        raise ValueError(f"unsupported language {language!r}; choose one of {LANGUAGES}")
    flat: dict[str, str] = {}
    for path in [_DIR / f"{language}.yaml", *sorted(_DIR.glob(f"*.{language}.yaml"))]:
        document = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        _flatten("", document, flat)
    return flat


class Translator:
    """``t("nav.cases")`` in one language; ``t.label("stage", "FILED")`` for code values."""

    def __init__(self, language: str) -> None:
        self.language = language if language in LANGUAGES else "zh"
        self._messages = catalogue(self.language)
        self._fallback = catalogue("zh")

    def __call__(self, key: str, **values: object) -> str:
        text = self._messages.get(key) or self._fallback.get(key) or key
        return text.format(**values) if values else text

    def label(self, section: str, code: str | None) -> str:
        """The name of a code (stage, alert kind, event type…), or the code if unnamed."""
        if not code:
            return ""
        key = f"{section}.{code}"
        return self._messages.get(key) or self._fallback.get(key) or code
