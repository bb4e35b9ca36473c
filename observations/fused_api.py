"""Fused images through the API: ask for one, follow its job, read which frames it used and
why it left the others out, download its FITS file."""

from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema
from rest_framework import mixins, serializers, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from portal.api_files import JobFileMixin

from .fused_images import DEFAULT_SIZE_ARCSEC, request_fusion
from .fusion import FusionRefused
from .models import FusedImage
from .services import visible_targets


class FusedImageSerializer(serializers.ModelSerializer):
    target_name = serializers.CharField(source="target.name", read_only=True)
    status = serializers.CharField(source="job.status", read_only=True, default=None)
    percent = serializers.IntegerField(source="job.percent", read_only=True, default=None)
    message = serializers.CharField(source="job.message", read_only=True, default="")
    snr_gain = serializers.FloatField(read_only=True, allow_null=True)
    fits_url = serializers.SerializerMethodField()

    class Meta:
        model = FusedImage
        fields = [
            "id", "target", "target_name", "band", "method", "size_arcsec", "pixel_scale_arcsec", "first_night",
            "last_night", "status", "percent", "message", "frames_used", "frames_rejected", "snr", "best_single_snr",
            "theoretical_snr", "snr_gain", "fits_url", "created_at",
        ]  # fmt: skip
        read_only_fields = fields

    def get_fits_url(self, fused) -> str | None:
        if not fused.file:
            return None
        return self.context["request"].build_absolute_uri(reverse("fused-image-file", args=[fused.pk]))


class FusionRequestSerializer(serializers.Serializer):
    target = serializers.IntegerField(help_text="the target's id")
    band = serializers.CharField(max_length=30, help_text="the filter to fuse, as the frames name it (e.g. r)")
    method = serializers.ChoiceField(choices=FusedImage.Method.choices, default=FusedImage.Method.INTERP)
    size_arcsec = serializers.FloatField(default=DEFAULT_SIZE_ARCSEC, help_text="side of the square field")
    pixel_scale_arcsec = serializers.FloatField(required=False, help_text="default: the finest frame's")
    first_night = serializers.DateField(required=False, help_text="frames from this UTC date on")
    last_night = serializers.DateField(required=False, help_text="frames up to this UTC date")


class FusedImageViewSet(JobFileMixin, mixins.CreateModelMixin, viewsets.ReadOnlyModelViewSet):
    """The key's tenant's fused images, newest first. POST a target and a band to have every
    usable frame of that band, from every site, fused on a worker: the answer (202) is the
    fused image with its job's status, to follow here until it says ``succeeded``; a request
    that cannot be fused (no frame of the band, a field too large) is refused at once, naming
    the field."""

    serializer_class = FusedImageSerializer
    job_file_noun = "fused image"
    permission_action = "jobs.start"
    ordering_fields = ["created_at"]

    def get_queryset(self):
        return FusedImage.objects.filter(tenant=self.request.tenant).select_related("target", "job")

    @extend_schema(
        request=FusionRequestSerializer,
        responses={202: FusedImageSerializer},
        examples=[
            OpenApiExample("r band, 2′ field", value={"target": 1, "band": "r", "size_arcsec": 120}, request_only=True)
        ],  # fmt: skip
    )
    def create(self, request, *args, **kwargs):
        asked = FusionRequestSerializer(data=request.data)
        asked.is_valid(raise_exception=True)
        fields = dict(asked.validated_data)
        target = visible_targets(request.tenant, request.user).filter(pk=fields.pop("target")).first()
        if target is None:
            raise serializers.ValidationError({"target": ["No target you can see has this id."]})
        try:
            fused = request_fusion(request.tenant, request.user, target, **fields)
        except FusionRefused as refusal:
            raise serializers.ValidationError({refusal.field or "non_field_errors": [str(refusal)]}) from refusal
        return Response(self.get_serializer(fused).data, status=202)

    @extend_schema(responses={(200, "application/fits"): OpenApiResponse(
        OpenApiTypes.BINARY, description="science, weight and uncertainty extensions")})  # fmt: skip
    @action(detail=True, methods=["get"], url_path="file")
    def file(self, request, pk=None):
        """The fused image's FITS file (404 until its job has succeeded)."""
        fused = self.get_object()
        return self.job_file(fused, fused.download_name)
