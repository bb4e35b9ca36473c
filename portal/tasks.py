"""The portal's own periodic work (settings.CELERY_BEAT_SCHEDULE)."""

from datetime import timedelta

from .celery import app
from .progress import recover_jobs

STALE_AFTER = timedelta(minutes=30)  # a live job reports far more often (each epoch, each batch of files)


@app.task(runs_on="default")
def recover_stale_jobs():
    """Jobs whose worker died mid-run are queued again (or failed, saying why) without waiting
    for the next start of the portal."""
    recover_jobs(STALE_AFTER)
