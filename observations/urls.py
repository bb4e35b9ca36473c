from django.urls import path

from . import views

urlpatterns = [
    path("targets/", views.target_list, name="target_list"),
    path("targets/new/", views.target_create, name="target_create"),
    path("targets/import/", views.target_import, name="target_import"),
    path("targets/<int:target_id>/", views.target_detail, name="target_detail"),
]
