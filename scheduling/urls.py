from django.urls import path

from . import views

urlpatterns = [
    path("night/", views.night, name="night"),
    path("night/chart/", views.night_chart, name="night_chart"),
    path("night/plan/", views.replan, name="night_replan"),
    path("night/sites/<int:site_id>/", views.site_condition, name="site_condition"),
    path("proposals/", views.proposals, name="proposals"),
    path("proposals/new/", views.proposal_new, name="proposal_new"),
    path("proposals/<int:proposal_id>/", views.proposal_detail, name="proposal_detail"),
    path("proposals/<int:proposal_id>/groups/new/", views.request_group_new, name="request_group_new"),
    path("requests/<int:request_id>/", views.request_detail, name="request_detail"),
]
