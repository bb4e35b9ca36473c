from django.apps import AppConfig


class SchedulingConfig(AppConfig):
    name = "scheduling"
    api_part = "Observing queues and site conditions"

    def ready(self):
        from . import receivers, tasks  # noqa: F401  (the frame-ingest receiver; the Celery tasks, known by name)
