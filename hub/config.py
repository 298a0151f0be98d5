"""Process-wide settings: where the broker and registry are and how to authenticate.

Read from ``LIANGFA_*`` environment variables (or passed explicitly), frozen once built, with
secrets as ``SecretStr`` so they never print in logs or tracebacks.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from hub.paths import default_home

__all__ = ["HubSettings", "KafkaSecurity", "RegistryAuth"]


class KafkaSecurity(BaseSettings):
    """TLS / SASL for the broker connection (per-unit identity in production)."""

    model_config = SettingsConfigDict(env_prefix="LIANGFA_KAFKA_", frozen=True)

    security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    ssl_cafile: Path | None = None
    ssl_certfile: Path | None = None
    ssl_keyfile: Path | None = None
    sasl_mechanism: Literal["SCRAM-SHA-512", "SCRAM-SHA-256", "PLAIN"] | None = None
    sasl_username: str | None = None
    sasl_password: SecretStr | None = None


class RegistryAuth(BaseSettings):
    """How the serde authenticates to the schema registry."""

    model_config = SettingsConfigDict(env_prefix="LIANGFA_REGISTRY_", frozen=True)

    username: str | None = None
    password: SecretStr | None = None
    bearer_token: SecretStr | None = None
    ca_file: Path | None = None
    cert_file: Path | None = None
    key_file: Path | None = None


class HubSettings(BaseSettings):
    """Addresses of the bus; defaults point at the embedded local stack's default ports."""

    model_config = SettingsConfigDict(env_prefix="LIANGFA_", frozen=True, extra="ignore")

    bootstrap: str = "127.0.0.1:19092"
    registry_url: str = "http://127.0.0.1:18081/apis/ccompat/v7"
    home: Path = Field(default_factory=default_home)
    kafka_security: KafkaSecurity = Field(default_factory=KafkaSecurity)
    registry_auth: RegistryAuth = Field(default_factory=RegistryAuth)
    #: Where the processes serve their Prometheus /metrics (worker, public feeds, audit
    #: sealer): this host only by default (the embedded hub, a shared machine). A container
    #: install sets ``0.0.0.0``: its Prometheus, and the kubelet's probes, reach the pod's
    #: address, not its loopback. The metrics carry counts, never case data.
    metrics_host: str = "127.0.0.1"
