"""Who may do what in the console: one table, checked on the server for every page and action."""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    ADMIN = "admin"
    AGENT = "agent"
    INSPECTOR = "inspector"
    ANALYST = "analyst"


class Permission(StrEnum):
    VIEW_RETURNS = "view_returns"  # work queue, search, a return's page and timeline
    DECIDE_REVIEWS = "decide_reviews"  # approve or reject a return waiting for staff
    RESOLVE_EXCEPTIONS = "resolve_exceptions"  # clear carrier and receiving flags
    RECEIVE = "receive"
    INSPECT = "inspect"
    DISPOSITION = "disposition"  # route a unit, overriding the engine with a reason
    PLAN_BATCH = "plan_batch"  # assign a day's units under capacity limits
    MANAGE_REFURBISHMENT = "manage_refurbishment"
    MANAGE_MANIFESTS = "manage_manifests"
    VIEW_INVENTORY = "view_inventory"  # ledger, stock, work orders, manifests
    MANAGE_DELIVERIES = "manage_deliveries"  # dead e-mails and webhooks, replay
    ISSUE_REFUNDS = "issue_refunds"  # settle what is due, manual and goodwill refunds, retries
    APPROVE_REFUNDS = "approve_refunds"  # the second agent's yes or no on a large refund
    VIEW_ANALYTICS = "view_analytics"  # dashboards, findings, forecasts, risk scores, exports
    MANAGE_USERS = "manage_users"


_WAREHOUSE = frozenset(
    {
        Permission.VIEW_RETURNS,
        Permission.RECEIVE,
        Permission.INSPECT,
        Permission.DISPOSITION,
        Permission.PLAN_BATCH,
        Permission.MANAGE_REFURBISHMENT,
        Permission.MANAGE_MANIFESTS,
        Permission.VIEW_INVENTORY,
    }
)

PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.ADMIN: frozenset(Permission),
    # Agents talk to shoppers: they decide reviews, clear exceptions and resend messages.
    Role.AGENT: frozenset(
        {
            Permission.VIEW_RETURNS,
            Permission.DECIDE_REVIEWS,
            Permission.RESOLVE_EXCEPTIONS,
            Permission.VIEW_INVENTORY,
            Permission.MANAGE_DELIVERIES,
            Permission.ISSUE_REFUNDS,
            Permission.APPROVE_REFUNDS,
            Permission.VIEW_ANALYTICS,
        }
    ),
    Role.INSPECTOR: _WAREHOUSE,
    # Analysts read everything and change nothing.
    Role.ANALYST: frozenset(
        {Permission.VIEW_RETURNS, Permission.VIEW_INVENTORY, Permission.VIEW_ANALYTICS}
    ),
}


def allowed(role: str, permission: Permission) -> bool:
    try:
        return permission in PERMISSIONS[Role(role)]
    except ValueError:
        return False
