from .models import Membership


def tenancy(request):
    """The active tenant and the user's other tenants, for the navigation bar's switcher."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    memberships = Membership.objects.filter(user=user).select_related("tenant")
    return {
        "tenant": getattr(request, "tenant", None),
        "tenant_role": getattr(request, "tenant_role", None),
        "my_memberships": list(memberships),
    }
