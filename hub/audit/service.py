"""The audit sealer as a service of ``liangfa up`` (one small function the stack calls).

``liangfa up`` runs one sealer per home: ``python -m hub audit seal``, with the stack's
broker and registry, metrics on ``view port + 30`` (8630 by default), and, on the secured
default, the ``liangfa-audit`` principal's credentials (``hub.security.acl``: the only
principal that may write ``lf.audit``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from hub.local.services import ServiceSpec

__all__ = ["AUDIT_SEALER_COMPONENT", "AUDIT_SEALER_PORT_OFFSET", "audit_sealer_service"]

AUDIT_SEALER_COMPONENT = "audit-sealer"
#: Offset of the sealer's metrics port from the view's port (8600 → 8630).
AUDIT_SEALER_PORT_OFFSET = 30


def audit_sealer_service(common_args: Sequence[str], env: Mapping[str, str], *,
                         metrics_port: int, **options: Any) -> ServiceSpec:
    """The sealer's service spec; ``common_args`` carry ``--bootstrap``/``--registry-url``
    and ``options`` any further ServiceSpec field the stack sets for every service (its
    credentials file, for one)."""
    return ServiceSpec(
        component=AUDIT_SEALER_COMPONENT, module="hub",
        args=["audit", "seal", "--metrics-port", str(metrics_port), *common_args],
        health_url=f"http://127.0.0.1:{metrics_port}/metrics",
        address=f"http://127.0.0.1:{metrics_port}/metrics", env=dict(env), **options)
