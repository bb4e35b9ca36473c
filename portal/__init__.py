"""Arrayscope's project shell: settings, tenancy, facilities, the embedded stack and the live plumbing."""

from .celery import app as celery_app

__all__ = ["celery_app"]
