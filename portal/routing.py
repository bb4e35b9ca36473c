from django.urls import path

from .consumers import JobProgressConsumer

websocket_urlpatterns = [
    path("ws/t/<slug:tenant_slug>/jobs/<int:job_id>/", JobProgressConsumer.as_asgi()),
]
