"""The security model: per-unit principals, ACLs generated from the unit registry, SCRAM users.

See ``docs/security.md``.
"""

from hub.security.acl import (
    AclBinding,
    ServicePrincipals,
    acl_bindings,
    format_table,
    scram_users,
    unit_principal,
    unit_user,
)
from hub.security.admin import AclReport, apply_acls, apply_scram_credentials, current_acls
from hub.security.secrets import ensure_passwords, load_passwords, secrets_path

__all__ = [
    "AclBinding",
    "AclReport",
    "ServicePrincipals",
    "acl_bindings",
    "apply_acls",
    "apply_scram_credentials",
    "current_acls",
    "ensure_passwords",
    "format_table",
    "load_passwords",
    "scram_users",
    "secrets_path",
    "unit_principal",
    "unit_user",
]
