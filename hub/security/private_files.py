"""Files and folders only the hub's own user may read: secrets, data, the home.

Why a module of its own: the embedded hub runs on a county's shared server, where other
local users exist. A home created under umask 022 left the broker's data, the workers'
stores and the view's database readable by all of them (past every ACL), and secrets
written through a fixed temporary name could be captured by a file another user planted
there first. Every secret and the home go through here.
"""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from pathlib import Path

from hub.errors import ConfigError

__all__ = ["private_folder", "refuse_foreign", "write_private_file"]


def refuse_foreign(path: Path, status: os.stat_result) -> None:
    """Refuse what another user owns, or what others may write (they could swap it)."""
    if status.st_uid != os.getuid():
        raise ConfigError(f"{path} belongs to another user (uid {status.st_uid})",
                          ["the hub's home, secrets and data must be the hub user's own"])


def private_folder(folder: Path) -> Path:
    """``folder`` (the hub's home), created 0700 when missing; an existing one must be
    ours, and is made 0700. A link is followed only when it is ours too (a home on a data
    disk); one another user planted is refused."""
    with contextlib.suppress(FileExistsError):  # a file there: refused below
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    link = folder.lstat()
    if stat.S_ISLNK(link.st_mode):
        refuse_foreign(folder, link)
        folder = folder.resolve()
    try:
        status = folder.stat()
    except OSError as exc:  # a link to a disk not mounted
        raise ConfigError(f"{folder} cannot be reached: {exc}",
                          ["mount the disk the home's link points to"]) from exc
    if not stat.S_ISDIR(status.st_mode):
        raise ConfigError(f"{folder} is not a folder",
                          ["remove it; the hub creates its folders itself"])
    refuse_foreign(folder, status)
    if stat.S_IMODE(status.st_mode) & 0o077:
        folder.chmod(0o700)
    return folder


def write_private_file(path: Path, text: str) -> Path:
    """Write ``text`` readable by the owner only (0600; its folder created 0700 when
    missing), atomically, through a temporary file of a fresh random name created
    exclusively (a planted file or link at a fixed name cannot take the secret). An
    existing folder is left as it is: an operator's ``--secrets`` file may live anywhere;
    the hub's own secrets live in its private home."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.",
                                             suffix=".tmp")
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            handle.write(text)
        Path(temporary).replace(path)
    except BaseException:
        with contextlib.suppress(OSError):
            Path(temporary).unlink()
        raise
    return path
