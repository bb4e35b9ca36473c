"""The alert filter form: the structured conditions of alerts.filters as an astronomer fills
them in (a position typed as they type it, targets by name), checked by the same rules as the
API, so a filter that could never match is refused here too."""

from astropy import units as u
from django import forms

from observations.models import Target
from observations.sky import PositionError, parse_position, parse_radius

from .features import ALERT_CLASSES, CLASS_NAMES
from .filters import BANDS, FilterInvalid, clean_conditions
from .models import AlertFilter, validate_filter_name


class AlertFilterForm(forms.ModelForm):
    min_real_bogus = forms.FloatField(required=False, min_value=0, max_value=1, label="Real-bogus at least",
                                      help_text="P(real) from the real-bogus model, 0–1; e.g. 0.8")  # fmt: skip
    classes = forms.MultipleChoiceField(required=False, choices=[(kind, CLASS_NAMES[kind]) for kind in ALERT_CLASSES],
                                        widget=forms.CheckboxSelectMultiple, label="Class is one of")  # fmt: skip
    min_class_probability = forms.FloatField(required=False, min_value=0, max_value=1,
                                             label="… with probability at least")  # fmt: skip
    brighter_than = forms.FloatField(required=False, label="Brighter than (mag)")
    fainter_than = forms.FloatField(required=False, label="Fainter than (mag)")
    bands = forms.MultipleChoiceField(required=False, choices=[(band, band) for band in BANDS],
                                      widget=forms.CheckboxSelectMultiple)  # fmt: skip
    cone_centre = forms.CharField(required=False, label="Within a circle around",
                                  help_text="ICRS, e.g. 13:29:52.7 +47:11:43 or 202.47 47.19")  # fmt: skip
    cone_radius = forms.CharField(required=False, label="… of radius", help_text="e.g. 5 deg, 30 arcmin")
    target_names = forms.CharField(required=False, label="On these targets",
                                   help_text="Target names, separated by commas (a target list)")  # fmt: skip
    max_age_days = forms.FloatField(required=False, min_value=0, label="First detected at most (days) before",
                                    help_text="Young transients: days since the object's first detection")  # fmt: skip
    observed_after = forms.DateTimeField(required=False, label="Observed from (UTC)",
                                         help_text="e.g. 2026-12-01 20:00")  # fmt: skip
    observed_before = forms.DateTimeField(required=False, label="Observed until (UTC)")
    webhook_url = forms.URLField(required=False, max_length=500, assume_scheme="https", label="Webhook URL",
                                 help_text="Matches are also POSTed here, signed with the filter's secret")  # fmt: skip
    known_targets_only = forms.BooleanField(required=False, label="Only on targets we already had",
                                            help_text="Not on transients that alerts themselves created")  # fmt: skip

    class Meta:
        model = AlertFilter
        fields = ["name", "enabled", "webhook_url", "auto_follow_up"]
        labels = {"auto_follow_up": "Ask for follow-up of every match"}

    def __init__(self, *args, tenant, **kwargs):
        super().__init__(*args, **kwargs)
        self.tenant = tenant
        conditions = self.instance.conditions or {}
        for name in ("min_real_bogus", "classes", "min_class_probability", "brighter_than", "fainter_than", "bands",
                     "known_targets_only", "max_age_days", "observed_after", "observed_before"):  # fmt: skip
            self.initial.setdefault(name, conditions.get(name))
        if "cone" in conditions:
            cone = conditions["cone"]
            self.initial["cone_centre"] = f"{cone['ra_deg']:.5f} {cone['dec_deg']:+.5f}"
            self.initial["cone_radius"] = f"{cone['radius_deg']:g} deg"
        if "targets" in conditions:
            names = Target.objects.filter(tenant=tenant, pk__in=conditions["targets"]).values_list("name", flat=True)
            self.initial["target_names"] = ", ".join(sorted(names))
        self.order_fields(["name", "min_real_bogus", "classes", "min_class_probability", "brighter_than",
                           "fainter_than", "bands", "cone_centre", "cone_radius", "target_names",
                           "known_targets_only", "max_age_days", "observed_after", "observed_before", "enabled",
                           "webhook_url", "auto_follow_up"])  # fmt: skip

    def clean_name(self):
        name = self.cleaned_data["name"]
        validate_filter_name(self.tenant, self.instance.user, name, excluding=self.instance.pk,
                             message="You already have a filter with this name.")  # fmt: skip
        return name

    def clean(self):
        data = super().clean()
        numbers = ("min_real_bogus", "min_class_probability", "brighter_than", "fainter_than", "max_age_days")
        conditions = {name: data[name] for name in numbers if data.get(name) is not None}
        for name in ("observed_after", "observed_before"):
            if data.get(name):
                conditions[name] = data[name].isoformat()
        for name in ("classes", "bands"):
            if data.get(name):
                conditions[name] = list(data[name])
        if data.get("known_targets_only"):
            conditions["known_targets_only"] = True
        if data.get("cone_centre") or data.get("cone_radius"):
            conditions["cone"] = self._cone(data.get("cone_centre", ""), data.get("cone_radius", ""))
        if data.get("target_names"):
            conditions["targets"] = self._targets(data["target_names"])
        try:
            self.instance.conditions = clean_conditions(conditions)
        except FilterInvalid as error:
            raise forms.ValidationError(str(error)) from error
        return data

    def _cone(self, centre, radius):
        if not centre or not radius:
            raise forms.ValidationError("A circle needs both a centre and a radius.")
        try:
            position, angle = parse_position(centre), parse_radius(radius, default_unit=u.deg)
        except PositionError as error:
            field = "cone_centre" if error.field == "position" else "cone_radius"
            raise forms.ValidationError({field: error.message}) from error
        return {"ra_deg": position.ra.deg, "dec_deg": position.dec.deg, "radius_deg": angle.deg}

    def _targets(self, text):
        names = [name.strip() for name in text.split(",") if name.strip()]
        found = dict(Target.objects.filter(tenant=self.tenant, name__in=names).values_list("name", "pk"))
        missing = [name for name in names if name not in found]
        if missing:
            raise forms.ValidationError({"target_names": f"no target of this observatory is named {missing[0]!r}"})
        return [found[name] for name in names]
