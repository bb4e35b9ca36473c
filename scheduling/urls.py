from django.urls import path

from . import views

urlpatterns = [
    path("night/", views.night, name="night"),
    path("night/plan/", views.replan, name="night_replan"),
    path("night/sites/<int:site_id>/", views.site_condition, name="site_condition"),
    path("proposals/", views.proposals, name="proposals"),
]
