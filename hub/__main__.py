"""``python -m hub …`` is the ``liangfa`` command (used to start the hub's own services)."""

from hub.cli import main

main()
