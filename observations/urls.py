from django.urls import path

from . import frame_views, fused_views, views

urlpatterns = [
    path("targets/", views.target_list, name="target_list"),
    path("targets/new/", views.target_create, name="target_create"),
    path("targets/import/", views.target_import, name="target_import"),
    path("targets/<int:target_id>/", views.target_detail, name="target_detail"),
    path("targets/<int:target_id>/edit/", views.target_edit, name="target_edit"),
    path("targets/<int:target_id>/light-curve/", views.target_light_curve, name="target_light_curve"),
    path("targets/<int:target_id>/fused-light-curve/", views.target_fused_light_curve, name="target_fused_light_curve"),
    path("targets/<int:target_id>/fuse/", fused_views.target_fuse, name="target_fuse"),
    path("targets/<int:target_id>/calibrate/", fused_views.target_calibrate, name="target_calibrate"),
    path("fused/<int:fused_id>/", fused_views.fused_image_detail, name="fused_image_detail"),
    path("fused/<int:fused_id>/<str:kind>/", fused_views.fused_image_file, name="fused_image_file"),
    path("frames/", frame_views.frame_list, name="frame_list"),
    path("frames/upload/", frame_views.frame_upload, name="frame_upload"),
    path("frames/<int:frame_id>/", frame_views.frame_detail, name="frame_detail"),
    path("frames/<int:frame_id>/<str:kind>/", frame_views.frame_file, name="frame_file"),
    path("cutouts/<int:link_id>/<str:kind>/", frame_views.cutout_file, name="cutout_file"),
    path("target-images/<int:image_id>/<str:kind>/", views.target_image_file, name="target_image_file"),
]
