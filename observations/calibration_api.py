"""Cross-site calibration and fused light curves through the API: ask for a target's frames of
one band to be tied to one scale, follow the job, read each frame's fitted zero point, and read
the target's light curve fused across sites with each site's offset."""

from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema, extend_schema_field
from rest_framework import mixins, serializers, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from portal.api import DOWNLOAD_PARAMETER, DOWNLOAD_RESPONSES
from portal.tables import download_format

from .calibrated_photometry import request_calibration
from .calibration import CalibrationRefused
from .downloads import fused_light_curve_download
from .light_curves import DEFAULT_WINDOW_HOURS, WINDOW_HOURS, site_offsets
from .models import PhotometryCalibration
from .services import fused_light_curve, visible_targets


class FrameCalibrationSerializer(serializers.Serializer):
    frame = serializers.IntegerField(source="frame_id")
    site = serializers.CharField(source="site.code", default=None)
    night = serializers.DateField(help_text="the site's night (local date of its evening)")
    zero_point = serializers.FloatField(allow_null=True, help_text="fitted on the shared stars; null when not tied")
    zero_point_error = serializers.FloatField(allow_null=True)
    zero_point_own = serializers.FloatField(allow_null=True, help_text="the frame's header's, or its site's filter's")
    offset = serializers.FloatField(allow_null=True, help_text="fitted minus own, mag")
    stars_used = serializers.IntegerField()
    note = serializers.CharField()
    colour = serializers.CharField(help_text="the colour index of its site's colour term (e.g. g-r), or empty")
    colour_term = serializers.FloatField(
        allow_null=True,
        help_text=(
            "mag its site reads a star fainter per mag of colour past colour_reference, against the sites' mean"
        ),
    )
    colour_term_error = serializers.FloatField(allow_null=True)
    colour_reference = serializers.FloatField(allow_null=True)


class SiteOffsetSerializer(serializers.Serializer):
    site = serializers.CharField()
    band = serializers.CharField()
    offset = serializers.FloatField(help_text="the site's own zero points, fitted minus own, weighted mean over nights")
    error = serializers.FloatField()
    scatter = serializers.FloatField(help_text="standard deviation of the nights' offsets")
    nights = serializers.IntegerField()
    frames = serializers.IntegerField()
    colour = serializers.CharField()
    colour_term = serializers.FloatField(allow_null=True)


class LeftOutSerializer(serializers.Serializer):
    id = serializers.IntegerField(help_text="the frame's id")
    label = serializers.CharField(help_text="its site")
    reason = serializers.CharField()


class PhotometryCalibrationSerializer(serializers.ModelSerializer):
    target_name = serializers.CharField(source="target.name", read_only=True)
    status = serializers.CharField(source="job.status", read_only=True, default=None)
    percent = serializers.IntegerField(source="job.percent", read_only=True, default=None)
    message = serializers.CharField(source="job.message", read_only=True, default="")
    frames = FrameCalibrationSerializer(many=True, read_only=True)
    left_out = LeftOutSerializer(many=True, read_only=True)
    site_offsets = serializers.SerializerMethodField()

    class Meta:
        model = PhotometryCalibration
        fields = ["id", "target", "target_name", "band", "status", "percent", "message", "star_count", "frames",
                  "left_out", "site_offsets", "created_at"]  # fmt: skip
        read_only_fields = fields

    @extend_schema_field(SiteOffsetSerializer(many=True))
    def get_site_offsets(self, run):
        return SiteOffsetSerializer(site_offsets(run.frames.all()), many=True).data


class CalibrationRequestSerializer(serializers.Serializer):
    target = serializers.IntegerField(help_text="the target's id")
    band = serializers.CharField(max_length=30, help_text="the filter to calibrate, as the frames name it (e.g. r)")


class PhotometryCalibrationViewSet(mixins.CreateModelMixin, viewsets.ReadOnlyModelViewSet):
    """The key's tenant's calibration runs, newest first (``target`` narrows to one target's).
    POST a target and a band to have its frames of that band tied to one scale by the stars
    they share, one zero point per site and night, on a worker: the answer (202) is the run
    with its job's status; once it says ``succeeded``, ``frames`` holds each frame's fitted
    zero point beside its own, and the target's ``fused-light-curve`` is on that scale. The
    raw photometry is never changed."""

    serializer_class = PhotometryCalibrationSerializer
    permission_action = "jobs.start"
    ordering_fields = ["created_at"]

    def get_queryset(self):
        runs = PhotometryCalibration.objects.filter(tenant=self.request.tenant)
        target = self.request.query_params.get("target")
        if target is not None:
            if not target.isdigit():
                raise serializers.ValidationError({"target": ["A target's id is a whole number."]})
            runs = runs.filter(target_id=int(target))
        return runs.select_related("target", "job").prefetch_related("frames__site", "frames__run")

    @extend_schema(
        parameters=[OpenApiParameter("target", int, description="only this target's runs")],
    )
    def list(self, request, *args, **kwargs):
        return super().list(request, *args, **kwargs)

    @extend_schema(
        request=CalibrationRequestSerializer,
        responses={202: PhotometryCalibrationSerializer},
        examples=[OpenApiExample("r band", value={"target": 1, "band": "r"}, request_only=True)],
    )
    def create(self, request, *args, **kwargs):
        asked = CalibrationRequestSerializer(data=request.data)
        asked.is_valid(raise_exception=True)
        target = visible_targets(request.tenant, request.user).filter(pk=asked.validated_data["target"]).first()
        if target is None:
            raise serializers.ValidationError({"target": ["No target you can see has this id."]})
        try:
            run = request_calibration(request.tenant, request.user, target, asked.validated_data["band"])
        except CalibrationRefused as refusal:
            raise serializers.ValidationError({"band": [str(refusal)]}) from refusal
        return Response(self.get_serializer(run).data, status=202)


class EpochSerializer(serializers.Serializer):
    band = serializers.CharField()
    mjd = serializers.FloatField(help_text="inverse-variance weighted mid-time, MJD (UTC)")
    mag = serializers.FloatField(help_text="of the inverse-variance weighted mean flux")
    mag_err = serializers.FloatField()
    count = serializers.IntegerField(help_text="measurements combined")
    sites = serializers.ListField(child=serializers.CharField())
    calibrated = serializers.BooleanField(help_text="on the cross-site scale (else each site's own zero point)")
    chi2 = serializers.FloatField(help_text="the measurements' scatter about the mean, per degree of freedom")


class FusedLightCurveSerializer(serializers.Serializer):
    window_hours = serializers.FloatField()
    epochs = EpochSerializer(many=True)
    site_offsets = SiteOffsetSerializer(many=True, source="offsets")
    left_out = serializers.IntegerField(help_text="measurements of a calibrated band newer than its calibration")


class FusedLightCurveActions:
    """The ``fused-light-curve`` action of the target endpoint."""

    @extend_schema(
        parameters=[OpenApiParameter("window_hours", float, description=(
            f"measurements of one band less than this many hours after an epoch's first are one epoch "
            f"({WINDOW_HOURS[0]:g}–{WINDOW_HOURS[1]:g}, default {DEFAULT_WINDOW_HOURS:g})")), DOWNLOAD_PARAMETER],
        responses={(200, "application/json"): FusedLightCurveSerializer, **DOWNLOAD_RESPONSES},
    )  # fmt: skip
    @action(detail=True, methods=["get"], url_path="fused-light-curve", pagination_class=None)
    def fused_light_curve(self, request, pk=None):
        """The target's light curve fused across sites: per band, the measurements of each epoch
        combined by inverse variance on the cross-site scale (once calibrated, see
        ``/calibrations/``), with how far each site's own zero points were off
        (``download=votable`` or ``csv``: the epochs as a file)."""
        target = self.get_object()
        window = request.query_params.get("window_hours", DEFAULT_WINDOW_HOURS)
        try:
            window = float(window)
        except ValueError:
            window = None
        if window is None or not WINDOW_HOURS[0] <= window <= WINDOW_HOURS[1]:
            raise serializers.ValidationError(
                {"window_hours": [f"Give a number of hours from {WINDOW_HOURS[0]:g} to {WINDOW_HOURS[1]:g}."]}
            )
        curve = fused_light_curve(request.tenant, target, window_hours=window)
        fmt = download_format(request.query_params)
        if fmt is not None:
            return fused_light_curve_download(target, curve, fmt)
        return Response(FusedLightCurveSerializer(curve).data)
