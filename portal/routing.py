from django.urls import path

from alerts.consumers import AlertFeedConsumer
from labeling.consumers import ProjectProgressConsumer
from scheduling.consumers import NightConsumer

from .consumers import JobProgressConsumer

websocket_urlpatterns = [
    path("ws/t/<slug:tenant_slug>/jobs/<int:job_id>/", JobProgressConsumer.as_asgi()),
    path("ws/t/<slug:tenant_slug>/alerts/", AlertFeedConsumer.as_asgi()),
    path("ws/t/<slug:tenant_slug>/night/", NightConsumer.as_asgi()),
    path("ws/projects/<slug:tenant_slug>/<slug:project_slug>/", ProjectProgressConsumer.as_asgi()),
]
