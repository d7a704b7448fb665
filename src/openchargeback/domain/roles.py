"""Roles and what each may do. Viewers read; reviewers also act on the review queue;
admins do everything. PIs and their delegates see only the PIs they hold (the portal);
none of the staff permissions is theirs, so every staff page refuses them."""

from __future__ import annotations

from enum import StrEnum

from openchargeback.domain.errors import OpenChargebackError


class Role(StrEnum):
    ADMIN = "admin"
    REVIEWER = "reviewer"
    VIEWER = "viewer"
    PI = "pi"  # linked to registry PIs by verified email
    DELEGATE = "delegate"  # acts for the PIs an admin or the PI granted


class Permission(StrEnum):
    READ = "read"  # every page that shows billing data
    REVIEW = "review"  # the review queue
    IMPORT = "import"  # upload files
    PERIODS = "periods"  # close / finalize / reopen
    SOURCES = "sources"  # add and edit sources
    USERS = "users"  # manage users
    SETTINGS = "settings"  # see the effective configuration
    AUDIT = "audit"  # read the audit log
    REGISTRY = "registry"  # change PIs, projects, funds, fund splits; add adjustments
    PORTAL = "portal"  # the portal: the held PIs' own data only, acknowledge, dispute


GRANTS: dict[Role, frozenset[Permission]] = {
    Role.VIEWER: frozenset({Permission.READ}),
    Role.REVIEWER: frozenset({Permission.READ, Permission.REVIEW}),
    Role.ADMIN: frozenset(Permission) - {Permission.PORTAL},
    Role.PI: frozenset({Permission.PORTAL}),
    Role.DELEGATE: frozenset({Permission.PORTAL}),
}
SCOPED = frozenset({Role.PI, Role.DELEGATE})  # roles whose every read is limited to held PIs


class Forbidden(OpenChargebackError):
    http_status = 403


class NotAuthenticated(OpenChargebackError):
    http_status = 401


class TooManyAttempts(OpenChargebackError):
    http_status = 429


def parse_role(text: str) -> Role:
    try:
        return Role(text.strip().lower())
    except ValueError:
        raise InvalidRole(f"role {text!r}: expected one of {', '.join(r.value for r in Role)}") from None


class InvalidRole(OpenChargebackError):
    http_status = 422


def allowed(role: str, permission: Permission) -> bool:
    return permission in GRANTS.get(Role(role), frozenset())


def require(user: str, role: str, permission: Permission) -> None:
    if not allowed(role, permission):
        raise Forbidden(f"user {user!r} has role {role}; {permission.value!r} needs {_who(permission)}")


def _who(permission: Permission) -> str:
    roles = [r.value for r in Role if permission in GRANTS[r]]
    return " or ".join(roles)
