from django.urls import path

from . import views

app_name = "labeling"

urlpatterns = [
    path("", views.project_list, name="projects"),
    path("<slug:tenant_slug>/<slug:project_slug>/", views.classify_page, name="classify"),
    path("<slug:tenant_slug>/<slug:project_slug>/next", views.next_subjects, name="next"),
    path("<slug:tenant_slug>/<slug:project_slug>/subjects/<int:subject_id>/image.png", views.subject_image,
         name="subject_image"),
    path("<slug:tenant_slug>/<slug:project_slug>/classifications", views.submit, name="submit"),
]  # fmt: skip
