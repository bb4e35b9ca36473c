from django import forms

from .models import FusedImage, Target, Visibility
from .sky import FRAMES


class TargetFieldsForm(forms.Form):
    """What an astronomer may change about a target after creating it."""

    name = forms.CharField(max_length=100)
    kind = forms.ChoiceField(choices=Target.Kind.choices, initial=Target.Kind.GALAXY)
    aliases = forms.CharField(required=False, help_text="Other names, comma separated.")
    tags = forms.CharField(required=False, help_text="Comma separated.")
    visibility = forms.ChoiceField(choices=Visibility.choices, initial=Visibility.TENANT)

    def clean_aliases(self):
        return [alias.strip() for alias in self.cleaned_data["aliases"].split(",") if alias.strip()]

    def clean_tags(self):
        return [tag.strip() for tag in self.cleaned_data["tags"].split(",") if tag.strip()]

    @classmethod
    def for_target(cls, target, data=None):
        initial = {"name": target.name, "kind": target.kind, "aliases": ", ".join(target.aliases),
                   "tags": ", ".join(target.tags), "visibility": target.visibility}  # fmt: skip
        return cls(data, initial=initial)


class TargetForm(TargetFieldsForm):
    position = forms.CharField(
        required=False,
        help_text="e.g. 10h08m22.3s +12d34m, 10:08:22.3 +12:34:00 or 152.093 12.571; "
        "leave empty to look the name up in SIMBAD, NED and VizieR.",
        widget=forms.TextInput(attrs={"placeholder": "RA Dec"}),
    )
    frame = forms.ChoiceField(choices=[(name, name.upper() if len(name) < 5 else name) for name in FRAMES])
    allow_duplicate = forms.BooleanField(
        required=False, label="Create even if another target is within a few arcseconds"
    )
    field_order = ["name", "position", "frame", "kind", "aliases", "tags", "visibility", "allow_duplicate"]


class ConeSearchForm(forms.Form):
    q = forms.CharField(required=False, label="Name")
    position = forms.CharField(required=False, help_text="Centre of a cone search")
    radius = forms.CharField(required=False, initial="5 arcmin", help_text="e.g. 30 arcsec, 5 arcmin, 1 deg")
    frame = forms.ChoiceField(choices=[(name, name) for name in FRAMES], required=False)
    kind = forms.ChoiceField(choices=[("", "any kind"), *Target.Kind.choices], required=False)


class TargetImportForm(forms.Form):
    file = forms.FileField(help_text="CSV or VOTable with name, ra and dec columns (degrees or sexagesimal).")
    visibility = forms.ChoiceField(choices=Visibility.choices, initial=Visibility.TENANT)


class FrameFilterForm(forms.Form):
    site = forms.ModelChoiceField(queryset=None, required=False, empty_label="any site")
    telescope = forms.ModelChoiceField(queryset=None, required=False, empty_label="any telescope")
    filter_name = forms.CharField(required=False, label="Filter")
    night = forms.DateField(required=False, help_text="YYYY-MM-DD, the date the night began",
                            widget=forms.DateInput(attrs={"type": "date"}))  # fmt: skip
    target = forms.CharField(required=False)
    astrometry = forms.ChoiceField(choices=[("", "any"), ("yes", "with WCS"), ("no", "no astrometry")], required=False)

    def __init__(self, *args, tenant, **kwargs):
        from portal.models import Site, Telescope

        super().__init__(*args, **kwargs)
        self.fields["site"].queryset = Site.objects.filter(tenant=tenant)
        self.fields["telescope"].queryset = Telescope.objects.filter(tenant=tenant).select_related("site")


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    """Several files in one field (Django's documented recipe)."""

    def clean(self, data, initial=None):
        files = data if isinstance(data, (list, tuple)) else [data]
        return [super(MultipleFileField, self).clean(item, initial) for item in files]


class FrameUploadForm(forms.Form):
    files = MultipleFileField(widget=MultipleFileInput(attrs={"multiple": True, "accept": ".fits,.fit,.fz,.gz"}))

    def __init__(self, *args, refusals=(), **kwargs):
        """``refusals``: files the upload stopped at as they arrived (too large), each a form error."""
        super().__init__(*args, **kwargs)
        self.refusals = refusals

    def clean(self):
        for refusal in self.refusals:
            self.add_error("files", refusal)
        return super().clean()


class FusionForm(forms.Form):
    """What an astronomer asks a fused image for; the bands offered are those of the target's frames."""

    band = forms.ChoiceField()
    method = forms.ChoiceField(choices=FusedImage.Method.choices, initial=FusedImage.Method.INTERP)
    size_arcsec = forms.FloatField(label="Field (″)", initial=120, min_value=10, max_value=3600)
    pixel_scale_arcsec = forms.FloatField(label="Pixel scale (″)", required=False, min_value=0.01,
                                          help_text="Empty: the finest frame's.")  # fmt: skip
    first_night = forms.DateField(required=False, help_text="UTC date, YYYY-MM-DD; empty: from the first frame.")
    last_night = forms.DateField(required=False, help_text="Empty: to the last frame.")

    def __init__(self, *args, bands, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["band"].choices = [(band, band) for band in bands]
