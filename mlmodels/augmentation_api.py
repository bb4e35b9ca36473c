"""Augmentation experiments through the API: have a morphology model trained with and without a
generated set that passed its gate, follow the job, and read each class's held-out recall side
by side."""

from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework import mixins, serializers, viewsets
from rest_framework.response import Response

from .augmentation import MAX_EPOCHS, ExperimentRefused, request_experiment
from .models import AugmentationExperiment, GeneratedSet


class AugmentationExperimentSerializer(serializers.ModelSerializer):
    generated_set = serializers.IntegerField(source="generated_set_id", read_only=True)
    model = serializers.CharField(source="model.name", read_only=True)
    without_set = serializers.IntegerField(source="without_set.number", read_only=True, default=None,
                                           help_text="the version trained on real galaxies only")  # fmt: skip
    with_set = serializers.IntegerField(source="with_set.number", read_only=True, default=None,
                                        help_text="the version trained with the set's galaxies too")  # fmt: skip
    status = serializers.CharField(source="job.status", read_only=True, default=None)
    percent = serializers.IntegerField(source="job.percent", read_only=True, default=None)
    message = serializers.CharField(source="job.message", read_only=True, default="")
    comparison = serializers.JSONField(read_only=True, help_text=(
        "once trained: rare_class, synthetic_examples, recall (per class: without, with, difference, support) "
        "and accuracy, on the same held-out real galaxies"))  # fmt: skip

    class Meta:
        model = AugmentationExperiment
        fields = ["id", "generated_set", "model", "without_set", "with_set", "epochs", "seed", "status", "percent",
                  "message", "comparison", "created_at"]  # fmt: skip
        read_only_fields = fields


class ExperimentRequestSerializer(serializers.Serializer):
    generated_set = serializers.IntegerField(help_text="a generated set of this observatory that passed its gate")
    epochs = serializers.IntegerField(min_value=1, max_value=MAX_EPOCHS, default=10, help_text="each version")
    seed = serializers.IntegerField(min_value=0, max_value=2**31 - 1, default=0, help_text="split and initial weights")


class AugmentationExperimentViewSet(mixins.CreateModelMixin, viewsets.ReadOnlyModelViewSet):
    """The key's tenant's augmentation experiments, newest first. POST a generated set that passed
    its quality gate to have two morphology versions trained on a worker, one with the set on its
    training side only: the answer (202) is the experiment with its job's status; once trained,
    ``comparison`` holds each class's recall without and with the set on the same held-out real
    galaxies. A set that has not passed its gate is refused at once, saying why."""

    serializer_class = AugmentationExperimentSerializer
    permission_action = "models.manage"
    ordering_fields = ["created_at"]

    def get_queryset(self):
        return AugmentationExperiment.objects.filter(tenant=self.request.tenant).select_related(
            "model", "without_set", "with_set", "job")  # fmt: skip

    @extend_schema(request=ExperimentRequestSerializer, responses={202: AugmentationExperimentSerializer},
                   examples=[OpenApiExample("set 3", value={"generated_set": 3, "epochs": 10},
                                            request_only=True)])  # fmt: skip
    def create(self, request, *args, **kwargs):
        asked = ExperimentRequestSerializer(data=request.data)
        asked.is_valid(raise_exception=True)
        fields = dict(asked.validated_data)
        generated = GeneratedSet.objects.filter(tenant=request.tenant, pk=fields.pop("generated_set")).first()
        if generated is None:
            raise serializers.ValidationError({"generated_set": ["no generated set of this observatory has this id"]})
        try:
            experiment = request_experiment(request.tenant, generated, request.user, **fields)
        except ExperimentRefused as refusal:
            raise serializers.ValidationError({"non_field_errors": [str(refusal)]}) from refusal
        return Response(self.get_serializer(experiment).data, status=202)
