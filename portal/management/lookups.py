"""What management commands look up by name, with the error a person at a terminal needs."""

from django.contrib.auth import get_user_model
from django.core.management.base import CommandError

from portal.models import Tenant


def tenant_named(slug):
    tenant = Tenant.objects.filter(slug=slug).first()
    if tenant is None:
        raise CommandError(f"No tenant with slug {slug!r}.")
    return tenant


def user_named(username, *, required=True):
    """The user, or None when ``username`` is empty and not ``required``."""
    if not username and not required:
        return None
    user = get_user_model().objects.filter(username=username).first()
    if user is None:
        raise CommandError(f"No user {username!r}.")
    return user
