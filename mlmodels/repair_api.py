"""Frame repairs through the API: ask for a frame's flagged defects or drawn shapes to be filled
by inpainting, follow the job, read the targets' photometry on both versions, download the
repaired FITS (with its MASK and SPREAD)."""

from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema
from rest_framework import mixins, serializers, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from observations.models import Frame
from portal.api_files import JobFileMixin

from .models import FrameRepair
from .repairs import RepairRefused, request_repair


class FrameRepairSerializer(serializers.ModelSerializer):
    frame = serializers.IntegerField(source="frame_id", read_only=True)
    model = serializers.CharField(source="version.model.name", read_only=True)
    version = serializers.IntegerField(source="version.number", read_only=True)
    status = serializers.CharField(source="job.status", read_only=True, default=None)
    percent = serializers.IntegerField(source="job.percent", read_only=True, default=None)
    message = serializers.CharField(source="job.message", read_only=True, default="")
    fits_url = serializers.SerializerMethodField()

    class Meta:
        model = FrameRepair
        fields = ["id", "frame", "number", "model", "version", "mask_source", "shapes", "found", "masked_pixels",
                  "kept_under_trail", "stars_fitted", "sampler", "seed", "status", "percent", "message", "photometry",
                  "fits_url", "created_at"]  # fmt: skip
        read_only_fields = fields

    def get_fits_url(self, repair) -> str | None:
        if not repair.file:
            return None
        return self.context["request"].build_absolute_uri(reverse("frame-repair-file", args=[repair.pk]))


class RepairRequestSerializer(serializers.Serializer):
    frame = serializers.IntegerField(help_text="the frame's id")
    mask_source = serializers.ChoiceField(choices=FrameRepair.MaskSource.choices, default=FrameRepair.MaskSource.FLAGS)
    shapes = serializers.JSONField(
        required=False,
        help_text='a drawn mask: {"lines": [[x0, y0, x1, y1, width]], "boxes": [[x0, y0, x1, y1]]}',
    )
    steps = serializers.IntegerField(min_value=2, max_value=250, default=25)
    resample = serializers.IntegerField(min_value=1, max_value=20, default=4)
    samples = serializers.IntegerField(min_value=1, max_value=16, default=4)
    seed = serializers.IntegerField(min_value=0, max_value=2**31 - 1, required=False)


class FrameRepairViewSet(JobFileMixin, mixins.CreateModelMixin, viewsets.ReadOnlyModelViewSet):
    """The key's tenant's frame repairs, newest first (``?frame=`` for one frame's). POST a frame
    and where its mask comes from — its frame-quality flags, or shapes drawn in its pixels — to have
    the masked pixels filled on a worker: the answer (202) is the repair with its job's status.
    A repair that cannot mean anything (nothing flagged, a mask of none or all of the frame, no
    inpainting model) is refused at once, saying why; the original frame is never changed."""

    serializer_class = FrameRepairSerializer
    permission_action = "jobs.start"
    ordering_fields = ["created_at"]
    job_file_noun = "repair"

    def get_queryset(self):
        repairs = FrameRepair.objects.filter(tenant=self.request.tenant)
        repairs = repairs.select_related("frame", "version__model", "job")
        frame = self.request.query_params.get("frame")
        if frame is not None:
            if not frame.isdigit():
                raise serializers.ValidationError({"frame": ["a frame's id is a whole number"]})
            repairs = repairs.filter(frame_id=int(frame))
        return repairs.order_by("-created_at")

    @extend_schema(
        request=RepairRequestSerializer,
        responses={202: FrameRepairSerializer},
        examples=[OpenApiExample("a drawn trail", request_only=True, value={
            "frame": 1, "mask_source": "drawn", "shapes": {"lines": [[0, 40, 511, 300, 9]]}})],
    )  # fmt: skip
    def create(self, request, *args, **kwargs):
        asked = RepairRequestSerializer(data=request.data)
        asked.is_valid(raise_exception=True)
        fields = dict(asked.validated_data)
        frame = Frame.objects.filter(tenant=request.tenant, pk=fields.pop("frame")).first()
        if frame is None:
            raise serializers.ValidationError({"frame": ["no frame of this observatory has this id"]})
        if fields.get("shapes") is not None and not isinstance(fields["shapes"], dict):
            raise serializers.ValidationError({"shapes": ['a drawn mask is {"lines": [...], "boxes": [...]}']})
        try:
            repair = request_repair(request.tenant, frame, request.user, **fields)
        except RepairRefused as refusal:
            raise serializers.ValidationError({"non_field_errors": [str(refusal)]}) from refusal
        return Response(self.get_serializer(repair).data, status=202)

    @extend_schema(responses={(200, "application/fits"): OpenApiResponse(
        OpenApiTypes.BINARY, description="the repaired image under the original's header; MASK, SPREAD")})  # fmt: skip
    @action(detail=True, methods=["get"], url_path="file")
    def file(self, request, pk=None):
        """The repaired frame's FITS file (404 until its job has made it)."""
        repair = self.get_object()
        return self.job_file(repair, repair.download_name)
