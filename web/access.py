"""Who may do what: every route names one permission, checked against the user's role and region.

inspecteur: lists and establishments of their region, records controls there. responsable (régional):
the same, plus the downloads. évaluateur: audit, model versions, aggregates; no individual evidence.
administrateur: everything but recording controls, and the access log.
"""

from __future__ import annotations

from enum import StrEnum

from web.database import User


class Permission(StrEnum):
    LIST = "list"
    EXPORT = "export"
    ESTABLISHMENT = "establishment"
    RECORD = "record"
    AGGREGATES = "aggregates"
    AUDIT = "audit"
    MODELS = "models"
    ACCESS_LOG = "access_log"


REGIONAL = {Permission.LIST, Permission.ESTABLISHMENT, Permission.RECORD, Permission.EXPORT}
GRANTED: dict[str, set[Permission]] = {
    "inspecteur": {Permission.LIST, Permission.ESTABLISHMENT, Permission.RECORD},
    "responsable": {Permission.LIST, Permission.ESTABLISHMENT, Permission.RECORD, Permission.EXPORT},
    "evaluateur": {Permission.AGGREGATES, Permission.AUDIT, Permission.MODELS},
    "administrateur": set(Permission) - {Permission.RECORD},
}


def role_allows(user: User, permission: Permission) -> bool:
    """Whether `user`'s role gives `permission` at all, whatever the region."""
    return permission in GRANTED.get(user.role, set())


def allowed(user: User, permission: Permission, region_code: str | None = None) -> bool:
    """Whether `user` may use `permission`, on `region_code` for the regional ones."""
    if not role_allows(user, permission):
        return False
    if permission in REGIONAL and user.role in ("inspecteur", "responsable"):
        return region_code is not None and region_code == user.region_code
    return True
