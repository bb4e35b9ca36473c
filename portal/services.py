"""Tenant membership and API-key operations, shared by the pages and the management commands;
each records itself in the audit log, in its own transaction."""

import secrets

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import transaction

from . import audit
from .models import Action, ApiKey, Membership, Role, Tenant
from .tenancy import tenant_context


def _temporary_password():
    return secrets.token_urlsafe(12)


@transaction.atomic
def add_member(tenant, *, username, role, email="", origin=audit.SYSTEM):
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
        audit.record(tenant, Action.MEMBER_ADDED, user, origin, label=username, changes={"role": [None, role]},
                     new_user=password is not None)  # fmt: skip
    return membership, password


def _ensure_another_admin(membership):
    others = Membership.objects.filter(tenant=membership.tenant, role=Role.ADMIN).exclude(pk=membership.pk)
    if membership.role == Role.ADMIN and not others.exists():
        raise ValidationError(
            f"{membership.user} is the last admin of {membership.tenant.name}; name another admin first."
        )


@transaction.atomic
def change_role(membership, role, origin=audit.SYSTEM):
    if role == membership.role:
        return
    if role != Role.ADMIN:
        _ensure_another_admin(membership)
    before, membership.role = membership.role, role
    membership.save(update_fields=["role"])
    _record_member(membership, Action.MEMBER_ROLE_CHANGED, origin, [before, role])


@transaction.atomic
def remove_member(membership, origin=audit.SYSTEM):
    _ensure_another_admin(membership)
    _record_member(membership, Action.MEMBER_REMOVED, origin, [membership.role, None])
    membership.delete()


def _record_member(membership, action, origin, role):
    user = membership.user
    audit.record(membership.tenant, action, user, origin, label=user.get_username(), changes={"role": role})


@transaction.atomic
def issue_api_key(tenant, user, *, name, scope, app_scopes=None, origin=audit.SYSTEM):
    """A new key of ``user`` in ``tenant``: (key, plain text shown once)."""
    key, plain = ApiKey.issue(tenant=tenant, created_by=user, name=name, scope=scope, app_scopes=app_scopes)
    changes = {"name": [None, name], "scope": [None, scope]}
    if app_scopes:
        changes["app_scopes"] = [None, app_scopes]
    audit.record(tenant, Action.API_KEY_ISSUED, key, origin, changes=changes, owner=user.get_username())
    return key, plain


@transaction.atomic
def limit_api_key(key, rate, origin=audit.SYSTEM):
    """Set (or, with "", lift) a key's own rate limit; the portal's limit for every key still applies."""
    if rate == key.rate:
        return
    audit.record(key.tenant, Action.API_KEY_LIMITED, key, origin, changes={"rate": [key.rate or None, rate or None]},
                 owner=key.created_by.get_username())  # fmt: skip
    key.rate = rate
    key.full_clean(validate_unique=False, validate_constraints=False)
    key.save(update_fields=["rate"])


@transaction.atomic
def revoke_api_key(key, origin=audit.SYSTEM):
    key.revoke()
    audit.record(key.tenant, Action.API_KEY_REVOKED, key, origin, owner=key.created_by.get_username())


@transaction.atomic
def create_tenant(*, slug, name, admin_username, admin_email="", description="", origin=audit.SYSTEM):
    """A new tenant with its first admin (the first entry of its audit log); returns (tenant,
    admin's temporary password or None)."""
    if Tenant.objects.filter(slug=slug).exists():
        raise ValidationError(f"A tenant with slug {slug!r} already exists.")
    tenant = Tenant(slug=slug, name=name, description=description)
    tenant.full_clean()
    tenant.save()
    _, password = add_member(tenant, username=admin_username, role=Role.ADMIN, email=admin_email, origin=origin)
    return tenant, password
