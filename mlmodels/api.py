"""REST API for the registry: the models a partner's key can use, and their versions."""

from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import generics, serializers, viewsets
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from observations.services import visible_targets
from portal.api import SparseFields, sparse_fields_parameter
from portal.models import Site

from . import services, similarity
from .models import FusedPrediction, MLModel, ModelVersion, Prediction
from .registry import usable_models


class ModelVersionSerializer(serializers.ModelSerializer):
    class Meta:
        model = ModelVersion
        fields = ["number", "stage", "sha256", "metrics", "training_data", "hub_repo", "hub_revision", "created_at",
                  "stage_changed_at"]  # fmt: skip


class MLModelSerializer(SparseFields, serializers.ModelSerializer):
    owner = serializers.SlugRelatedField(source="tenant", slug_field="slug", read_only=True)
    versions = ModelVersionSerializer(many=True, read_only=True)
    production_version = serializers.SerializerMethodField()

    class Meta:
        model = MLModel
        fields = ["id", "name", "task", "architecture", "class_names", "input_spec", "description", "visibility",
                  "owner", "production_version", "versions"]  # fmt: skip

    def get_production_version(self, model) -> int | None:
        return next((v.number for v in model.versions.all() if v.stage == ModelVersion.Stage.PRODUCTION), None)


@extend_schema_view(
    list=extend_schema(parameters=[OpenApiParameter("task", str, enum=MLModel.Task.values),
                                   sparse_fields_parameter(MLModelSerializer)]),
    retrieve=extend_schema(parameters=[sparse_fields_parameter(MLModelSerializer)]),
)  # fmt: skip
class MLModelViewSet(viewsets.ReadOnlyModelViewSet):
    """Models of the key's tenant and every tenant's public ones, each with its versions
    (stage, checksum, held-out metrics, what it was trained on). Filter with ``task``."""

    serializer_class = MLModelSerializer
    ordering_fields = ["name", "task", "created_at"]

    def get_queryset(self):
        models = usable_models(self.request.tenant).select_related("tenant").prefetch_related("versions")
        task = self.request.query_params.get("task")
        return models.filter(task=task) if task else models


class PredictionSerializer(serializers.ModelSerializer):
    model = serializers.CharField(source="version.model.name")
    version = serializers.IntegerField(source="version.number")
    stage = serializers.CharField(source="version.stage")
    image = serializers.IntegerField(source="image_id")

    class Meta:
        model = Prediction
        fields = ["model", "version", "stage", "image", "label", "confidence", "probabilities", "refusal", "created_at"]


class TargetPredictions(generics.ListAPIView):
    """What every model version said about a target's colour images (most recent first);
    a refusal says why an image could not be classified."""

    serializer_class = PredictionSerializer

    def get_queryset(self):
        target = get_object_or_404(visible_targets(self.request.tenant, self.request.user), pk=self.kwargs["target_id"])
        return (Prediction.objects.filter(image__target=target).select_related("version__model")
                .order_by("-created_at", "pk"))  # fmt: skip


class FusedObservationSerializer(serializers.Serializer):
    image = serializers.IntegerField()
    site = serializers.CharField()
    seeing_arcsec = serializers.FloatField(allow_null=True, help_text="As the image's header reports it.")
    weight = serializers.FloatField(help_text="Attention weight: the share of trust it got (they sum to 1).")
    label = serializers.CharField(help_text="What this image alone suggests.")
    confidence = serializers.FloatField()


class LeftOutImageSerializer(serializers.Serializer):
    image = serializers.IntegerField()
    site = serializers.CharField(allow_null=True)
    reason = serializers.CharField()


class FusedPredictionSerializer(serializers.ModelSerializer):
    model = serializers.CharField(source="version.model.name")
    version = serializers.IntegerField(source="version.number")
    stage = serializers.CharField(source="version.stage")
    observations = FusedObservationSerializer(many=True, read_only=True)
    left_out = LeftOutImageSerializer(many=True, read_only=True)

    class Meta:
        model = FusedPrediction
        fields = ["model", "version", "stage", "label", "confidence", "probabilities", "uncertainty", "observations",
                  "left_out", "refusal", "created_at"]  # fmt: skip


class TargetFusedPredictions(generics.ListAPIView):
    """What every learned-fusion version said about a target from its images of several sites
    (most recent first): the class, the chance it is wrong by the network's own estimate, and
    each image read with its attention weight and what it alone suggested."""

    serializer_class = FusedPredictionSerializer

    def get_queryset(self):
        target = get_object_or_404(visible_targets(self.request.tenant, self.request.user), pk=self.kwargs["target_id"])
        return target.fused_predictions.select_related("version__model").order_by("-created_at", "pk")


class SimilarityQuery(serializers.Serializer):
    k = serializers.IntegerField(min_value=1, max_value=100, default=12)
    label = serializers.CharField(required=False, help_text="only neighbours the model puts in this class")
    site = serializers.CharField(required=False, help_text="only images from this site (its code)")
    scope = serializers.ChoiceField(choices=list(similarity.SCOPES), default="all")
    model = serializers.CharField(required=False, help_text="a morphology model's name; default: the first serving")


@extend_schema_view(get=extend_schema(parameters=[SimilarityQuery], responses=OpenApiTypes.OBJECT))
class SimilarGalaxies(APIView):
    """The galaxies nearest a target's colour image in a production morphology model's
    embedding space (cosine distance), filtered by class, site and scope (all, mine, public)."""

    def get(self, request, target_id):
        query = SimilarityQuery(data=request.query_params)
        query.is_valid(raise_exception=True)
        options = dict(query.validated_data)
        target = get_object_or_404(visible_targets(request.tenant, request.user), pk=target_id)
        image = target.images.first()
        if image is None:
            raise ValidationError({"target": f"{target.name} has no colour image to compare"})
        versions = services.production_versions(request.tenant, MLModel.Task.MORPHOLOGY)
        if "model" in options:
            versions = versions.filter(model__name=options.pop("model"))
        version = versions.first()
        if version is None:
            raise ValidationError({"model": "no morphology model in production serves this observatory by that name"})
        if "site" in options:
            site = Site.objects.filter(tenant=request.tenant, code=options.pop("site")).first()
            if site is None:
                raise ValidationError({"site": "this observatory has no site with that code"})
            options["site"] = site.pk
        try:
            neighbours = similarity.search(request.tenant, request.user, image, version, **options)
        except similarity.SimilarityError as error:
            raise ValidationError({"target": str(error)}) from error
        return Response({
            "target": {"id": target.pk, "name": target.name, "image": image.pk},
            "model": version.model.name, "version": version.number, "distance": "cosine",
            "neighbours": [{"target": n.target_id, "name": n.name, "image": n.image_id, "label": n.label,
                            "distance": round(n.distance, 6), "site": n.site, "owner": n.owner, "ra_deg": n.ra_deg,
                            "dec_deg": n.dec_deg} for n in neighbours],
        })  # fmt: skip
