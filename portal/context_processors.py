from .models import Membership
from .permissions import allowed


def tenancy(request):
    """The active tenant, the user's other tenants (for the navigation bar's switcher) and what
    the user's role may do there (``may.targets_change`` …), so no page offers a link that
    answers 403."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    memberships = Membership.objects.filter(user=user).select_related("tenant")
    role = getattr(request, "tenant_role", None)
    return {
        "tenant": getattr(request, "tenant", None),
        "tenant_role": role,
        "may": allowed(role),
        "my_memberships": list(memberships),
    }
