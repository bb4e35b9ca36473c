import json

from django import forms

from observations.sky import FRAMES

from .models import Project
from .workflows import WorkflowInvalid, check_tree


class ProjectForm(forms.ModelForm):
    tree = forms.CharField(
        required=False, widget=forms.Textarea(attrs={"rows": 8, "spellcheck": "false"}), label="Workflow (JSON)",
        help_text='Leave empty for the Galaxy Zoo DECaLS tree, or give your own: {"first": …, "questions": {…}}.',
    )  # fmt: skip

    class Meta:
        model = Project
        fields = ["name", "slug", "description", "visibility", "retirement_limit", "consensus_fraction",
                  "consensus_min_votes", "gold_rate", "uncertainty_weight"]  # fmt: skip

    def clean_tree(self):
        return parse_tree(self.cleaned_data["tree"]) if self.cleaned_data["tree"].strip() else None


class ProjectSettingsForm(forms.ModelForm):
    """What may change once volunteers are at work (the slug, in their links, may not)."""

    class Meta:
        model = Project
        fields = ["name", "description", "visibility", "retirement_limit", "consensus_fraction",
                  "consensus_min_votes", "gold_rate", "uncertainty_weight"]  # fmt: skip


class WorkflowForm(forms.Form):
    tree = forms.CharField(widget=forms.Textarea(attrs={"rows": 16, "spellcheck": "false"}), label="Tree (JSON)")
    note = forms.CharField(max_length=200, required=False, help_text="What changed, for the version list.")

    def clean_tree(self):
        return parse_tree(self.cleaned_data["tree"])


class SubjectSetForm(forms.Form):
    """Which of the tenant's target images join the project: the criteria given narrow each other."""

    targets = forms.CharField(required=False, help_text="Target names, comma separated.")
    position = forms.CharField(required=False, help_text="Centre of a cone, e.g. 13h29m52.7s +47d11m43s")
    radius = forms.CharField(required=False, initial="30 arcmin")
    frame = forms.ChoiceField(choices=[(name, name) for name in FRAMES], required=False)
    tag = forms.CharField(required=False, help_text="Targets carrying this tag.")
    least_sure = forms.IntegerField(required=False, min_value=1, max_value=100_000,
                                    help_text="Keep only the N galaxies the production models doubt most.")  # fmt: skip

    def clean_targets(self):
        return [name.strip() for name in self.cleaned_data["targets"].split(",") if name.strip()]


def parse_tree(text):
    if len(text) > 64 * 1024:
        raise forms.ValidationError("the tree is over 64 KiB")
    try:
        return check_tree(json.loads(text))
    except json.JSONDecodeError as error:
        raise forms.ValidationError(f"not JSON: {error}") from None
    except WorkflowInvalid as error:
        raise forms.ValidationError(str(error)) from None


class ExportTrainingForm(forms.Form):
    """Which export the project's vote model learns from next, for how many epochs at most."""

    number = forms.IntegerField(min_value=1, label="export")
    epochs = forms.IntegerField(min_value=1, max_value=200, initial=15, help_text="at most; training stops early")
