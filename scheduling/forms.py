from django import forms
from django.contrib.auth import get_user_model

from observations.services import target_named

from .models import RequestGroup, Semester
from .proposals import ConfigurationSpec, RequestSpec
from .visibility import Constraints


class SemesterForm(forms.ModelForm):
    class Meta:
        model = Semester
        fields = ["code", "start", "end"]
        widgets = {"start": forms.DateInput(attrs={"type": "date"}), "end": forms.DateInput(attrs={"type": "date"})}


class ProposalForm(forms.Form):
    """A draft proposal: one hours field per telescope class the observatory has."""

    semester = forms.ModelChoiceField(queryset=Semester.objects.none())
    title = forms.CharField(max_length=200)
    abstract = forms.CharField(widget=forms.Textarea(attrs={"rows": 4}), required=False)
    science_case = forms.CharField(widget=forms.Textarea(attrs={"rows": 8}), required=False)
    co_investigators = forms.ModelMultipleChoiceField(queryset=get_user_model().objects.none(), required=False)

    def __init__(self, *args, tenant, classes, members, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["semester"].queryset = Semester.objects.filter(tenant=tenant)
        self.fields["co_investigators"].queryset = members
        for name in classes:
            self.fields[f"hours_{name}"] = forms.FloatField(min_value=0, required=False, label=f"Hours on {name}")

    def hours(self):
        return {name.removeprefix("hours_"): value for name, value in self.cleaned_data.items()
                if name.startswith("hours_") and value}  # fmt: skip


class ReviewForm(forms.Form):
    grade = forms.FloatField(min_value=0, max_value=5, required=False, help_text="0 (best) to 5")
    rank = forms.IntegerField(min_value=1, required=False)


class DecisionForm(forms.Form):
    """Approve with the hours granted per class (and of them, those follow-ups may take), or reject."""

    approve = forms.TypedChoiceField(choices=[("1", "Approve"), ("0", "Reject")], coerce=lambda v: v == "1")

    def __init__(self, *args, allocations, **kwargs):
        super().__init__(*args, **kwargs)
        for allocation in allocations:
            name = allocation.telescope_class
            self.fields[f"granted_{name}"] = forms.FloatField(min_value=0, initial=allocation.hours_requested,
                                                              label=f"Hours granted on {name}")  # fmt: skip
            self.fields[f"rapid_{name}"] = forms.FloatField(min_value=0, initial=0, required=False,
                                                            label=f"of which rapid response on {name}")  # fmt: skip

    def granted(self):
        data = self.cleaned_data
        return {name.removeprefix("granted_"): (value, data.get(f"rapid_{name.removeprefix('granted_')}") or 0.0)
                for name, value in data.items() if name.startswith("granted_")}  # fmt: skip


class RequestGroupForm(forms.Form):
    name = forms.CharField(max_length=200)
    priority = forms.IntegerField(min_value=1, max_value=100, initial=10, help_text="1 to 100; higher goes first")
    observation_type = forms.ChoiceField(choices=RequestGroup.ObservationType.choices,
                                         initial=RequestGroup.ObservationType.NORMAL,
                                         help_text="Rapid response: queued first, as early as it fits, on the "
                                                   "proposal's rapid-response hours")  # fmt: skip


class RequestForm(forms.Form):
    """One request of a group as an astronomer writes it: a target of the observatory (by name
    or alias), a telescope class and instrument, up to ``CONFIGURATIONS`` filter/exposure
    lines, a window (UTC) with an optional cadence, and the constraints, LCO's defaults filled in.
    ``instruments`` and ``filters`` are grouped choices: by telescope class, by instrument."""

    CONFIGURATIONS = 3

    target = forms.CharField(max_length=100, help_text="Name or alias of one of the observatory's targets")
    telescope_class = forms.ChoiceField()
    instrument = forms.ChoiceField()
    window_start = forms.DateTimeField(label="Window opens (UTC)",
                                       widget=forms.DateTimeInput(attrs={"type": "datetime-local"}))  # fmt: skip
    window_end = forms.DateTimeField(label="Window closes (UTC)",
                                     widget=forms.DateTimeInput(attrs={"type": "datetime-local"}))  # fmt: skip
    cadence_hours = forms.FloatField(min_value=0.1, required=False, label="Every (hours)",
                                     help_text="Blank: one visit in the window; else one per period")  # fmt: skip
    jitter_hours = forms.FloatField(min_value=0, initial=2.0, label="Each visit's window (hours)")
    max_airmass = forms.FloatField(min_value=1, max_value=10, initial=1.6)
    min_lunar_distance_deg = forms.FloatField(min_value=0, max_value=180, initial=30, label="Min lunar distance (°)")
    max_lunar_illumination = forms.FloatField(min_value=0, max_value=1, initial=1.0,
                                              help_text="Fraction of the disc lit; 1 accepts any Moon")  # fmt: skip
    max_seeing_arcsec = forms.FloatField(min_value=0.1, required=False, label="Max seeing (″)")

    def __init__(self, *args, tenant, classes, instruments, filters, **kwargs):
        super().__init__(*args, **kwargs)
        self.tenant = tenant
        self.fields["telescope_class"].choices = [(name, name) for name in classes]
        self.fields["instrument"].choices = instruments  # grouped by telescope class
        for number in range(1, self.CONFIGURATIONS + 1):
            first = number == 1
            self.fields[f"filter_{number}"] = forms.ChoiceField(
                choices=([] if first else [("", "—")]) + filters, required=first,  # grouped by instrument
                label=f"Filter {number}")  # fmt: skip
            self.fields[f"exposure_{number}"] = forms.FloatField(min_value=0.001, required=first,
                                                                 label=f"Exposure {number} (s)")  # fmt: skip
            self.fields[f"count_{number}"] = forms.IntegerField(min_value=1, initial=1, required=first,
                                                                label=f"Exposures {number}")  # fmt: skip
        lines = [f"{name}_{number}" for number in range(1, self.CONFIGURATIONS + 1)
                 for name in ("filter", "exposure", "count")]  # fmt: skip
        self.order_fields(["target", "telescope_class", "instrument", *lines])  # what to take, then when and how
        # A browser sends a list's first choice for a request left blank: it is the blank one's.
        for name in ("telescope_class", "instrument", "filter_1"):
            self.fields[name].initial = _first_choice(self.fields[name].choices)

    def clean_target(self):
        target = target_named(self.tenant, self.cleaned_data["target"])
        if target is None:
            raise forms.ValidationError("No target of that name or alias in this observatory; add it on the "
                                        "Targets page first.")  # fmt: skip
        return target

    def clean(self):
        data = super().clean()
        for number in range(2, self.CONFIGURATIONS + 1):
            if data.get(f"filter_{number}") and not data.get(f"exposure_{number}"):
                self.add_error(f"exposure_{number}", "An exposure time for this filter.")
        return data

    def spec(self):
        data = self.cleaned_data
        configurations = [ConfigurationSpec(data["instrument"], data[f"filter_{number}"], data[f"exposure_{number}"],
                                            data.get(f"count_{number}") or 1)
                          for number in range(1, self.CONFIGURATIONS + 1) if data.get(f"filter_{number}")]  # fmt: skip
        constraints = Constraints(data["max_airmass"], data["min_lunar_distance_deg"], data["max_lunar_illumination"])
        return RequestSpec(target_id=data["target"].pk, telescope_class=data["telescope_class"],
                           configurations=configurations, windows=[(data["window_start"], data["window_end"])],
                           constraints=constraints, cadence_hours=data["cadence_hours"],
                           jitter_hours=data["jitter_hours"], max_seeing_arcsec=data["max_seeing_arcsec"])  # fmt: skip

    def show_refusal(self, field_path, message):
        """Put the scheduler's refusal on the field it names (``configurations[2].filter_name``…)."""
        field, number = field_path.rsplit(".", 1)[-1], None
        if "configurations[" in field_path:
            number = field_path.split("configurations[", 1)[1].split("]", 1)[0]
        name = REFUSED_FIELDS.get(field, field)
        if number is not None and name in ("filter", "exposure", "count"):
            name = f"{name}_{number}"
        self.add_error(name if name in self.fields else None, message)


def _first_choice(choices):
    """The value a browser selects by default in a list of (possibly grouped) choices."""
    for value, label in choices:
        if not isinstance(label, (list, tuple)):
            return value
        if label:
            return label[0][0]
    return ""


# The scheduler's names for what it refuses, as the request form names its fields.
REFUSED_FIELDS = {"windows": "window_start", "filter_name": "filter", "exposure_s": "exposure",
                  "exposure_count": "count", "configurations": "filter_1"}  # fmt: skip


RequestFormSet = forms.formset_factory(RequestForm, extra=2, min_num=1, validate_min=True, max_num=20,
                                       validate_max=True)  # fmt: skip
