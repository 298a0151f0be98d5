"""How every process of the hub logs: one format, and the clients' chatter kept down.

httpx logs each request's URL at INFO; a unit's API URL may carry a user and password or
an ``appkey`` in its query, and an operator's log collector is not the place for them.
The Kafka and HTTP clients' own INFO lines are noise beside the hub's, so they log from
WARNING up; what the hub logs about a request names its endpoint without credentials.
"""

from __future__ import annotations

import logging

__all__ = ["configure_logging"]

#: Libraries whose INFO lines are request-by-request chatter (or carry request URLs).
_QUIET = ("aiokafka", "httpx", "httpcore")


def configure_logging(level: str | int = "INFO") -> None:
    """Log to standard error in the hub's format at ``level``."""
    logging.basicConfig(level=level.upper() if isinstance(level, str) else level,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for name in _QUIET:
        logging.getLogger(name).setLevel(logging.WARNING)
