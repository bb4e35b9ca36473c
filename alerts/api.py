"""REST API for alerts: send packets (one or a list as JSON, ZTF's or Rubin's schema, stamps in
base64; or an Avro container file, as brokers hand them out), list and search what arrived,
read one with its history and stamps."""

import base64
from collections.abc import Iterator

from django.conf import settings
from django.db.models import Exists, OuterRef, Q
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema, extend_schema_view, inline_serializer
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ParseError, Throttled, ValidationError
from rest_framework.parsers import BaseParser
from rest_framework.response import Response
from rest_framework.settings import api_settings

from observations.api import CONE_PARAMETERS, REPORT
from observations.services import separation_deg
from observations.sky import PositionError, parse_cone
from portal import parameters, throttling
from portal.api import DownloadableList, SparseFields, downloadable, sparse_fields_parameter
from portal.api_errors import BodyTooLarge
from portal.api_parsers import json_items
from scheduling.models import FollowUpRequest

from . import services
from .avro import AvroUnreadable, read_alerts
from .downloads import alert_download
from .filters import FilterInvalid, check_targets, clean_conditions, parse_utc
from .followup import FollowUpRefused, request_follow_up
from .models import Alert, AlertClassification, AlertFilter, Source, validate_filter_name
from .validators import validate_webhook_destination

MAX_BATCH = 1000
PACKET_MAX_BYTES = 16 * 2**20  # a ZTF packet with its three stamps in base64 is ~70-175 kB
PACKET_MAX_VALUES = 200_000  # a packet with a thousand earlier detections has ~50,000


def _refuse_a_body_over_the_limit(parser_context):
    """BodyTooLarge (413, the limit stated) for a body declared over ALERTS_API_MAX_BODY_BYTES."""
    size = int(parser_context["request"].META.get("CONTENT_LENGTH") or 0)
    if size > settings.ALERTS_API_MAX_BODY_BYTES:
        raise BodyTooLarge(f"the body is {size:,} bytes; a body of alerts is at most "
                           f"{settings.ALERTS_API_MAX_BODY_BYTES:,}: send fewer packets a request")  # fmt: skip


class AlertJSONParser(BaseParser):
    """A packet or a list of packets as JSON, up to ALERTS_API_MAX_BODY_BYTES rather than
    Django's 2.5 MiB for other bodies: 1,000 packets with base64 stamps come to ~70-175 MB.
    The packets are read one by one as the view stores them (``json_items``), so a web process
    holds one batch of them, never the body. Not a subclass of DRF's JSONParser, which reads
    the body whole through Django's limit."""

    media_type = "application/json"

    def parse(self, stream, media_type=None, parser_context=None):
        _refuse_a_body_over_the_limit(parser_context)
        return json_items(stream, item_bytes=PACKET_MAX_BYTES, item_values=PACKET_MAX_VALUES)


class AvroParser(BaseParser):
    """An Avro container file as the body, labelled ``avro/binary`` as brokers label them: its
    records, read one by one as the view stores them (in one transaction, so a body cut short
    stores nothing)."""

    media_type = "avro/binary"

    def parse(self, stream, media_type=None, parser_context=None):
        _refuse_a_body_over_the_limit(parser_context)
        return _avro_records(stream)


def _avro_records(stream):
    try:
        yield from read_alerts(stream)
    except AvroUnreadable as error:
        raise ParseError(f"the body is not a readable Avro container file: {error}; nothing was stored") from None


class ApplicationAvroParser(AvroParser):
    media_type = "application/avro"


AVRO_MEDIA_TYPES = {AvroParser.media_type, ApplicationAvroParser.media_type}


class AlertSerializer(SparseFields, serializers.ModelSerializer):
    object_id = serializers.CharField(source="alert_object.object_id")
    target = serializers.SerializerMethodField()
    classifications = serializers.SerializerMethodField(
        help_text="what each model version said: real-bogus from the stamps, the kind from the light curve"
    )

    class Meta:
        model = Alert
        fields = ["id", "candidate_id", "object_id", "target", "source", "origin", "ra_deg", "dec_deg",
                  "observed_at", "mjd", "band", "magnitude", "magnitude_error", "positive", "broker_real_bogus",
                  "received_at", "classifications"]  # fmt: skip

    def get_classifications(self, alert) -> list[dict]:
        return [{"model": answer.version.model.name, "version": answer.version.number, "label": answer.label,
                 "probabilities": answer.probabilities, "refusal": answer.refusal}
                for answer in alert.classifications.all()]  # fmt: skip

    def get_target(self, alert) -> dict | None:
        target = alert.alert_object.target
        return None if target is None else {"id": target.pk, "name": target.name}


class AlertDetailSerializer(AlertSerializer):
    history = serializers.SerializerMethodField(
        help_text="earlier detections, oldest first: mjd, band, magnitude, error and positive (false: fainter than "
                  "the template, a negative difference), or mjd, band and limit for an upper limit"
    )  # fmt: skip
    stamps = serializers.SerializerMethodField(
        help_text="science, template, difference: gzipped FITS in base64; null where the packet carried none"
    )

    class Meta(AlertSerializer.Meta):
        fields = [*AlertSerializer.Meta.fields, "history", "stamps"]

    def get_history(self, alert) -> list[dict]:
        """Detections stored before their sign was kept were positive: ZTF sent only those then."""
        return [{**entry, "positive": entry.get("positive", True)} if "magnitude" in entry else entry
                for entry in alert.history]  # fmt: skip

    def get_stamps(self, alert) -> dict:
        stamps = {name: bytes(getattr(alert, f"{name}_stamp")) for name in ("science", "template", "difference")}
        return {name: base64.b64encode(data).decode() if data else None for name, data in stamps.items()}


class FollowUpSerializer(serializers.ModelSerializer):
    target = serializers.SerializerMethodField()
    alert = serializers.PrimaryKeyRelatedField(source="from_alert.alert", read_only=True, allow_null=True)
    requested_by = serializers.SlugRelatedField(slug_field="username", read_only=True)
    rule = serializers.SlugRelatedField(source="from_alert.rule", slug_field="name", read_only=True,
                                        help_text="the filter whose rule asked")  # fmt: skip

    class Meta:
        model = FollowUpRequest
        fields = ["id", "target", "alert", "priority", "status", "note", "requested_by", "rule", "created_at"]

    def get_target(self, request) -> dict:
        return {"id": request.target_id, "name": request.target.name}


PACKET = {"type": "object", "additionalProperties": True, "description": "an alert packet in ZTF's or Rubin's schema"}


@extend_schema_view(
    list=downloadable(AlertSerializer, parameters=[
        OpenApiParameter("after", int, description="only ids above it, oldest first"),
        OpenApiParameter("object", str, description="the broker's object id"),
        OpenApiParameter("target", int, description="a target's id"),
        OpenApiParameter("band", str), OpenApiParameter("brighter_than", float, description="magnitude"),
        OpenApiParameter("class", str, description="what a light-curve model said"),
        OpenApiParameter("since", OpenApiTypes.DATETIME), OpenApiParameter("until", OpenApiTypes.DATETIME),
        *CONE_PARAMETERS,
        sparse_fields_parameter(AlertSerializer),
    ]),
    retrieve=extend_schema(parameters=[sparse_fields_parameter(AlertDetailSerializer)]),
    create=extend_schema(
        request={"application/json": {"oneOf": [PACKET, {"type": "array", "items": PACKET}]},
                 "avro/binary": OpenApiTypes.BINARY, "application/avro": OpenApiTypes.BINARY},
        responses={201: REPORT, 200: REPORT},
    ),
    follow_up=extend_schema(
        request=inline_serializer("FollowUpAsk", {
            "priority": serializers.ChoiceField(FollowUpRequest.Priority.choices, default=FollowUpRequest.Priority.TOP),
            "note": serializers.CharField(required=False)}),
        responses={201: FollowUpSerializer},
        examples=[OpenApiExample("Observe it tonight", value={"priority": "top", "note": "rising fast: get a spectrum"},
                                 request_only=True)],
    ),
)  # fmt: skip
class AlertViewSet(DownloadableList, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Alerts of the key's observatory, newest first.

    Filters: ``after`` (only ids above it, oldest first: how a client catches up on what it
    missed), ``object`` (the broker's object id), ``target`` (a target id), ``band``,
    ``brighter_than`` (magnitude), ``class`` (what a light-curve model said), ``since`` and
    ``until`` (observed, ISO 8601 UTC), and a cone: ``ra`` + ``dec`` (degrees) or
    ``position``, with ``radius`` (arcmin unless a unit is given). POST one packet or a list of up to 1,000 in
    ZTF's or Rubin's schema as JSON, or an Avro container file of them (``Content-Type:
    avro/binary``); each bad packet is named in ``refused`` and the rest are stored, a candidate
    already stored counts as a duplicate, not an error. ``packets`` says, packet by packet in
    the order sent, ``stored`` (with its ``id``), ``duplicate`` or ``refused`` (with the ``reason``).
    ``download=votable`` (or ``csv``) answers every matching alert as one file, as the
    dashboard's rows.
    """

    parser_classes = [AlertJSONParser, AvroParser, ApplicationAvroParser]
    ordering_fields = ["id", "observed_at", "magnitude", "ra_deg", "dec_deg", "received_at"]
    permission_action = "alerts.send"
    permission_actions = {"follow_up": "alerts.follow_up"}

    def get_queryset(self):
        alerts = (Alert.objects.filter(tenant=self.request.tenant).select_related("alert_object__target")
                  .prefetch_related("classifications__version__model"))  # fmt: skip
        params = self.request.query_params
        conditions = Q()
        if "after" in params:
            if "ordering" in params:
                raise parameters.ParameterInvalid(
                    "ordering", "after lists every alert since that one oldest first; leave out ordering"
                )
            conditions &= Q(id__gt=parameters.integer(params, "after"))
            alerts = alerts.order_by("id")
        if "object" in params:
            conditions &= Q(alert_object__object_id=params["object"])
        if "target" in params:
            conditions &= Q(alert_object__target_id=parameters.integer(params, "target"))
        if "band" in params:
            conditions &= Q(band=params["band"])
        if "brighter_than" in params:
            conditions &= Q(magnitude__lt=parameters.number(params, "brighter_than"))
        if "class" in params:
            conditions &= Q(Exists(AlertClassification.objects.filter(alert=OuterRef("pk"), label=params["class"])))
        if "since" in params:
            conditions &= Q(observed_at__gte=parameters.parsed(params, "since", parse_utc, "an ISO 8601 time"))
        if "until" in params:
            conditions &= Q(observed_at__lt=parameters.parsed(params, "until", parse_utc, "an ISO 8601 time"))
        try:
            cone = parse_cone(**{key: params[key] for key in ("position", "ra", "dec", "radius") if key in params})
        except PositionError as error:
            raise ValidationError({error.field: error.message}) from error
        if cone is not None:
            centre, radius = cone
            alerts = alerts.annotate(separation_deg=separation_deg(Alert, centre.ra.deg, centre.dec.deg))
            conditions &= Q(separation_deg__lte=radius.deg)
        return alerts.filter(conditions)

    def download(self, alerts, fmt):
        return alert_download(self.request.tenant, alerts, fmt)

    def get_serializer_class(self):
        return AlertDetailSerializer if self.action == "retrieve" else AlertSerializer

    @action(detail=True, methods=["post"], url_path="follow-up", parser_classes=api_settings.DEFAULT_PARSER_CLASSES)
    def follow_up(self, request, pk=None):
        """Ask for follow-up of the alert's target: a pending target-of-opportunity request
        (``priority``: normal, high or top; ``note``). Admins' and astronomers' keys only."""
        try:
            made = request_follow_up(self.get_object(), user=request.user,
                                     priority=request.data.get("priority", FollowUpRequest.Priority.TOP),
                                     note=str(request.data.get("note", "")))  # fmt: skip
        except FollowUpRefused as refusal:
            raise ValidationError({"follow_up": str(refusal)}) from refusal
        return Response(FollowUpSerializer(made).data, status=status.HTTP_201_CREATED)

    def create(self, request):
        if not isinstance(request.data, Iterator):  # no body: DRF gives an empty form
            what = "an Avro container file of" if request.content_type.startswith(tuple(AVRO_MEDIA_TYPES)) else "JSON,"
            raise ParseError(f"the body is empty: send {what} 1 to {MAX_BATCH:,} alert packets")
        _within_alert_budget(request.auth)
        try:
            result = services.ingest_records(request.tenant, request.data, source=Source.REST,
                                             origin=request.auth.name, most=MAX_BATCH)  # fmt: skip
        except services.TooManyPackets:
            raise ValidationError({"packets": f"send 1 to {MAX_BATCH:,} packets a request, got more; "
                                              "nothing was stored"}) from None  # fmt: skip
        if not result.outcomes:
            raise ValidationError({"packets": f"send 1 to {MAX_BATCH:,} packets, got none"})
        throttling.charge("alerts", request.auth.pk, settings.ALERTS_PER_KEY, len(result.outcomes))
        if result.refused and not result.alerts and not result.duplicates:
            raise ValidationError({"packets": [f"packet {index}: {reason}" for index, reason in result.refused]})
        body = {"stored": len(result.alerts), "duplicates": result.duplicates, "ids": [a.pk for a in result.alerts],
                "refused": [{"index": index, "reason": reason} for index, reason in result.refused],
                "packets": [_outcome(*outcome) for outcome in result.outcomes]}  # fmt: skip
        return Response(body, status=status.HTTP_201_CREATED if result.alerts else status.HTTP_200_OK)


def _within_alert_budget(key):
    """Throttled (429, Retry-After) once the key has sent its ALERTS_PER_KEY: a body's packets
    are counted as they are stored, so the request that passes the budget is answered whole and
    the next one is refused."""
    try:
        throttling.check("alerts", key.pk, settings.ALERTS_PER_KEY)
    except throttling.Limited as limited:
        raise Throttled(wait=limited.retry_after,
                        detail=f"this key has sent its {settings.ALERTS_PER_KEY} alerts "
                               f"(ALERTS_PER_KEY)") from None  # fmt: skip


def _outcome(index, status, said):
    """One packet's line in the answer: stored with its id, a duplicate, or refused with the reason."""
    if status == "stored":
        return {"index": index, "status": status, "id": said}
    return {"index": index, "status": status, **({"reason": said} if status == "refused" else {})}


class AlertFilterSerializer(serializers.ModelSerializer):
    webhook_secret = serializers.CharField(read_only=True, help_text="signs each webhook POST (see the README)")

    class Meta:
        model = AlertFilter
        fields = ["id", "name", "conditions", "enabled", "webhook_url", "webhook_secret", "auto_follow_up",
                  "created_at"]  # fmt: skip
        read_only_fields = ["created_at"]

    def validate_conditions(self, conditions):
        try:
            conditions = clean_conditions(conditions)
            check_targets(conditions, self.context["request"].tenant)
            return conditions
        except FilterInvalid as error:
            raise ValidationError(str(error)) from error

    def validate_webhook_url(self, url):
        validate_webhook_destination(url)
        return url

    def validate_name(self, name):
        request = self.context["request"]
        validate_filter_name(request.tenant, request.user, name, excluding=getattr(self.instance, "pk", None))
        return name


FILTER_EXAMPLES = [
    OpenApiExample(
        "Young supernovae near M51",
        request_only=True,
        value={
            "name": "young SNe near M51",
            "enabled": True,
            "auto_follow_up": False,
            "conditions": {
                "min_real_bogus": 0.8,
                "classes": ["sn_ia", "sn_ii"],
                "min_class_probability": 0.6,
                "brighter_than": 19.5,
                "cone": {"ra_deg": 202.4696, "dec_deg": 47.1952, "radius_deg": 1.0},
                "max_age_days": 5,
            },
        },
    ),
    OpenApiExample(
        "Everything bright, to a webhook",
        request_only=True,
        value={
            "name": "bright",
            "conditions": {"brighter_than": 16},
            "webhook_url": "https://example.org/arrayscope/alerts",
        },
    ),
]


@extend_schema_view(create=extend_schema(examples=FILTER_EXAMPLES), update=extend_schema(examples=FILTER_EXAMPLES),
                    partial_update=extend_schema(examples=[OpenApiExample("Pause it", value={"enabled": False},
                                                                          request_only=True)]))  # fmt: skip
class AlertFilterViewSet(viewsets.ModelViewSet):
    """Your alert filters (the key's user's): structured conditions, checked when saved —
    one that could never match is refused with the reason. See the README for the conditions."""

    serializer_class = AlertFilterSerializer
    ordering_fields = ["name", "created_at"]
    permission_action = "alert_filters.change"

    def get_queryset(self):
        return AlertFilter.objects.filter(tenant=self.request.tenant, user=self.request.user)

    def perform_create(self, serializer):
        serializer.save(tenant=self.request.tenant, user=self.request.user)


@extend_schema_view(list=extend_schema(parameters=[
    OpenApiParameter("status", str, enum=FollowUpRequest.Status.values)]))  # fmt: skip
class FollowUpViewSet(viewsets.ReadOnlyModelViewSet):
    """Follow-up requests of the key's observatory, newest first (``status``=pending, …)."""

    serializer_class = FollowUpSerializer
    ordering_fields = ["created_at", "priority", "status"]

    def get_queryset(self):
        requests = FollowUpRequest.objects.filter(tenant=self.request.tenant).select_related(
            "target", "requested_by", "from_alert__rule"
        )
        if "status" in self.request.query_params:
            requests = requests.filter(status=self.request.query_params["status"])
        return requests
