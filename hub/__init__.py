"""Liangfa Hub core: identity, configuration, serde, Kafka wrappers, local stack, CLI."""

from hub.errors import (
    ConfigError,
    FatalError,
    HubError,
    MappingError,
    RecordRejected,
    RetriableError,
)

__all__ = [
    "ConfigError",
    "FatalError",
    "HubError",
    "MappingError",
    "RecordRejected",
    "RetriableError",
]

__version__ = "0.1.0"
