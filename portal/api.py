"""REST API for a tenant's facilities; the tenant always comes from the API key."""

from django.core.exceptions import NON_FIELD_ERRORS
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import transaction
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import serializers, viewsets
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.views import APIView

from . import audit
from .api_auth import scopes_summary
from .models import Filter, Instrument, Site, Telescope
from .parameters import ParameterInvalid
from .tables import DOWNLOAD_FORMATS, DOWNLOAD_ROWS_MAX, download_format


class TenantRelatedField(serializers.PrimaryKeyRelatedField):
    """A foreign key that can only point at rows of the request's tenant."""

    def get_queryset(self):
        return super().get_queryset().filter(tenant=self.context["request"].tenant)


class SparseFields:
    """A serializer whose answer to a GET a client may narrow to the fields it names
    (``?fields=id,name,ra_deg``): a partner listing thousands of frames or alerts without what it
    does not read. A field the resource does not have is a 400 naming those it has."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        request = self.context.get("request")
        if request is None or request.method != "GET" or "fields" not in request.query_params:
            return
        wanted = request.query_params["fields"].split(",")
        readable = [name for name, field in self.fields.items() if not field.write_only]
        unknown = [repr(name) for name in wanted if name not in readable]
        if unknown:
            said = f"name some of {', '.join(readable)}, separated by commas; not {', '.join(unknown)}"
            raise ParameterInvalid("fields", said)
        for name in set(readable) - set(wanted):
            self.fields.pop(name)


def sparse_fields_parameter(serializer_class):
    """The ``fields`` parameter of a SparseFields serializer's reads, its names in the pattern."""
    names = [name for name, field in serializer_class().fields.items() if not field.write_only]
    one = "|".join(names)
    return OpenApiParameter("fields", str, pattern=f"^({one})(,({one}))*$",
                            description="only these fields in each row, separated by commas (the answer then holds "
                                        f"only them): {', '.join(names)}")  # fmt: skip


class TenantModelSerializer(serializers.ModelSerializer):
    """Checks the model's own constraints (uniqueness per tenant, ``clean``) before saving.

    Those constraints include the tenant, which is not a serializer field, so DRF cannot
    check them itself; without this a duplicate would surface as a database error.
    """

    serializer_related_field = TenantRelatedField

    def validate(self, attrs):
        attrs = super().validate(attrs)
        model = self.Meta.model
        instance = self.instance or model()
        for field, value in attrs.items():
            setattr(instance, field, value)
        instance.tenant = self.context["request"].tenant
        try:
            instance.clean()
            instance.validate_constraints()
        except DjangoValidationError as error:
            errors = serializers.as_serializer_error(error)
            if NON_FIELD_ERRORS in errors:
                errors[api_settings.NON_FIELD_ERRORS_KEY] = errors.pop(NON_FIELD_ERRORS)
            raise serializers.ValidationError(errors) from error
        return attrs


class SiteSerializer(TenantModelSerializer):
    class Meta:
        model = Site
        fields = [
            "id",
            "code",
            "name",
            "latitude_deg",
            "longitude_deg",
            "height_m",
            "time_zone",
            "horizon_limit_deg",
            "description",
        ]


class TelescopeSerializer(TenantModelSerializer):
    class Meta:
        model = Telescope
        fields = ["id", "site", "code", "name", "aperture_m", "field_of_view_arcmin", "pixel_scale_arcsec", "active"]


class InstrumentSerializer(TenantModelSerializer):
    class Meta:
        model = Instrument
        fields = ["id", "telescope", "code", "name", "kind", "detector_width_px", "detector_height_px"]


class FilterSerializer(TenantModelSerializer):
    class Meta:
        model = Filter
        fields = ["id", "instrument", "name", "system", "central_wavelength_nm", "bandwidth_nm"]


class TenantModelViewSet(viewsets.ModelViewSet):
    """CRUD over one tenant model; rows of other tenants are simply not there (404)."""

    def get_queryset(self):
        return self.serializer_class.Meta.model.objects.filter(tenant=self.request.tenant)

    def perform_create(self, serializer):
        serializer.save(tenant=self.request.tenant)


class FacilityViewSet(TenantModelViewSet):
    """Sites and their equipment: the pages let only admins change them (in the admin). Each
    change is in the audit log, with the key it came with."""

    permission_action = "sites.change"

    @transaction.atomic
    def perform_create(self, serializer):
        super().perform_create(serializer)
        audit.record_edit(serializer.instance, None, audit.origin(self.request))

    @transaction.atomic
    def perform_update(self, serializer):
        before = audit.stored(serializer.instance)  # validation already set the new values on the instance
        serializer.save()
        audit.record_edit(serializer.instance, before, audit.origin(self.request))

    @transaction.atomic
    def perform_destroy(self, instance):
        audit.record_edit(instance, None, audit.origin(self.request), deleted=True)
        instance.delete()


@extend_schema_view(create=extend_schema(examples=[OpenApiExample("Cerro Tololo", request_only=True, value={
    "code": "lsc", "name": "Cerro Tololo", "latitude_deg": -30.1675, "longitude_deg": -70.8048, "height_m": 2198,
    "time_zone": "America/Santiago", "horizon_limit_deg": 15})]))  # fmt: skip
class SiteViewSet(FacilityViewSet):
    serializer_class = SiteSerializer
    ordering_fields = ["code", "name", "latitude_deg", "longitude_deg"]


@extend_schema_view(create=extend_schema(examples=[OpenApiExample("A 1 m telescope", request_only=True, value={
    "site": 1, "code": "1m0a", "name": "Tololo 1.0 m", "aperture_m": 1.0, "field_of_view_arcmin": 26.5,
    "pixel_scale_arcsec": 0.389, "active": True})]))  # fmt: skip
class TelescopeViewSet(FacilityViewSet):
    serializer_class = TelescopeSerializer
    ordering_fields = ["code", "name", "aperture_m"]


@extend_schema_view(create=extend_schema(examples=[OpenApiExample("Its camera", request_only=True, value={
    "telescope": 1, "code": "fa03", "name": "Sinistro", "kind": "imager", "detector_width_px": 4096,
    "detector_height_px": 4096})]))  # fmt: skip
class InstrumentViewSet(FacilityViewSet):
    serializer_class = InstrumentSerializer
    ordering_fields = ["code", "name"]


@extend_schema_view(create=extend_schema(examples=[OpenApiExample("SDSS r'", request_only=True, value={
    "instrument": 1, "name": "rp", "system": "SDSS", "central_wavelength_nm": 623, "bandwidth_nm": 138})]))  # fmt: skip
class FilterViewSet(FacilityViewSet):
    serializer_class = FilterSerializer
    ordering_fields = ["name", "central_wavelength_nm"]


class WhoAmI(APIView):
    """Which tenant, role and scopes this key gives, and its own rate limit: the first call a
    partner's client makes, open to every key whatever its scopes."""

    api_part = None

    @extend_schema(responses=OpenApiTypes.OBJECT, examples=[OpenApiExample("A partner's alert key", value={
        "tenant": {"slug": "demo", "name": "Arrayscope Demo Network"}, "key": "broker relay", "role": "partner",
        "scope": "read", "app_scopes": {"alerts": "write"}, "scopes": "read and write in alerts, read only elsewhere",
        "rate": "600/min"})])  # fmt: skip
    def get(self, request):
        key = request.auth
        return Response({"tenant": {"slug": key.tenant.slug, "name": key.tenant.name}, "key": key.name,
                         "role": key.owner_role, "scope": key.scope, "app_scopes": key.app_scopes,
                         "scopes": scopes_summary(key), "rate": key.rate or None})  # fmt: skip


class DownloadableList:
    """A list a client may also take whole, as a VOTable or CSV file (``?download=votable``):
    every row its filters match, not one page (portal.tables); the view says how its rows
    are written (``download``)."""

    def list(self, request, *args, **kwargs):
        fmt = download_format(request.query_params)
        if fmt is None:
            return super().list(request, *args, **kwargs)
        return self.download(self.filter_queryset(self.get_queryset()), fmt)


def downloadable(serializer, **schema):
    """``extend_schema`` of a DownloadableList's list: the ``download`` parameter, and its
    answer as one of the file types beside the page of JSON."""
    return extend_schema(
        parameters=[*schema.pop("parameters", []), DOWNLOAD_PARAMETER],
        responses={(200, "application/json"): serializer(many=True), **DOWNLOAD_RESPONSES}, **schema)  # fmt: skip


DOWNLOAD_RESPONSES = {(200, content_type.split(";")[0]): OpenApiResponse(OpenApiTypes.STR, description=f"a {fmt} file")
                      for fmt, (content_type, _) in DOWNLOAD_FORMATS.items()}  # fmt: skip
DOWNLOAD_PARAMETER = OpenApiParameter(
    "download", str, enum=list(DOWNLOAD_FORMATS),
    description="every matching row as one file instead of a page of JSON: an IVOA VOTable (TOPCAT, pyvo, "
    f"astropy) or CSV; at most {DOWNLOAD_ROWS_MAX:,} rows")  # fmt: skip
