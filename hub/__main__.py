"""``python -m hub …`` is the ``liangfa`` command (used to start the hub's own services)."""

from hub.cli import main

if __name__ == "__main__":  # not when a spawned child process imports it again
    main()
