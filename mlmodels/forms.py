from django import forms


class TrainingForm(forms.Form):
    """How a new version is trained: on how many examples, for how many epochs, and — for a
    task whose examples are stored sets (volunteers' vote exports) — on which set."""

    dataset = forms.TypedChoiceField(coerce=int, label="Learn from")
    examples = forms.IntegerField(
        min_value=120, max_value=100_000, initial=3000, help_text="split 70/15/15: training, validation, test"
    )
    epochs = forms.IntegerField(min_value=1, max_value=200, initial=15, help_text="at most; training stops early")

    def __init__(self, data=None, *, source, tenant):
        super().__init__(data)
        if source is not None and source.stored:
            self.fields["dataset"].choices = list(source.datasets(tenant))
            self.fields["examples"].help_text = "at most this many of the set's galaxies, split 70/15/15"
        else:
            del self.fields["dataset"]


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
