from django.urls import path

from . import owner_views

urlpatterns = [
    path("projects/", owner_views.project_admin_list, name="project_admin_list"),
    path("projects/<int:project_id>/", owner_views.project_admin, name="project_admin"),
    path("projects/<int:project_id>/exports/v<int:number>.csv", owner_views.vote_export_file, name="vote_export_file"),
]
