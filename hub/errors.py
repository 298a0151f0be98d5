"""One exception root for the whole hub, split by what the caller should do next.

```
HubError
 ├── ConfigError          a configuration file or setting is wrong: fix it, then restart
 ├── MappingError         a source record cannot be turned into an event (bad column map, …)
 ├── RecordRejected       one record is bad: it goes to the dead-letter topic, the run goes on
 ├── RetriableError       a blip at a boundary (broker, registry, HTTP): retry with backoff
 │    └── StackError      the local Kafka/registry processes failed to start or answer
 └── FatalError           nothing sensible can continue: stop the process loudly
      └── SchemaCompatibilityError  a schema change would break consumers
```

Callers catch hub errors only; library exceptions are wrapped at the boundary with
``raise … from exc`` so the cause survives in tracebacks.
"""

from __future__ import annotations

__all__ = [
    "ConfigError",
    "FatalError",
    "HubError",
    "MappingError",
    "RecordRejected",
    "RetriableError",
    "SchemaCompatibilityError",
    "StackError",
]


class HubError(Exception):
    """Root of every error the hub raises on purpose."""


class ConfigError(HubError):
    """A configuration problem; ``problems`` lists every one found, each with its path."""

    def __init__(self, message: str, problems: list[str] | None = None) -> None:
        super().__init__(message)
        self.problems: list[str] = problems or []

    def __str__(self) -> str:
        base = super().__str__()
        if not self.problems:
            return base
        return base + "\n" + "\n".join(f"  - {p}" for p in self.problems)


class MappingError(HubError):
    """A source record could not be mapped onto an event."""


class RecordRejected(HubError):
    """One record is unusable; skippable: it is dead-lettered with these details as headers.

    ``field`` and ``value`` name what was wrong so that an agency clerk can find and fix
    the row in their own system.
    """

    def __init__(
        self,
        reason: str,
        *,
        field: str | None = None,
        value: object = None,
        error_type: str = "invalid",
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.field = field
        self.value = value
        self.error_type = error_type


class RetriableError(HubError):
    """A transient failure at a boundary; the operation may succeed if retried."""


class StackError(RetriableError):
    """The local stack (Kafka broker, schema registry) could not be started or reached."""


class FatalError(HubError):
    """Continuing would lose or corrupt data: stop the process."""


class SchemaCompatibilityError(FatalError):
    """A schema change breaks BACKWARD_TRANSITIVE compatibility."""
