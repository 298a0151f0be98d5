"""``python -m streams.engine.index_build``: build an empty matching-index store.

Run by :meth:`streams.engine.global_index.GlobalIndex._prebuild` in a process of its own,
so the derivation runs on another core than the worker's store replays. Its arguments
come pickled on stdin from that parent (the same program, never another party).
"""

from __future__ import annotations

import os
import pickle
import sys
import threading
import time

from streams.engine.global_index import build_index


def _exit_with_parent(parent: int) -> None:
    """End this process when its worker is gone (killed): a restarted worker must not
    find the store still open here."""
    while os.getppid() == parent:
        time.sleep(0.5)
    os._exit(1)


def main() -> None:
    """Read the arguments, build the store; a failure exits non-zero (the parent then
    builds what is missing itself)."""
    threading.Thread(target=_exit_with_parent, args=(os.getppid(),), daemon=True).start()
    arguments = pickle.loads(sys.stdin.buffer.read())  # noqa: S301 - from the parent
    build_index(**arguments)


if __name__ == "__main__":
    main()
