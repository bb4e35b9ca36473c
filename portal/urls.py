from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.templatetags.static import static
from django.urls import include, path
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView
from rest_framework.routers import DefaultRouter

from alerts import api as alerts_api
from mlmodels import api as mlmodels_api
from mlmodels import augmentation_api, generation_api, repair_api
from observations import api as observations_api
from observations import calibration_api, fused_api
from scheduling import api as scheduling_api

from . import api, views

router = DefaultRouter()
router.register("sites", api.SiteViewSet, basename="site")
router.register("telescopes", api.TelescopeViewSet, basename="telescope")
router.register("instruments", api.InstrumentViewSet, basename="instrument")
router.register("filters", api.FilterViewSet, basename="filter")
router.register("targets", observations_api.TargetViewSet, basename="target")
router.register("frames", observations_api.FrameViewSet, basename="frame")
router.register("fused-images", fused_api.FusedImageViewSet, basename="fused-image")
router.register("calibrations", calibration_api.PhotometryCalibrationViewSet, basename="calibration")
router.register("models", mlmodels_api.MLModelViewSet, basename="mlmodel")
router.register("generated-sets", generation_api.GeneratedSetViewSet, basename="generated-set")
router.register(
    "augmentation-experiments", augmentation_api.AugmentationExperimentViewSet, basename="augmentation-experiment"
)
router.register("frame-repairs", repair_api.FrameRepairViewSet, basename="frame-repair")
router.register("alerts", alerts_api.AlertViewSet, basename="alert")
router.register("alert-filters", alerts_api.AlertFilterViewSet, basename="alert-filter")
router.register("follow-ups", alerts_api.FollowUpViewSet, basename="follow-up")
router.register("scheduled-observations", scheduling_api.ScheduledObservationViewSet, basename="scheduled-observation")
router.register("site-conditions", scheduling_api.SiteConditionViewSet, basename="site-condition")
router.register("request-groups", scheduling_api.RequestGroupViewSet, basename="request-group")

tenant_patterns = [
    path("", views.tenant_home, name="tenant_home"),
    path("api-keys/", views.api_keys, name="api_keys"),
    path("api-keys/<int:key_id>/revoke/", views.revoke_api_key, name="revoke_api_key"),
    path("api-keys/<int:key_id>/rate/", views.limit_api_key, name="limit_api_key"),
    path("members/", views.members, name="members"),
    path("members/<int:membership_id>/", views.change_member, name="change_member"),
    path("audit/", views.audit_log, name="audit_log"),
    path("jobs/<int:job_id>/", views.job_detail, name="job_detail"),
    path("", include("observations.urls")),
    path("", include("mlmodels.urls")),
    path("", include("alerts.urls")),
    path("", include("labeling.owner_urls")),
    path("scheduling/", include("scheduling.urls")),
]

handler400 = "portal.api_errors.bad_request"
handler404 = "portal.api_errors.page_not_found"
handler500 = "portal.api_errors.server_error"

urlpatterns = [
    path("", views.choose_tenant, name="home"),
    path("healthz", views.healthz, name="healthz"),
    path("favicon.ico", RedirectView.as_view(url=static("favicon.svg"), permanent=True)),
    path("accounts/login/", views.SignInView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("admin/", admin.site.urls),
    path("t/<slug:tenant_slug>/", include(tenant_patterns)),
    path("projects/", include("labeling.urls")),
    path("api/v1/whoami/", api.WhoAmI.as_view(), name="api_whoami"),
    path("api/v1/schema/", SpectacularAPIView.as_view(), name="api_schema"),
    # The docs pages are the portal's own static files; the schema they load needs the session or a key.
    path(
        "api/v1/docs/",
        login_required(
            SpectacularSwaggerView.as_view(url_name="api_schema", permission_classes=[], authentication_classes=[])
        ),
        name="api_docs",
    ),
    path(
        "api/v1/redoc/",
        login_required(
            SpectacularRedocView.as_view(url_name="api_schema", permission_classes=[], authentication_classes=[])
        ),
        name="api_redoc",
    ),
    path("api/v1/targets/<int:target_id>/similar/", mlmodels_api.SimilarGalaxies.as_view(), name="api_similar"),
    path(
        "api/v1/targets/<int:target_id>/predictions/", mlmodels_api.TargetPredictions.as_view(), name="api_predictions"
    ),
    path(
        "api/v1/targets/<int:target_id>/fused-classifications/",
        mlmodels_api.TargetFusedPredictions.as_view(),
        name="api_fused_predictions",
    ),  # fmt: skip
    path("api/v1/vo/targets/cone/", observations_api.TargetConeSearch.as_view(), name="vo_target_cone"),
    path("api/v1/vo/frames/cone/", observations_api.FrameConeSearch.as_view(), name="vo_frame_cone"),
    path("api/v1/", include(router.urls)),
]
