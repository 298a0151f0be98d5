"""SCRAM passwords: read from a secrets file the operator owns, never from code or YAML in git.

The file is JSON, ``{"<user>": "<password>", …}``, readable by its owner only; a file
that group or others can read is refused, because it holds every unit's bus password.
Its path comes from ``--secrets`` or ``LIANGFA_SCRAM_SECRETS``. The demo lets
``ensure_passwords`` generate random passwords for missing users into it (mode 0600).
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import stat
from collections.abc import Iterable
from pathlib import Path

from pydantic import SecretStr

from hub.errors import ConfigError
from hub.security.private_files import refuse_foreign, write_private_file

__all__ = ["ensure_passwords", "load_passwords", "secrets_path"]

log = logging.getLogger(__name__)


def secrets_path(explicit: Path | None = None) -> Path:
    """``explicit``, else ``$LIANGFA_SCRAM_SECRETS``; a ConfigError when neither is set."""
    if explicit is not None:
        return explicit
    from_env = os.environ.get("LIANGFA_SCRAM_SECRETS")
    if not from_env:
        raise ConfigError("no SCRAM secrets file", ["pass --secrets FILE or set "
                                                    "LIANGFA_SCRAM_SECRETS"])
    return Path(from_env)


def load_passwords(path: Path) -> dict[str, SecretStr]:
    """The passwords in ``path``; refuses a file others can read or a malformed one."""
    try:
        status = path.stat()
        mode = status.st_mode
        raw = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"cannot read SCRAM secrets {path}", [str(exc)]) from exc
    except json.JSONDecodeError as exc:
        raise ConfigError(f"SCRAM secrets {path} is not JSON", [str(exc)]) from exc
    refuse_foreign(path, status)  # another user could chmod its planted file to 0600
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise ConfigError(f"SCRAM secrets {path} is readable by others",
                          [f"mode is {stat.filemode(mode)}; run chmod 600 {path}"])
    if not isinstance(raw, dict) or not all(
            isinstance(key, str) and isinstance(value, str) and value
            for key, value in raw.items()):
        raise ConfigError(f"SCRAM secrets {path} is malformed",
                          ["expected a JSON object of user name → non-empty password"])
    return {user: SecretStr(password) for user, password in raw.items()}


def ensure_passwords(path: Path, users: Iterable[str]) -> dict[str, SecretStr]:
    """Add a random password for every user missing from ``path`` (created 0600).

    Existing passwords are never changed. The file is written to a sibling and renamed,
    so a crash leaves the old file or the new one, never half of one.
    """
    known = load_passwords(path) if path.exists() else {}
    added = [user for user in users if user not in known]
    if not added and path.exists():
        return known
    for user in added:
        known[user] = SecretStr(secrets.token_urlsafe(24))
    write_private_file(path, json.dumps(
        {user: value.get_secret_value() for user, value in sorted(known.items())}, indent=2))
    log.info("SCRAM secrets %s: %d passwords generated", path, len(added))
    return known
