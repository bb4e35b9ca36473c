"""Tenants, their members and their API keys."""

import hashlib
import hmac
import secrets

from django.conf import settings
from django.core.validators import RegexValidator
from django.db import models
from django.utils import timezone


class Tenant(models.Model):
    """An organisation sharing the portal: an observatory network or a collaboration."""

    slug = models.SlugField(unique=True, max_length=50)
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name


class TenantOwned(models.Model):
    """Base for every row that belongs to one tenant; its table gets a row-level policy."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+", editable=False)

    class Meta:
        abstract = True


class Role(models.TextChoices):
    ADMIN = "admin", "Admin"
    ASTRONOMER = "astronomer", "Astronomer"
    VOLUNTEER = "volunteer", "Volunteer"
    PARTNER = "partner", "Partner"


class Membership(TenantOwned):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=20, choices=Role.choices, default=Role.ASTRONOMER)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["tenant", "user"], name="one_membership_per_tenant")]
        ordering = ["tenant__name"]

    def __str__(self):
        return f"{self.user} in {self.tenant} as {self.role}"


class ApiKeyScope(models.TextChoices):
    """What a key may do in one part of the API, in increasing order."""

    NONE = "none", "No access"
    READ = "read", "Read only"
    WRITE = "write", "Read and write"

    @property
    def rank(self):
        return list(ApiKeyScope).index(self)


RATE_FORMAT = RegexValidator(
    r"^[1-9][0-9]{0,6}/(s|sec|min|m|h|hour)$", "Write a rate as calls per period: '10/s', '600/min' or '5000/h'."
)


class ApiKey(TenantOwned):
    """A partner's credential for the REST API.

    Only a SHA-256 of the key is stored: keys are 256-bit random, so a fast hash is as
    safe as a slow one and keeps every API call cheap. The prefix is stored in clear so
    the key can be found (and shown to admins) without the secret.
    """

    PREFIX_LENGTH = 8

    name = models.CharField(max_length=100)
    prefix = models.CharField(
        max_length=PREFIX_LENGTH, unique=True, validators=[RegexValidator(r"^[a-z0-9]+$")], editable=False
    )
    key_hash = models.CharField(max_length=64, editable=False)
    scope = models.CharField(
        max_length=10,
        choices=ApiKeyScope.choices,
        default=ApiKeyScope.READ,
        help_text="What the key may do in every part of the API not named in app_scopes.",
    )
    app_scopes = models.JSONField(
        default=dict, blank=True, help_text="What the key may do in a named part of the API: {app label: scope}."
    )
    rate = models.CharField(
        max_length=20,
        blank=True,
        validators=[RATE_FORMAT],
        help_text="A tenant admin's limit on this key's calls, under the portal's own.",
    )
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_keys")
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "API key"

    def __str__(self):
        return f"{self.name} (ask_{self.prefix}_…)"

    @staticmethod
    def hash_secret(key):
        return hashlib.sha256(key.encode()).hexdigest()

    @classmethod
    def issue(cls, *, tenant, created_by, name, scope=ApiKeyScope.READ, app_scopes=None):
        """Create a key; the returned plain-text key is shown once and never stored."""
        prefix = secrets.token_hex(cls.PREFIX_LENGTH // 2)
        plain = f"ask_{prefix}_{secrets.token_urlsafe(32)}"
        key = cls.objects.create(tenant=tenant, created_by=created_by, name=name, scope=scope,
                                 app_scopes=app_scopes or {}, prefix=prefix,
                                 key_hash=cls.hash_secret(plain))  # fmt: skip
        return key, plain

    def matches(self, plain):
        return hmac.compare_digest(self.key_hash, self.hash_secret(plain))

    @property
    def is_active(self):
        return self.revoked_at is None

    def scope_for(self, app_label):
        """What this key may do in the part of the API that ``app_label`` serves; None is the
        part of no app (whoami), which every key may read: a client's first call asks what its
        key may do."""
        if app_label is None:
            return max(ApiKeyScope(self.scope), ApiKeyScope.READ, key=lambda scope: scope.rank)
        return ApiKeyScope(self.app_scopes.get(app_label, self.scope))

    def revoke(self):
        self.revoked_at = timezone.now()
        self.save(update_fields=["revoked_at"])
