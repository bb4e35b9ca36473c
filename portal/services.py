"""Tenant membership operations, shared by the members page and the management commands."""

import secrets

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import transaction

from .models import Membership, Role, Tenant
from .tenancy import tenant_context


def _temporary_password():
    return secrets.token_urlsafe(12)


@transaction.atomic
def add_member(tenant, *, username, role, email=""):
    """Add a user (created if new) to ``tenant``.

    Returns the membership and, for a new user, their temporary password — shown once to
    the admin who adds them, never stored in clear.
    """
    user = get_user_model().objects.filter(username=username).first()
    password = None
    if user is None:
        password = _temporary_password()
        user = get_user_model().objects.create_user(username=username, email=email, password=password)
    with tenant_context(tenant):
        if Membership.objects.filter(tenant=tenant, user=user).exists():
            raise ValidationError(f"{username} is already a member of {tenant.name}.")
        membership = Membership.objects.create(tenant=tenant, user=user, role=role)
    return membership, password


def _ensure_another_admin(membership):
    others = Membership.objects.filter(tenant=membership.tenant, role=Role.ADMIN).exclude(pk=membership.pk)
    if membership.role == Role.ADMIN and not others.exists():
        raise ValidationError(
            f"{membership.user} is the last admin of {membership.tenant.name}; name another admin first."
        )


def change_role(membership, role):
    if role != Role.ADMIN:
        _ensure_another_admin(membership)
    membership.role = role
    membership.save(update_fields=["role"])


def remove_member(membership):
    _ensure_another_admin(membership)
    membership.delete()


@transaction.atomic
def create_tenant(*, slug, name, admin_username, admin_email="", description=""):
    """A new tenant with its first admin; returns (tenant, admin's temporary password or None)."""
    if Tenant.objects.filter(slug=slug).exists():
        raise ValidationError(f"A tenant with slug {slug!r} already exists.")
    tenant = Tenant(slug=slug, name=name, description=description)
    tenant.full_clean()
    tenant.save()
    _, password = add_member(tenant, username=admin_username, role=Role.ADMIN, email=admin_email)
    return tenant, password
