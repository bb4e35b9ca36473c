from django.apps import AppConfig


class MlmodelsConfig(AppConfig):
    name = "mlmodels"
    api_part = "Models, classifications and similar galaxies"

    def ready(self):
        from . import receivers, tasks  # noqa: F401  (new frames and images are classified; the app's Celery tasks)
