"""REST API for the registry: the models a partner's key can use, and their versions."""

from rest_framework import serializers, viewsets

from .models import MLModel, ModelVersion
from .registry import usable_models


class ModelVersionSerializer(serializers.ModelSerializer):
    class Meta:
        model = ModelVersion
        fields = ["number", "stage", "sha256", "metrics", "training_data", "hub_repo", "hub_revision", "created_at",
                  "stage_changed_at"]  # fmt: skip


class MLModelSerializer(serializers.ModelSerializer):
    owner = serializers.SlugRelatedField(source="tenant", slug_field="slug", read_only=True)
    versions = ModelVersionSerializer(many=True, read_only=True)
    production_version = serializers.SerializerMethodField()

    class Meta:
        model = MLModel
        fields = ["id", "name", "task", "architecture", "class_names", "input_spec", "description", "visibility",
                  "owner", "production_version", "versions"]  # fmt: skip

    def get_production_version(self, model):
        return next((v.number for v in model.versions.all() if v.stage == ModelVersion.Stage.PRODUCTION), None)


class MLModelViewSet(viewsets.ReadOnlyModelViewSet):
    """Models of the key's tenant and every tenant's public ones, each with its versions
    (stage, checksum, held-out metrics, what it was trained on). Filter with ``task``."""

    serializer_class = MLModelSerializer

    def get_queryset(self):
        models = usable_models(self.request.tenant).select_related("tenant").prefetch_related("versions")
        task = self.request.query_params.get("task")
        return models.filter(task=task) if task else models
