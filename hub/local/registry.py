"""Apicurio Registry with ``kafkasql`` storage, so schemas live in the broker and survive."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from hub.local.processes import JavaRuntime, start_jvm

__all__ = ["RegistryConfig", "start_registry"]


@dataclass(frozen=True)
class RegistryConfig:
    """The registry's port and the broker it keeps its journal in."""

    home: Path
    port: int
    bootstrap: str
    heap_mib: int = 384

    @property
    def folder(self) -> Path:
        return self.home / "registry"

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ccompat_url(self) -> str:
        """The Confluent-compatible API base, what every serde client is pointed at."""
        return f"{self.base_url}/apis/ccompat/v7"


def start_registry(config: RegistryConfig, java: JavaRuntime, runner: Path) -> int:
    """Start the registry JVM detached; returns its pid."""
    config.folder.mkdir(parents=True, exist_ok=True)
    heap = f"{config.heap_mib}m"
    env = {
        "APICURIO_STORAGE_KIND": "kafkasql",
        "APICURIO_KAFKASQL_BOOTSTRAP_SERVERS": config.bootstrap,
        "QUARKUS_HTTP_HOST": "127.0.0.1",
        "QUARKUS_HTTP_PORT": str(config.port),
        "QUARKUS_LOG_LEVEL": "WARN",
        "APICURIO_REST_DELETION_ARTIFACT_ENABLED": "true",
        "APICURIO_REST_DELETION_ARTIFACT_VERSION_ENABLED": "true",
    }
    return start_jvm(
        java,
        home=config.home,
        component="registry",
        jvm_args=["-Xms128m", f"-Xmx{heap}", "-XX:+UseSerialGC", "-Djava.awt.headless=true",
                  "-Dquarkus.http.host=127.0.0.1", f"-Dquarkus.http.port={config.port}",
                  "-jar"],
        main=[str(runner)],
        log_file=config.folder / "registry.log",
        env=env,
    )
