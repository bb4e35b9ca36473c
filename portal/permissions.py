"""Who may do what: one map from named actions to the roles allowed, read by the pages, the
API, the websockets and the navigation alike.

Before this map each page, the API and the templates kept their own lists of roles, and they
drifted: the API checked no role at all, so a partner's key could edit sites that only admins
may edit on the pages. Pages are the reference; every other surface asks the same question
here, so a role's rights are written once.
"""

from django.core.exceptions import PermissionDenied

from . import tenancy
from .models import Membership, Role

EVERYONE = tuple(Role)
STAFF = (Role.ADMIN, Role.ASTRONOMER)

PERMISSIONS = {
    # Browse the observatory: sites, targets, frames, alerts, models, follow-ups, similar galaxies.
    "tenant.read": EVERYONE,
    # Sites, telescopes, instruments and filters: edited in the admin, so admins only.
    "sites.change": (Role.ADMIN,),
    "targets.change": STAFF,
    "frames.upload": STAFF,
    # Send alert packets: admins' and astronomers' pipelines, and partners' brokers.
    "alerts.send": (Role.ADMIN, Role.ASTRONOMER, Role.PARTNER),
    # Ask for telescope time: the people who run or use the telescopes.
    "alerts.follow_up": STAFF,
    "alerts.dead_letters": (Role.ADMIN,),
    "alerts.streams": (Role.ADMIN,),
    # One's own alert filters: every member may watch the feed through them.
    "alert_filters.change": EVERYONE,
    "jobs.start": STAFF,
    # Write proposals for telescope time; review them, grant hours, open semesters.
    "proposals.write": STAFF,
    "proposals.review": (Role.ADMIN,),
    # A telescope's control software: report observations started, completed, failed; sites' weather.
    "telescopes.operate": STAFF,
    # Citizen-science projects: create them, write their workflows, choose their galaxies.
    "projects.manage": STAFF,
    "api_keys.manage": (Role.ADMIN, Role.ASTRONOMER, Role.PARTNER),
    "api_keys.issue_write": (Role.ADMIN, Role.PARTNER),
    "api_keys.see_all": (Role.ADMIN,),
    # Set a key's own rate limit, on the keys page, under the portal's limit for every key.
    "api_keys.limit": (Role.ADMIN,),
    # Change anything through a key. Volunteers hold no keys on the pages, so a key left from
    # an earlier role (a demoted member's) still reads what a volunteer may read, and writes nothing.
    "api.write": (Role.ADMIN, Role.ASTRONOMER, Role.PARTNER),
    "members.manage": (Role.ADMIN,),
    # Read who changed members, keys, models and equipment (the audit log, its page and admin).
    "audit.view": (Role.ADMIN,),
    "models.manage": (Role.ADMIN,),
    "admin.site": (Role.ADMIN,),
}


def may(role, action):
    """Whether ``role`` (a Role, or None for a non-member) may do ``action``; unknown actions raise."""
    return role in PERMISSIONS[action]


def allowed(role):
    """Every action as ``{"targets_change": bool, …}``: what templates read as ``may.targets_change``."""
    return {action.replace(".", "_"): role in roles for action, roles in PERMISSIONS.items()}


def roles_for(action):
    """The roles allowed ``action``, in words: "admins and astronomers"."""
    names = [f"{role.label.lower()}s" for role in PERMISSIONS[action]]
    return " and ".join([", ".join(names[:-1]), names[-1]] if len(names) > 1 else names)


def require(request, action):
    """Refuse a page request whose user's role in its tenant may not do ``action`` (403)."""
    if not may(request.tenant_role, action):
        raise PermissionDenied(f"Only {roles_for(action)} of {request.tenant} may do this.")


def role_of(user, tenant):
    """``user``'s current role in ``tenant``, read now (not cached: a removal or demotion counts
    at once), or None; superusers act as admins everywhere, as on the pages."""
    with tenancy.tenant_context(tenant, user):
        # One membership at most (unique per tenant and user), so no ordering: the model's own
        # would join the tenant table to sort one row by its name.
        roles = list(Membership.objects.filter(tenant=tenant, user=user).order_by().values_list("role", flat=True))
    role = roles[0] if roles else None
    if role is None and user.is_superuser:
        return Role.ADMIN
    return None if role is None else Role(role)
