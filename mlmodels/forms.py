from django import forms
from django.conf import settings

from .generation import DEFAULT_GUIDANCE, DEFAULT_STEPS
from .models import FrameRepair
from .training_sets import FOCUS_SHARE


class TrainingForm(forms.Form):
    """How a new version is trained: on how many examples, for how many epochs, and — for a
    task whose examples are stored sets (volunteers' vote exports) — on which set; a generator
    of several classes, for one of them."""

    dataset = forms.TypedChoiceField(coerce=int, label="Learn from")
    examples = forms.IntegerField(
        min_value=120, max_value=100_000, initial=3000, help_text="split 70/15/15: training, validation, test"
    )
    epochs = forms.IntegerField(min_value=1, max_value=200, initial=15, help_text="at most; training stops early")
    focus = forms.ChoiceField(required=False, label="Trained for",
                              help_text=f"a class drawn in {FOCUS_SHARE:.0%} of the examples: the rare one you will "
                                        f"ask it for")  # fmt: skip

    def __init__(self, data=None, *, source, tenant):
        super().__init__(data)
        if source is not None and source.stored:
            self.fields["dataset"].choices = list(source.datasets(tenant))
            self.fields["examples"].help_text = "at most this many of the set's galaxies, split 70/15/15"
        else:
            del self.fields["dataset"]
        if source is not None and source.focusable:
            self.fields["focus"].choices = [("", "every class alike"),
                                            *((name, name.replace("_", " ")) for name in source.classes)]  # fmt: skip
        else:
            del self.fields["focus"]


class SimilarityForm(forms.Form):
    """What "galaxies like this one" is asked: with which model, how many, narrowed how."""

    version = forms.TypedChoiceField(coerce=int, label="Model")
    k = forms.IntegerField(min_value=1, max_value=100, initial=12, label="How many")
    label = forms.ChoiceField(required=False, label="Class")
    site = forms.TypedChoiceField(coerce=int, required=False, empty_value=None, label="Site")
    scope = forms.ChoiceField(label="From")

    def __init__(self, data, *, versions, sites, scopes):
        super().__init__(data)
        self.fields["version"].choices = [(v.pk, f"{v.model.name} v{v.number}") for v in versions]
        names = sorted({name for version in versions for name in version.model.class_names})
        self.fields["label"].choices = [("", "any class"), *((name, name.replace("_", " ")) for name in names)]
        self.fields["site"].choices = [("", "any site"), *((site.pk, f"{site.code} · {site.name}") for site in sites)]
        self.fields["scope"].choices = list(scopes.items())

    def search_arguments(self, versions):
        """(version, keyword arguments for similarity.search): the form's, or the defaults."""
        chosen = self.cleaned_data if self.is_bound and self.is_valid() else {}
        version = next((v for v in versions if v.pk == chosen.get("version")), versions[0])
        return version, {"k": chosen.get("k") or self.fields["k"].initial, "label": chosen.get("label") or None,
                         "site": chosen.get("site"), "scope": chosen.get("scope") or "all"}  # fmt: skip


class HubPullForm(forms.Form):
    repo_id = forms.CharField(max_length=200, label="Hub repo", help_text="owner/name on the Hugging Face hub")
    revision = forms.CharField(max_length=100, initial="main", help_text="branch, tag or commit")


class HubPushForm(forms.Form):
    repo_id = forms.CharField(max_length=200, label="Hub repo", help_text="owner/name; created if it is not there")
    private = forms.BooleanField(required=False, initial=True, help_text="a new repo is private unless unticked")


class GenerationForm(forms.Form):
    """What a generative version is asked for: how many galaxies of which class, sampled how."""

    class_name = forms.ChoiceField(label="Class")
    count = forms.IntegerField(min_value=1, initial=64, label="How many")
    steps = forms.IntegerField(min_value=2, max_value=1000, initial=DEFAULT_STEPS, label="DDIM steps",
                               help_text="more: truer galaxies, slower")  # fmt: skip
    guidance = forms.FloatField(min_value=0, max_value=10, initial=DEFAULT_GUIDANCE, label="Guidance",
                                help_text="where a galaxy's layout is decided; 1: the class alone")  # fmt: skip
    seed = forms.IntegerField(min_value=0, max_value=2**31 - 1, required=False, help_text="blank: a new one")

    def __init__(self, data=None, *, version):
        super().__init__(data)
        self.fields["count"].help_text = f"at most {settings.GENERATION_MAX_IMAGES} at once"
        classes = version.config.get("label_names") or version.model.class_names
        self.fields["class_name"].choices = [(name, name.replace("_", " ")) for name in classes]


class ExperimentForm(forms.Form):
    """How the two versions of an augmentation experiment train: the same for both."""

    epochs = forms.IntegerField(min_value=1, max_value=50, initial=10, help_text="each version; both stop early alike")
    seed = forms.IntegerField(min_value=0, max_value=2**31 - 1, initial=0,
                              help_text="the split and the weights' start, shared by both")  # fmt: skip


class RepairForm(forms.Form):
    """How a frame is repaired: where its mask comes from (the drawn shapes arrive as JSON from the
    page's drawing, or an API client), and how hard the sampler works."""

    mask_source = forms.ChoiceField(choices=FrameRepair.MaskSource.choices, initial=FrameRepair.MaskSource.FLAGS,
                                    widget=forms.RadioSelect, label="Mask")  # fmt: skip
    shapes = forms.JSONField(required=False, widget=forms.HiddenInput, initial=dict)
    steps = forms.IntegerField(min_value=2, max_value=250, initial=25, help_text="denoising steps; more: slower")
    resample = forms.IntegerField(min_value=1, max_value=20, initial=4, label="Resampling",
                                  help_text="rounds a step, so the fill agrees with its surroundings")  # fmt: skip
    samples = forms.IntegerField(min_value=1, max_value=16, initial=4,
                                 help_text="fills averaged; their spread is each pixel's uncertainty")  # fmt: skip
    seed = forms.IntegerField(min_value=0, max_value=2**31 - 1, required=False, help_text="blank: a new one")

    def clean_shapes(self):
        shapes = self.cleaned_data.get("shapes") or {}
        if not isinstance(shapes, dict):
            raise forms.ValidationError('a drawn mask is {"lines": [...], "boxes": [...]}')
        return shapes
