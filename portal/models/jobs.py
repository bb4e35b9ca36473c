"""Long-running work started from a page, with progress that the page watches live."""

from django.conf import settings
from django.db import models

from .tenancy import TenantOwned


class Job(TenantOwned):
    class Status(models.TextChoices):
        QUEUED = "queued"
        RUNNING = "running"
        SUCCEEDED = "succeeded"
        FAILED = "failed"

    kind = models.CharField(max_length=50)
    subject = models.CharField(
        max_length=100, blank=True, db_index=True,
        help_text="What the job works on, as 'app.model:id' (e.g. 'mlmodels.mlmodel:3'), so that thing's page can "
        "show the jobs running on it.",
    )  # fmt: skip
    title = models.CharField(max_length=200)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    done = models.PositiveIntegerField(default=0)
    total = models.PositiveIntegerField(default=0)
    message = models.CharField(max_length=300, blank=True)
    result = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # How to start the job again when its worker stops before the end (portal.progress.recover_jobs).
    task = models.CharField(max_length=200, blank=True, help_text="The Celery task that does the job, by name.")
    arguments = models.JSONField(default=dict, blank=True, help_text="The task's args and kwargs.")
    heartbeat_at = models.DateTimeField(null=True, blank=True, help_text="When its worker last reported.")

    class Meta:
        ordering = ["-created_at"]

    def __str__(self):
        return f"{self.title} ({self.status})"

    @property
    def percent(self):
        return (
            round(100 * self.done / self.total) if self.total else (100 if self.status == self.Status.SUCCEEDED else 0)
        )

    def as_message(self):
        """The state a watching page needs, as sent over the websocket."""
        return {
            "job": self.pk,
            "status": self.status,
            "done": self.done,
            "total": self.total,
            "percent": self.percent,
            "message": self.message,
            "result": self.result,
        }
