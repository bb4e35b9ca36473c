from django import forms
from django.contrib.auth import get_user_model

from .models import Semester


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
