from django.urls import path

from . import generation_views, repair_views, views

urlpatterns = [
    path("jobs/selftest/", views.start_selftest, name="start_selftest"),
    path("models/", views.model_list, name="model_list"),
    path("models/<int:model_id>/", views.model_detail, name="model_detail"),
    path("models/<int:model_id>/v<int:number>/", views.model_detail, name="model_version"),
    path("models/<int:model_id>/train/", views.train, name="train_model"),
    path("models/<int:model_id>/v<int:number>/stage/", views.change_stage, name="change_stage"),
    path("models/<int:model_id>/pull/", views.pull_from_hub, name="pull_from_hub"),
    path("models/<int:model_id>/v<int:number>/push/", views.push_to_hub, name="push_to_hub"),
    path("models/<int:model_id>/v<int:number>/generate/", generation_views.generate, name="generate"),
    path("generated/", generation_views.generated_set_list, name="generated_set_list"),
    path("generated/<int:set_id>/", generation_views.generated_set_detail, name="generated_set_detail"),
    path("generated/<int:set_id>/experiment/", generation_views.start_experiment, name="start_experiment"),
    path("generated/<int:set_id>/<str:kind>/", generation_views.generated_set_file, name="generated_set_file"),
    path("frames/<int:frame_id>/repairs/new/", repair_views.repair_frame, name="repair_frame"),
    path("frames/<int:frame_id>/repairs/<int:number>/", repair_views.frame_repair_detail, name="frame_repair_detail"),
    path(
        "frames/<int:frame_id>/repairs/<int:number>/<str:kind>/",
        repair_views.frame_repair_file,
        name="frame_repair_file",
    ),
    path("targets/<int:target_id>/similar/", views.similar_galaxies, name="similar_galaxies"),
]
