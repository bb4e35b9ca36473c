"""The audit log: who changed the observatory's members, keys, models and equipment, when and how."""

from datetime import UTC

from django.conf import settings
from django.db import models
from django.utils import timezone

from .tenancy import Tenant, TenantOwned


class Action(models.TextChoices):
    """What happened, as ``kind.verb``; the page filters by either."""

    MEMBER_ADDED = "member.added", "Member added"
    MEMBER_ROLE_CHANGED = "member.role_changed", "Member's role changed"
    MEMBER_REMOVED = "member.removed", "Member removed"
    API_KEY_ISSUED = "api_key.issued", "API key issued"
    API_KEY_REVOKED = "api_key.revoked", "API key revoked"
    API_KEY_LIMITED = "api_key.limited", "API key's rate limit changed"
    API_KEY_DELETED = "api_key.deleted", "API key deleted"
    MODEL_CREATED = "model.created", "Model created"
    MODEL_CHANGED = "model.changed", "Model changed"
    MODEL_DELETED = "model.deleted", "Model deleted"
    MODEL_PROMOTED = "model.promoted", "Model version promoted"
    MODEL_ARCHIVED = "model.archived", "Model version archived"
    SITE_CREATED = "site.created", "Site created"
    SITE_CHANGED = "site.changed", "Site changed"
    SITE_DELETED = "site.deleted", "Site deleted"
    TELESCOPE_CREATED = "telescope.created", "Telescope created"
    TELESCOPE_CHANGED = "telescope.changed", "Telescope changed"
    TELESCOPE_DELETED = "telescope.deleted", "Telescope deleted"
    INSTRUMENT_CREATED = "instrument.created", "Instrument created"
    INSTRUMENT_CHANGED = "instrument.changed", "Instrument changed"
    INSTRUMENT_DELETED = "instrument.deleted", "Instrument deleted"
    FILTER_CREATED = "filter.created", "Filter created"
    FILTER_CHANGED = "filter.changed", "Filter changed"
    FILTER_DELETED = "filter.deleted", "Filter deleted"
    HEADER_RULE_CREATED = "header_rule.created", "Header rule created"
    HEADER_RULE_CHANGED = "header_rule.changed", "Header rule changed"
    HEADER_RULE_DELETED = "header_rule.deleted", "Header rule deleted"
    ALERT_STREAM_CREATED = "alert_stream.created", "Alert stream created"
    ALERT_STREAM_CHANGED = "alert_stream.changed", "Alert stream changed"
    ALERT_STREAM_DELETED = "alert_stream.deleted", "Alert stream deleted"

    @classmethod
    def kinds(cls):
        """The kinds (``member``, ``site`` …) in the order the actions are listed."""
        return list(dict.fromkeys(value.split(".")[0] for value in cls.values))


class Where(models.TextChoices):
    PAGE = "page", "Page"
    API = "api", "API"
    ADMIN = "admin", "Admin"
    COMMAND = "command", "Command"
    TASK = "task", "Worker task"
    SYSTEM = "system", "Code or shell"


class AuditEntry(TenantOwned):
    """One change, written in the transaction that made it and never changed afterwards: the
    app's database role may insert and read these rows, not update or delete them.

    Everything an admin reads later is stored as text (the actor's name, the subject's label,
    the values before and after), so an entry still reads right after the user or the thing it
    names is gone. For the same reason ``actor`` has no database constraint: deleting a user
    leaves the entry's id as it was (setting it to NULL would be an update). The tenant's
    constraint cascades in the database itself (see migration 0009), as the tables' owner, so
    a tenant can still be deleted.
    """

    tenant = models.ForeignKey(
        Tenant, on_delete=models.DO_NOTHING, db_constraint=False, db_index=False, related_name="+", editable=False
    )
    at = models.DateTimeField(default=timezone.now, editable=False)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        db_index=False,
        null=True,
        blank=True,
        related_name="+",
        help_text="Who made the change; empty for commands and tasks that act on nobody's behalf.",
    )
    actor_name = models.CharField(max_length=150, blank=True)
    action = models.CharField(max_length=40, choices=Action.choices)
    subject_type = models.CharField(max_length=40, help_text="What kind of thing changed: site, member, api_key …")
    subject_id = models.CharField(max_length=40, blank=True)
    subject_label = models.CharField(max_length=200, blank=True)
    details = models.JSONField(
        default=dict, blank=True, help_text='{"changes": [[field, before, after], …]} and any other facts.'
    )
    via = models.CharField(max_length=10, choices=Where.choices)
    address = models.GenericIPAddressField(null=True, blank=True, help_text="The client's address, when there was one.")
    api_key_prefix = models.CharField(max_length=8, blank=True, help_text="The key an API change came with.")

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [
            models.Index(fields=["tenant", "-at", "-id"], name="audit_newest_first"),
            models.Index(fields=["tenant", "actor", "-at"], name="audit_by_actor"),
        ]
        verbose_name = "audit entry"
        verbose_name_plural = "audit log"

    def __str__(self):
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.actor_name or 'system'}: {self.action} {self.subject_label}"

    @property
    def changes(self):
        """[(field, before, after)]: what the page shows as "from → to"."""
        return [tuple(change) for change in self.details.get("changes", [])]

    @property
    def facts(self):
        """The details other than the changes (a key's owner, a promoted version's number …)."""
        return {name: value for name, value in self.details.items() if name != "changes"}

    @property
    def at_utc(self):
        """ISO 8601 in UTC, to the second, as admins compare it with server logs."""
        return self.at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
