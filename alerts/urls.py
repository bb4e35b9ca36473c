from django.urls import path

from . import views

urlpatterns = [
    path("alerts/", views.dashboard, name="alert_dashboard"),
    path("alerts/page/", views.alert_page, name="alert_page"),
    path("alerts/download/", views.alert_download, name="alert_download"),
    path("alerts/stream/", views.alert_stream_status, name="alert_stream_status"),
    path("alerts/<int:alert_id>/", views.alert_panel, name="alert_panel"),
    path("alerts/<int:alert_id>/<str:name>.png", views.stamp_png, name="alert_stamp"),
    path("alerts/<int:alert_id>/follow-up/", views.follow_up, name="alert_follow_up"),
    path("alerts/follow-ups/", views.follow_ups, name="follow_ups"),
    path("alerts/filters/", views.filter_list, name="alert_filters"),
    path("alerts/filters/new/", views.filter_form, name="alert_filter_new"),
    path("alerts/filters/<int:filter_id>/", views.filter_form, name="alert_filter_edit"),
    path("alerts/filters/<int:filter_id>/delete/", views.filter_delete, name="alert_filter_delete"),
]
