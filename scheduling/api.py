"""REST API for the telescopes' queues: what each telescope observes next, its reports
(started, completed, failed), and the sites' conditions (open, or closed for weather).

A telescope's control software uses a read-write key of an admin or astronomer: it names its
telescope in every call, and may report only on the observations given to it.
"""

from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema, extend_schema_view, inline_serializer
from rest_framework import mixins, serializers, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import PermissionDenied, ValidationError
from rest_framework.response import Response

from portal.models import Site, Telescope

from . import queues
from .models import Proposal, Request, RequestGroup, ScheduledObservation, SchedulePlan, SiteCondition
from .proposals import ConfigurationSpec, RequestSpec, SchedulingRefused, add_request_group, may_request_under
from .services import replan_after_commit
from .visibility import Constraints


class ScheduledObservationSerializer(serializers.ModelSerializer):
    target = serializers.SerializerMethodField()
    configurations = serializers.SerializerMethodField(help_text="in order; empty for a follow-up: the site's default")
    constraints = serializers.SerializerMethodField()

    class Meta:
        model = ScheduledObservation
        fields = ["id", "telescope", "request", "follow_up", "start", "end", "state", "priority", "target",
                  "configurations", "constraints", "started_at", "finished_at", "failure"]  # fmt: skip

    def _asked(self, observation):
        return observation.request or observation.follow_up

    def get_target(self, observation) -> dict:
        target = self._asked(observation).target
        return {"id": target.pk, "name": target.name, "ra_deg": target.ra_deg, "dec_deg": target.dec_deg}

    def get_configurations(self, observation) -> list:
        if observation.request is None:
            return []
        return [{"instrument": c.instrument, "filter": c.filter_name, "exposure_s": c.exposure_s,
                 "exposure_count": c.exposure_count} for c in observation.request.configurations.all()]  # fmt: skip

    def get_constraints(self, observation) -> dict:
        request = observation.request
        if request is None:
            return {}
        return {"max_airmass": request.max_airmass, "min_lunar_distance_deg": request.min_lunar_distance_deg,
                "max_lunar_illumination": request.max_lunar_illumination,
                "max_seeing_arcsec": request.max_seeing_arcsec}  # fmt: skip


class TelescopeReportSerializer(serializers.Serializer):
    telescope = serializers.IntegerField(help_text="the reporting telescope's id")
    reason = serializers.CharField(required=False, allow_blank=True, max_length=500,
                                   help_text="why it failed (fail only)")  # fmt: skip


class SiteConditionSerializer(serializers.ModelSerializer):
    class Meta:
        model = SiteCondition
        fields = ["site", "open", "reason", "seeing_arcsec", "seeing_at", "changed_at"]
        read_only_fields = ["seeing_at", "changed_at"]
        extra_kwargs = {"site": {"queryset": Site.objects.none(), "validators": []}}

    def get_fields(self):
        fields = super().get_fields()
        fields["site"].queryset = Site.objects.filter(tenant=self.context["request"].tenant)
        return fields


TELESCOPE = OpenApiParameter("telescope", int, description="the telescope's id")
STATE = OpenApiParameter("state", str, enum=ScheduledObservation.State.values)


@extend_schema_view(list=extend_schema(parameters=[TELESCOPE, STATE]))
class ScheduledObservationViewSet(viewsets.ReadOnlyModelViewSet):
    """Observations in the telescopes' queues, in order of start (``telescope``, ``state``).
    A telescope asks ``next``, then reports ``start``, ``complete`` or ``fail``."""

    serializer_class = ScheduledObservationSerializer
    ordering_fields = ["start", "end", "priority", "state"]
    lookup_value_regex = r"\d+"
    permission_actions = {"start": "telescopes.operate", "complete": "telescopes.operate", "fail": "telescopes.operate"}

    def get_queryset(self):
        observations = (ScheduledObservation.objects.filter(tenant=self.request.tenant)
                        .select_related("request__target", "follow_up__target")
                        .prefetch_related("request__configurations").order_by("start"))  # fmt: skip
        if "telescope" in self.request.query_params:
            observations = observations.filter(telescope=self._telescope(self.request.query_params["telescope"]))
        if "state" in self.request.query_params:
            observations = observations.filter(state=self.request.query_params["state"])
        return observations

    def _telescope(self, value):
        try:
            return Telescope.objects.get(tenant=self.request.tenant, pk=int(value))
        except (TypeError, ValueError, Telescope.DoesNotExist):
            raise ValidationError({"telescope": f"no telescope {value!r} in this observatory"}) from None

    @extend_schema(parameters=[TELESCOPE], responses=inline_serializer("NextObservation", {
        "observation": ScheduledObservationSerializer(allow_null=True)}))  # fmt: skip
    @action(detail=False)
    def next(self, request):
        """What the telescope should be doing: the observation it has started, else the next
        planned one (it may start later: wait for its ``start``), else null."""
        observation = queues.next_for(self._telescope(request.query_params.get("telescope")))
        return Response({"observation": observation and ScheduledObservationSerializer(observation).data})

    def _report(self, request, pk, report):
        """``report(telescope, observation id, the body)``, a refusal answered as a 400 naming the field."""
        body = TelescopeReportSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        telescope = self._telescope(body.validated_data["telescope"])
        try:
            observation = report(telescope, int(pk), body.validated_data)
        except SchedulingRefused as refused:
            raise ValidationError({refused.field: str(refused)}) from refused
        return Response(ScheduledObservationSerializer(self.get_queryset().get(pk=observation.pk)).data)

    @extend_schema(
        request=TelescopeReportSerializer,
        responses=ScheduledObservationSerializer,
        examples=[OpenApiExample("The 1 m at Teide starts it", value={"telescope": 3}, request_only=True)],
    )
    @action(detail=True, methods=["post"])
    def start(self, request, pk=None):
        """The telescope has started the observation (one at a time)."""
        return self._report(request, pk, lambda telescope, pk, _: queues.start(telescope, pk))

    @extend_schema(
        request=TelescopeReportSerializer,
        responses=ScheduledObservationSerializer,
        examples=[OpenApiExample("Done", value={"telescope": 3}, request_only=True)],
    )
    @action(detail=True, methods=["post"])
    def complete(self, request, pk=None):
        """Done: the time it held the telescope in the plan is charged to the proposal's allocation."""
        return self._report(request, pk, lambda telescope, pk, _: queues.complete(telescope, pk))

    @extend_schema(
        request=TelescopeReportSerializer,
        responses=ScheduledObservationSerializer,
        examples=[
            OpenApiExample(
                "The dome closed", value={"telescope": 3, "reason": "dome closed: humidity"}, request_only=True
            )
        ],
    )
    @action(detail=True, methods=["post"])
    def fail(self, request, pk=None):
        """It could not be made (``reason`` required): nothing is charged and it goes back in the queue."""
        return self._report(request, pk, lambda telescope, pk, body: queues.fail(telescope, pk, body.get("reason")))


@extend_schema_view(create=extend_schema(examples=[
    OpenApiExample("Clouds close the site", value={"site": 1, "open": False, "reason": "clouds"}, request_only=True),
    OpenApiExample("Open, seeing measured", value={"site": 1, "open": True, "reason": "clear",
                                                   "seeing_arcsec": 1.1}, request_only=True),
]))  # fmt: skip
class SiteConditionViewSet(mixins.ListModelMixin, mixins.CreateModelMixin, viewsets.GenericViewSet):
    """Whether each site can observe. POST ``{"site", "open", "reason"}`` when it opens or
    closes (weather): the night is planned again without (or with) its telescopes; add
    ``seeing_arcsec`` (the FWHM measured now) and requests with a tighter seeing limit wait
    there for the next two hours, unless a better measurement comes."""

    serializer_class = SiteConditionSerializer
    permission_action = "telescopes.operate"

    def get_queryset(self):
        return SiteCondition.objects.filter(tenant=self.request.tenant).order_by("site")

    def create(self, request):
        body = SiteConditionSerializer(data=request.data, context={"request": request})
        body.is_valid(raise_exception=True)
        given = body.validated_data
        condition = queues.set_site_condition(given["site"], open=given["open"], reason=given.get("reason", ""),
                                              seeing_arcsec=given.get("seeing_arcsec"), user=request.user)  # fmt: skip
        return Response(SiteConditionSerializer(condition, context={"request": request}).data, status=201)


class ConfigurationInput(serializers.Serializer):
    instrument = serializers.CharField(max_length=30, help_text="an instrument code of the telescope class")
    filter_name = serializers.CharField(max_length=30)
    exposure_s = serializers.FloatField(min_value=0.001, max_value=100_000)
    exposure_count = serializers.IntegerField(min_value=1, max_value=1000, default=1)


class WindowSerializer(serializers.Serializer):
    start = serializers.DateTimeField()
    end = serializers.DateTimeField()


class ConstraintsInput(serializers.Serializer):
    max_airmass = serializers.FloatField(default=1.6)
    min_lunar_distance_deg = serializers.FloatField(default=30.0)
    max_lunar_illumination = serializers.FloatField(default=1.0, help_text="fraction of the Moon's disc lit, 0–1")


class RequestInput(serializers.Serializer):
    target = serializers.IntegerField(help_text="a target's id in your observatory")
    telescope_class = serializers.CharField(max_length=10, help_text="e.g. 1m0: one the proposal has time on")
    configurations = ConfigurationInput(many=True, help_text="what to take, in order")
    windows = WindowSerializer(
        many=True, help_text="when it may be taken (UTC); with a cadence, each is cut into visits"
    )
    constraints = ConstraintsInput(required=False)
    cadence_hours = serializers.FloatField(
        required=False, allow_null=True, min_value=0.1, help_text="one visit every this many hours through each window"
    )
    jitter_hours = serializers.FloatField(default=2.0, min_value=0, help_text="how far a visit may move")
    max_seeing_arcsec = serializers.FloatField(required=False, allow_null=True, min_value=0.1)


def _request_spec(data):
    """A RequestInput's validated data as the RequestSpec add_request_group checks."""
    return RequestSpec(
        target_id=data["target"], telescope_class=data["telescope_class"],
        configurations=[ConfigurationSpec(**c) for c in data["configurations"]],
        windows=[(window["start"], window["end"]) for window in data["windows"]],
        constraints=Constraints(**data.get("constraints", {})), cadence_hours=data.get("cadence_hours"),
        jitter_hours=data["jitter_hours"], max_seeing_arcsec=data.get("max_seeing_arcsec"))  # fmt: skip


class RequestGroupInput(serializers.Serializer):
    proposal = serializers.IntegerField(help_text="an approved proposal of yours")
    name = serializers.CharField(max_length=200)
    priority = serializers.IntegerField(default=10, help_text="1 to 100, within the proposal")
    observation_type = serializers.ChoiceField(
        RequestGroup.ObservationType.choices, default=RequestGroup.ObservationType.NORMAL
    )
    requests = RequestInput(many=True)


class RequestSerializer(serializers.ModelSerializer):
    target = serializers.SlugRelatedField(slug_field="name", read_only=True)
    target_id = serializers.IntegerField(read_only=True)
    windows = WindowSerializer(many=True, read_only=True)
    configurations = ConfigurationInput(many=True, read_only=True)

    class Meta:
        model = Request
        fields = ["id", "target", "target_id", "telescope_class", "state", "max_airmass", "min_lunar_distance_deg",
                  "max_lunar_illumination", "max_seeing_arcsec", "windows", "configurations"]  # fmt: skip


class RequestGroupSerializer(serializers.ModelSerializer):
    submitter = serializers.SlugRelatedField(slug_field="username", read_only=True)
    requests = RequestSerializer(many=True, read_only=True)

    class Meta:
        model = RequestGroup
        fields = ["id", "proposal", "name", "priority", "observation_type", "submitter", "created_at", "requests"]


@extend_schema_view(create=extend_schema(request=RequestGroupInput, responses={201: RequestGroupSerializer},
    examples=[OpenApiExample("M51 in r and g, twice a night for three nights", request_only=True, value={
        "proposal": 1, "name": "M51 monitoring", "priority": 20, "requests": [{
            "target": 1, "telescope_class": "1m0",
            "configurations": [{"instrument": "sinistro", "filter_name": "rp", "exposure_s": 120, "exposure_count": 3},
                               {"instrument": "sinistro", "filter_name": "gp", "exposure_s": 180}],
            "windows": [{"start": "2026-12-10T18:00:00Z", "end": "2026-12-13T06:00:00Z"}],
            "cadence_hours": 12, "constraints": {"max_airmass": 1.8}}]})]))  # fmt: skip
class RequestGroupViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin,
                          viewsets.GenericViewSet):  # fmt: skip
    """Request groups of the key's observatory, highest priority first: what its proposals ask
    the telescopes for. POST one under an approved proposal: every request is checked against
    the proposal's time, the observatory's instruments and filters and the sky (is the target
    up, dark enough, far enough from the Moon, in some window, from a site of that class)
    before anything is stored; a refusal names the field (``requests[1].windows``). Accepted,
    the night is planned again with it. Keys of the proposal's PI, co-investigators and admins."""

    serializer_class = RequestGroupSerializer
    permission_action = "proposals.write"
    ordering_fields = ["created_at", "priority", "name"]

    def get_queryset(self):
        return (RequestGroup.objects.filter(tenant=self.request.tenant).select_related("submitter")
                .prefetch_related("requests__windows", "requests__configurations", "requests__target"))  # fmt: skip

    def create(self, request, *args, **kwargs):
        asked = RequestGroupInput(data=request.data)
        asked.is_valid(raise_exception=True)
        data = asked.validated_data
        proposal = Proposal.objects.filter(tenant=request.tenant, pk=data["proposal"]).first()
        if proposal is None:
            raise ValidationError({"proposal": f"no proposal {data['proposal']} in this observatory"})
        if not may_request_under(request.user, request.auth.owner_role, proposal):
            raise PermissionDenied("Only the proposal's PI, its co-investigators and admins make its requests.")
        specs = [_request_spec(item) for item in data["requests"]]
        try:
            group = add_request_group(proposal, request.user, name=data["name"], requests=specs,
                                      priority=data["priority"], observation_type=data["observation_type"])  # fmt: skip
        except SchedulingRefused as refused:
            raise ValidationError({refused.field: refused.message}) from refused
        replan_after_commit(request.tenant.pk, SchedulePlan.Trigger.REQUESTED)
        return Response(RequestGroupSerializer(self.get_queryset().get(pk=group.pk)).data, status=201)
