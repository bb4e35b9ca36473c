from django.apps import AppConfig


class SchedulingConfig(AppConfig):
    name = "scheduling"

    def ready(self):
        from . import tasks  # noqa: F401  (the app's Celery tasks, known to every process by name)
