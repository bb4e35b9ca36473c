from django.apps import AppConfig


class SchedulingConfig(AppConfig):
    name = "scheduling"

    def ready(self):
        from . import receivers, tasks  # noqa: F401  (the frame-ingest receiver; the Celery tasks, known by name)
