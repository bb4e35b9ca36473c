from django.urls import path

from . import views

urlpatterns = [
    path("alerts/", views.dashboard, name="alert_dashboard"),
    path("alerts/<int:alert_id>/", views.alert_panel, name="alert_panel"),
    path("alerts/<int:alert_id>/<str:name>.png", views.stamp_png, name="alert_stamp"),
]
