"""Generated sets through the API: ask a generative version for galaxies of a class, follow the
job, read the quality report and the gate, download the cube (flagged synthetic in its header)."""

from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema
from rest_framework import mixins, serializers, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from portal.api_files import JobFileMixin

from .generation import DEFAULT_GUIDANCE, DEFAULT_STEPS, GenerationRefused, request_generation
from .models import GeneratedSet
from .registry import RegistryError, usable_version


class GeneratedSetSerializer(serializers.ModelSerializer):
    synthetic = serializers.SerializerMethodField(help_text="Always true: these galaxies were generated, not observed.")
    model = serializers.CharField(source="version.model.name", read_only=True)
    version = serializers.IntegerField(source="version.number", read_only=True)
    status = serializers.CharField(source="job.status", read_only=True, default=None)
    percent = serializers.IntegerField(source="job.percent", read_only=True, default=None)
    message = serializers.CharField(source="job.message", read_only=True, default="")
    fits_url = serializers.SerializerMethodField()

    class Meta:
        model = GeneratedSet
        fields = ["id", "synthetic", "model", "version", "class_name", "count", "seed", "sampler", "status", "percent",
                  "message", "gate", "gate_reasons", "report", "fits_url", "created_at"]  # fmt: skip
        read_only_fields = fields

    def get_synthetic(self, generated) -> bool:
        return True

    def get_fits_url(self, generated) -> str | None:
        if not generated.cube:
            return None
        return self.context["request"].build_absolute_uri(reverse("generated-set-file", args=[generated.pk]))


class GenerationRequestSerializer(serializers.Serializer):
    model = serializers.CharField(help_text="a generative model's name")
    version = serializers.IntegerField(required=False, min_value=1, help_text="default: its production version")
    class_name = serializers.CharField(max_length=60)
    count = serializers.IntegerField(min_value=1, default=64)
    steps = serializers.IntegerField(min_value=2, max_value=1000, default=DEFAULT_STEPS, help_text="DDIM steps")
    guidance = serializers.FloatField(min_value=0, max_value=10, default=DEFAULT_GUIDANCE,
                                      help_text="classifier-free guidance, at the steps where a galaxy's layout is "
                                                "decided: 1 is the class alone")  # fmt: skip
    seed = serializers.IntegerField(min_value=0, max_value=2**31 - 1, required=False)


class GeneratedSetViewSet(JobFileMixin, mixins.CreateModelMixin, viewsets.ReadOnlyModelViewSet):
    """The key's tenant's generated sets of synthetic galaxies, newest first. POST a generative
    model and a class to have a set made on a worker: the answer (202) is the set with its job's
    status, to follow here until its ``gate`` says ``passed`` or ``failed``. A request a generator
    cannot answer (another task's model, a class it learnt from too few galaxies, too many at
    once) is refused at once, naming the field."""

    serializer_class = GeneratedSetSerializer
    permission_action = "jobs.start"
    job_file_field, job_file_noun = "cube", "set"
    ordering_fields = ["created_at"]

    def get_queryset(self):
        return GeneratedSet.objects.filter(tenant=self.request.tenant).select_related("version__model", "job")

    @extend_schema(
        request=GenerationRequestSerializer,
        responses={202: GeneratedSetSerializer},
        examples=[OpenApiExample("64 mergers", value={"model": "galaxy-diffusion", "class_name": "merger", "count": 64},
                                 request_only=True)],
    )  # fmt: skip
    def create(self, request, *args, **kwargs):
        asked = GenerationRequestSerializer(data=request.data)
        asked.is_valid(raise_exception=True)
        fields = dict(asked.validated_data)
        try:
            version = usable_version(request.tenant, fields.pop("model"), fields.pop("version", None))
        except RegistryError as error:
            raise serializers.ValidationError({"model": [str(error)]}) from error
        try:
            generated = request_generation(request.tenant, version, request.user, **fields)
        except GenerationRefused as refusal:
            raise serializers.ValidationError({"non_field_errors": [str(refusal)]}) from refusal
        return Response(self.get_serializer(generated).data, status=202)

    @extend_schema(responses={(200, "application/fits"): OpenApiResponse(
        OpenApiTypes.BINARY, description="a cube (galaxy, band, y, x) in counts; SYNTHETI = T")})  # fmt: skip
    @action(detail=True, methods=["get"], url_path="file")
    def file(self, request, pk=None):
        """The set's FITS cube (404 until its job has made it)."""
        generated = self.get_object()
        return self.job_file(generated, f"synthetic-{generated.class_name}-set{generated.pk}.fits")
