"""REST API for targets: create by position or coordinates, search by name or cone."""

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import transaction
from django.db.models import prefetch_related_objects
from django.http import FileResponse, HttpResponse
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import parsers, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response
from rest_framework.views import APIView

from portal.api import DownloadableList, SparseFields, TenantModelViewSet, downloadable, sparse_fields_parameter
from portal.tables import bounded, download_format
from portal.uploads import check_uploads

from . import services, vo
from .calibration_api import FusedLightCurveActions
from .downloads import light_curve_download, target_download
from .forms import FrameFilterForm
from .frames import filter_frames
from .importing import TargetListError, import_targets
from .ingest import ingest_frame
from .models import Frame, Photometry, Target, Visibility
from .resolver import resolve_name
from .sky import FRAMES, PositionError, parse_cone, parse_position, position_from_degrees

CONE_PARAMETERS = [
    OpenApiParameter("ra", float, description="cone centre's right ascension, degrees (with dec)"),
    OpenApiParameter("dec", float, description="cone centre's declination, degrees (with ra)"),
    OpenApiParameter("position", str, description="cone centre as any astropy-readable position"),
    OpenApiParameter("radius", str, description="cone radius: arcmin unless a unit is given, e.g. 30arcsec"),
]
REPORT = {"type": "object", "additionalProperties": True}
BULK_MAX = 1000  # targets one request may create
TARGET = {"$ref": "#/components/schemas/Target"}
BULK_REPORT = {
    "type": "object", "description": "a list's outcome, target by target in the order sent",
    "properties": {
        "created": {"type": "integer"}, "refused": {"type": "integer"},
        "targets": {"type": "array", "items": {"type": "object", "properties": {
            "index": {"type": "integer"}, "status": {"type": "string", "enum": ["created", "refused"]},
            "id": {"type": "integer"}, "name": {"type": "string"},
            "errors": {"type": "object", "additionalProperties": True, "description": "refused: why, by field"}},
            "required": ["index", "status"]}},
    },
    "required": ["created", "refused", "targets"],
}  # fmt: skip


def multipart(**fields):
    """A multipart request body's schema; each field a binary file unless given a schema of its own."""
    properties = {name: schema or {"type": "string", "format": "binary"} for name, schema in fields.items()}
    return {"multipart/form-data": {"type": "object", "properties": properties, "required": [next(iter(fields))]}}


class TargetListSerializer(serializers.ListSerializer):
    """Formats every listed target's sexagesimal position in one call (``services.sexagesimal_all``):
    one by one, they were most of what a page of targets cost."""

    def to_representation(self, data):
        targets = list(data.all() if hasattr(data, "all") else data)
        for target, position in zip(targets, services.sexagesimal_all(targets)):
            target.sexagesimal = position
        return super().to_representation(targets)


class TargetSerializer(SparseFields, serializers.ModelSerializer):
    position = serializers.CharField(
        write_only=True, required=False, help_text="Any astropy-readable position, e.g. '10h08m22.3s +12d34m'."
    )
    frame = serializers.ChoiceField(choices=list(FRAMES), default="icrs", write_only=True)
    allow_duplicate = serializers.BooleanField(default=False, write_only=True)
    ra_deg = serializers.FloatField(required=False)
    dec_deg = serializers.FloatField(required=False)
    ra_hms = serializers.SerializerMethodField()
    dec_dms = serializers.SerializerMethodField()
    owner = serializers.SlugRelatedField(source="tenant", slug_field="slug", read_only=True)
    separation_arcsec = serializers.SerializerMethodField()

    class Meta:
        model = Target
        list_serializer_class = TargetListSerializer
        fields = [
            "id", "name", "aliases", "ra_deg", "dec_deg", "ra_hms", "dec_dms", "pm_ra_cosdec_mas_yr", "pm_dec_mas_yr",
            "epoch_jyear", "kind", "tags", "visibility", "owner", "created_at", "separation_arcsec",
            "position", "frame", "allow_duplicate",
        ]  # fmt: skip

    def get_ra_hms(self, target) -> str:
        return self._sexagesimal(target)[0]

    def get_dec_dms(self, target) -> str:
        return self._sexagesimal(target)[1]

    @staticmethod
    def _sexagesimal(target):
        if not hasattr(target, "sexagesimal"):  # one target alone, not formatted with its page
            target.sexagesimal = services.sexagesimal(target)
        return target.sexagesimal

    def get_separation_arcsec(self, target) -> float | None:
        separation = getattr(target, "separation_deg", None)
        return None if separation is None else round(separation * 3600, 3)

    def validate(self, attrs):
        position, frame = attrs.pop("position", None), attrs.pop("frame", "icrs")
        try:
            if position:
                coordinate = parse_position(position, frame)
            elif "ra_deg" in attrs or "dec_deg" in attrs or self.instance is None:
                ra = attrs.get("ra_deg", getattr(self.instance, "ra_deg", None))
                dec = attrs.get("dec_deg", getattr(self.instance, "dec_deg", None))
                if ra is None and dec is None and self.instance is None and attrs.get("name"):
                    coordinate = resolve_name(attrs["name"])
                elif ra is None or dec is None:
                    raise PositionError("position", "give a position, or both ra_deg and dec_deg.")
                else:
                    coordinate = _from_degrees_fields(ra, dec)
            else:
                coordinate = None
        except PositionError as error:
            raise serializers.ValidationError({error.field: error.message}) from error
        if coordinate is not None:
            attrs["ra_deg"], attrs["dec_deg"] = float(coordinate.ra.deg), float(coordinate.dec.deg)
        return attrs

    def create(self, validated_data):
        request = self.context["request"]
        ra, dec = validated_data.pop("ra_deg"), validated_data.pop("dec_deg")
        try:
            return services.create_target(
                request.tenant, request.user, coordinate=position_from_degrees(ra, dec), **validated_data
            )
        except DjangoValidationError as error:
            raise serializers.ValidationError(serializers.as_serializer_error(error)) from error

    def update(self, instance, validated_data):
        validated_data.pop("allow_duplicate", None)
        ra, dec = validated_data.pop("ra_deg", None), validated_data.pop("dec_deg", None)
        coordinate = position_from_degrees(ra, dec) if ra is not None else None
        try:
            return services.update_target(instance, coordinate=coordinate, **validated_data)
        except DjangoValidationError as error:
            raise serializers.ValidationError(serializers.as_serializer_error(error)) from error


class PhotometrySerializer(serializers.ModelSerializer):
    """One measurement of a light curve, as the light-curve download's columns name it."""

    filter = serializers.CharField(source="filter_name")
    site = serializers.SlugRelatedField(slug_field="code", read_only=True, allow_null=True)
    frame = serializers.IntegerField(source="link.frame_id", read_only=True, help_text="the frame it was measured on")
    mag_calibrated = serializers.FloatField(
        source="calibrated.mag", read_only=True, allow_null=True, default=None,
        help_text="on the cross-site scale, once calibrated (mag stays as measured)")  # fmt: skip
    mag_calibrated_err = serializers.FloatField(source="calibrated.mag_err", read_only=True, allow_null=True,
                                                default=None)  # fmt: skip
    zero_point_calibrated = serializers.FloatField(source="calibrated.calibration.zero_point", read_only=True,
                                                   allow_null=True, default=None)  # fmt: skip

    class Meta:
        model = Photometry
        fields = ["mjd", "filter", "mag", "mag_err", "flux_adu", "flux_err_adu", "zero_point",
                  "aperture_radius_arcsec", "site", "frame", "mag_calibrated", "mag_calibrated_err",
                  "zero_point_calibrated"]  # fmt: skip


def _from_degrees_fields(ra_deg, dec_deg):
    """The position in ``ra_deg`` and ``dec_deg``; a refusal names the field that was sent."""
    try:
        return position_from_degrees(ra_deg, dec_deg)
    except PositionError as error:
        raise PositionError(f"{error.field}_deg", error.message) from None


@extend_schema_view(list=downloadable(TargetSerializer, parameters=[
    OpenApiParameter("q", str, description="name or alias"),
    OpenApiParameter("kind", str, description="the kind of target, e.g. galaxy"),
    *CONE_PARAMETERS,
    OpenApiParameter("frame", str, enum=list(FRAMES), description="the frame of position"),
    sparse_fields_parameter(TargetSerializer),
]), retrieve=extend_schema(parameters=[sparse_fields_parameter(TargetSerializer)]), create=extend_schema(
    request={"application/json": {"oneOf": [TARGET, {"type": "array", "items": TARGET, "minItems": 1,
                                                      "maxItems": BULK_MAX}]}},
    responses={201: {"oneOf": [TARGET, BULK_REPORT]}},
    examples=[
        OpenApiExample("By position, sexagesimal", request_only=True, value={
            "name": "M51", "position": "13h29m52.7s +47d11m43s", "kind": "galaxy", "tags": ["spiral", "interacting"]}),
        OpenApiExample("In degrees, galactic", request_only=True, value={
            "name": "Cyg X-1", "position": "71.3350 3.0668", "frame": "galactic", "kind": "other"}),
        OpenApiExample("By name alone (Sesame)", request_only=True, value={"name": "NGC 4565", "visibility": "public"}),
        OpenApiExample("A list", request_only=True, value=[
            {"name": "SN 2011fe", "ra_deg": 210.774, "dec_deg": 54.2737, "kind": "transient"},
            {"name": "M101", "ra_deg": 210.8023, "dec_deg": 54.3490, "kind": "galaxy"}]),
    ],
), partial_update=extend_schema(examples=[
    OpenApiExample("Re-tag", request_only=True, value={"tags": ["spiral", "follow-up 2026B"]}),
]))  # fmt: skip
class TargetViewSet(FusedLightCurveActions, DownloadableList, TenantModelViewSet):
    """Targets of the key's tenant plus every tenant's public ones (read-only).

    Filters: ``q`` (name or alias), ``kind``, and a cone: ``ra``+``dec`` (degrees) or
    ``position`` (+``frame``), with ``radius`` (arcmin unless a unit is given, e.g. ``30arcsec``).
    A cone lists nearest first with ``separation_arcsec``. ``download=votable`` (or ``csv``)
    answers every matching target as one file; ``light-curve/`` is a target's photometry, and
    ``fused-light-curve/`` the same fused across sites.
    """

    serializer_class = TargetSerializer
    permission_action = "targets.change"
    ordering_fields = ["name", "ra_deg", "dec_deg", "kind", "created_at"]

    def get_queryset(self):
        request = self.request
        if request.method not in ("GET", "HEAD", "OPTIONS"):
            return Target.objects.filter(tenant=request.tenant)
        params = request.query_params
        try:
            cone = parse_cone(**{k: params[k] for k in ("position", "ra", "dec", "radius", "frame") if k in params})
        except PositionError as error:
            raise serializers.ValidationError({error.field: error.message}) from error
        self.cone = cone
        if cone and self.action == "list":
            matches = services.cone_search(
                request.tenant, *cone, user=request.user, kind=params.get("kind"), name=params.get("q")
            )
            prefetch_related_objects(matches, "tenant")
            return matches
        targets = services.visible_targets(request.tenant, request.user).select_related("tenant")
        return services.search_targets(targets, params)

    def create(self, request, *args, **kwargs):
        """One target, or a list of up to 1,000: each checked and created on its own, so one
        refused (a bad position, a name already taken) leaves the others; a list none of whose
        targets could be created is a 400 that names each problem, and nothing is written."""
        if not isinstance(request.data, list):
            return super().create(request, *args, **kwargs)
        if not 1 <= len(request.data) <= BULK_MAX:
            raise serializers.ValidationError({"targets": f"send 1 to {BULK_MAX:,} targets, got {len(request.data):,}"})
        outcomes = [self._create_one(index, item) for index, item in enumerate(request.data)]
        refused = [outcome for outcome in outcomes if outcome["status"] == "refused"]
        if len(refused) == len(outcomes):
            raise serializers.ValidationError({"targets": {str(o["index"]): o["errors"] for o in refused}})
        return Response({"created": len(outcomes) - len(refused), "refused": len(refused), "targets": outcomes},
                        status=status.HTTP_201_CREATED)  # fmt: skip

    def _create_one(self, index, item):
        serializer = self.get_serializer(data=item)
        try:
            with transaction.atomic():
                serializer.is_valid(raise_exception=True)
                serializer.save()
        except serializers.ValidationError as refusal:
            return {"index": index, "status": "refused", "errors": refusal.detail}
        return {"index": index, "status": "created", "id": serializer.instance.pk, "name": serializer.instance.name}

    def perform_create(self, serializer):
        serializer.save()  # create_target puts it in the key's tenant

    def download(self, targets, fmt):
        return target_download(targets, fmt, cone=self.cone)

    @downloadable(PhotometrySerializer)
    @action(detail=True, methods=["get"], url_path="light-curve", pagination_class=None)
    def light_curve(self, request, pk=None):
        """The target's photometry from this observatory's frames, oldest first: every
        measurement (``download=votable`` or ``csv`` for a file)."""
        target = self.get_object()
        points = services.light_curve_points(request.tenant, target)
        fmt = download_format(request.query_params)
        if fmt is not None:
            return light_curve_download(target, points, fmt)
        return Response(PhotometrySerializer(bounded(points), many=True).data)

    @extend_schema(
        request=multipart(file=None, visibility={"type": "string", "enum": Visibility.values}),
        responses={201: REPORT, 200: REPORT},
    )
    @action(detail=False, methods=["post"], url_path="import", parser_classes=[parsers.MultiPartParser])
    def import_list(self, request):
        """POST a CSV or VOTable as ``file`` (multipart); answers which rows were created or skipped."""
        upload = request.FILES.get("file")
        if upload is None:
            raise serializers.ValidationError({"file": "attach the target list as 'file'."})
        try:
            report = import_targets(request.tenant, request.user, upload.read(), upload.name,
                                    visibility=request.data.get("visibility", "tenant"))  # fmt: skip
        except TargetListError as error:
            raise serializers.ValidationError({"file": str(error)}) from error
        return Response(report.as_dict(), status=status.HTTP_201_CREATED if report.created else status.HTTP_200_OK)


class FrameSerializer(SparseFields, serializers.ModelSerializer):
    site = serializers.SlugRelatedField(slug_field="code", read_only=True, allow_null=True)
    telescope = serializers.SlugRelatedField(slug_field="code", read_only=True)
    instrument = serializers.SlugRelatedField(slug_field="code", read_only=True)
    targets = serializers.SlugRelatedField(slug_field="name", many=True, read_only=True)

    class Meta:
        model = Frame
        fields = [
            "id", "original_name", "sha256", "size_bytes", "site", "telescope", "instrument", "filter_name",
            "object_name", "obs_time", "mjd_obs", "time_source", "exptime_s", "airmass", "gain_e_per_adu", "width_px",
            "height_px", "hdu_index", "has_astrometry", "astrometry_note", "ra_center_deg", "dec_center_deg",
            "footprint", "pixel_scale_arcsec", "targets", "created_at",
        ]  # fmt: skip


@extend_schema_view(list=extend_schema(parameters=[
    OpenApiParameter("site", int), OpenApiParameter("telescope", int), OpenApiParameter("filter_name", str),
    OpenApiParameter("night", OpenApiTypes.DATE, description="the date the night began"),
    OpenApiParameter("target", str, description="a target's name"),
    OpenApiParameter("astrometry", str, enum=["yes", "no"]),
    sparse_fields_parameter(FrameSerializer),
]), retrieve=extend_schema(parameters=[sparse_fields_parameter(FrameSerializer)]))  # fmt: skip
class FrameViewSet(viewsets.ReadOnlyModelViewSet):
    """The key's tenant's frames. Filters: ``site``/``telescope`` (ids), ``filter_name``,
    ``night`` (YYYY-MM-DD), ``target`` (name), ``astrometry`` (yes/no). POST ``upload/``
    with one or more multipart ``files`` to ingest them."""

    serializer_class = FrameSerializer
    permission_actions = {"upload": "frames.upload"}
    ordering_fields = ["obs_time", "exptime_s", "filter_name", "created_at"]

    def get_queryset(self):
        frames = Frame.objects.filter(tenant=self.request.tenant).select_related("site", "telescope", "instrument")
        form = FrameFilterForm(self.request.query_params, tenant=self.request.tenant)
        if not form.is_valid():
            raise serializers.ValidationError(form.errors)
        return filter_frames(frames, form.cleaned_data).prefetch_related("targets")

    @extend_schema(
        request=multipart(files={"type": "array", "items": {"type": "string", "format": "binary"}}),
        responses={201: {"type": "array", "items": REPORT}, 200: {"type": "array", "items": REPORT}},
    )
    @action(detail=False, methods=["post"], parser_classes=[parsers.MultiPartParser])
    def upload(self, request):
        uploads = request.FILES.getlist("files") or request.FILES.getlist("file")
        check_uploads(request)
        if not uploads:
            raise serializers.ValidationError({"files": "attach one or more FITS files as 'files'."})
        results = [ingest_frame(request.tenant, request.user, upload.read(), upload.name) for upload in uploads]
        created = any(result.status == "created" for result in results)
        return Response([result.as_dict() for result in results], status=201 if created else 200)

    def perform_content_negotiation(self, request, force=False):
        # A FITS download answers whatever the client accepts (``Accept: application/fits`` too).
        return super().perform_content_negotiation(request, force=force or self.action == "file")

    @extend_schema(
        responses={
            (200, "application/fits"): OpenApiResponse(OpenApiTypes.BINARY, description="the FITS file as uploaded")
        }
    )
    @action(detail=True, methods=["get"], url_path="file")
    def file(self, request, pk=None):
        """The frame's FITS file, as it was uploaded."""
        frame = self.get_object()
        return FileResponse(frame.file.open("rb"), as_attachment=True, filename=frame.original_name,
                            content_type="application/fits")  # fmt: skip


VOTABLE = OpenApiResponse(OpenApiTypes.STR, description="a VOTable")
VOTABLE_REFUSAL = OpenApiResponse(OpenApiTypes.STR, description="a VOTable whose INFO name='Error' says why")
SCS_PARAMETERS = [
    OpenApiParameter("RA", float, required=True, description="the cone's centre: right ascension, ICRS degrees"),
    OpenApiParameter("DEC", float, required=True, description="the cone's centre: declination, ICRS degrees"),
    OpenApiParameter("SR", float, required=True,
                     description=f"the cone's radius in degrees, 0 to {vo.MAX_SR_DEG:g} (0: only the columns)"),
    OpenApiParameter("VERB", int, enum=[1, 2, 3],
                     description="1: id and position; 2 (default): the usual columns; 3: all"),
]  # fmt: skip


class ConeSearchView(APIView):
    """An IVOA Simple Cone Search (portal.vo): answers, and refusals, are VOTables, as VO
    clients expect; a refused key or a rate limit keeps its HTTP status, with the reason in
    the VOTable."""

    def perform_content_negotiation(self, request, force=False):
        return super().perform_content_negotiation(request, force=True)  # a VOTable, whatever is asked for

    def get(self, request):
        try:
            query = vo.parse_cone_query(request.query_params)
        except vo.ConeSearchRefused as refusal:
            return _votable_response(vo.error_votable(str(refusal)))
        return _votable_response(self.votable(request, query))

    def handle_exception(self, exc):
        problem = super().handle_exception(exc)
        refused = _votable_response(vo.error_votable(problem.data.get("detail", problem.status_text)),
                                    status=problem.status_code)  # fmt: skip
        for header in ("WWW-Authenticate", "Retry-After"):
            if header in problem:
                refused[header] = problem[header]
        return refused


def _votable_response(content, status=200):
    return HttpResponse(content, status=status, content_type=vo.CONTENT_TYPE)


@extend_schema(parameters=SCS_PARAMETERS, responses={(200, vo.CONTENT_TYPE): VOTABLE,
                                                     (("4XX"), vo.CONTENT_TYPE): VOTABLE_REFUSAL})  # fmt: skip
class TargetConeSearch(ConeSearchView):
    """Simple Cone Search over targets: the key's tenant's and every tenant's public ones,
    nearest first (TOPCAT: VO → Cone Search, this URL)."""

    def votable(self, request, query):
        return vo.target_cone_votable(request.tenant, request.user, query)


@extend_schema(parameters=SCS_PARAMETERS, responses={(200, vo.CONTENT_TYPE): VOTABLE,
                                                     (("4XX"), vo.CONTENT_TYPE): VOTABLE_REFUSAL})  # fmt: skip
class FrameConeSearch(ConeSearchView):
    """Simple Cone Search over the key's tenant's frames whose footprint the cone reaches, with
    each one's footprint and FITS download URL."""

    def votable(self, request, query):
        def access_url(frame):
            return request.build_absolute_uri(reverse("frame-file", args=[frame.pk]))

        return vo.frame_cone_votable(request.tenant, query, access_url)
