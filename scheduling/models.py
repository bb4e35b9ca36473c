"""Scheduling: what the array is asked to observe, and when.

Today that is follow-up requests — targets of opportunity another app asks for (an alert's
panel or a filter's rule in ``alerts``); scheduling owns each request and its states, and
its scheduler will take pending ones into a telescope's queue.
"""

from django.conf import settings
from django.db import models
from django.utils import timezone

from portal.models import TenantOwned


class FollowUpRequest(TenantOwned):
    """A request to observe a target soon: a target of opportunity. It waits, pending, for the
    scheduler to take it into a telescope's queue; a target has at most one pending request."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        SCHEDULED = "scheduled", "Scheduled"
        DECLINED = "declined", "Declined"

    class Priority(models.TextChoices):
        NORMAL = "normal", "Normal"
        HIGH = "high", "High"
        TOP = "top", "Top (target of opportunity)"

    target = models.ForeignKey("observations.Target", on_delete=models.CASCADE, related_name="follow_up_requests")
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                     related_name="follow_up_requests")  # fmt: skip
    priority = models.CharField(max_length=10, choices=Priority.choices, default=Priority.TOP)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    note = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "target"],
                condition=models.Q(status="pending"),
                name="one_pending_follow_up_request_per_target",
            )  # fmt: skip
        ]
        ordering = ["-created_at"]

    def __str__(self):
        return f"follow-up of {self.target} ({self.get_status_display().lower()})"
