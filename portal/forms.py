import hashlib
import math

from django import forms
from django.conf import settings
from django.contrib.auth.forms import AuthenticationForm

from . import throttling
from .api_auth import api_parts
from .models.audit import Action
from .models.tenancy import RATE_FORMAT, ApiKeyScope, Role


class ApiKeyForm(forms.Form):
    """A new key: what it may do in every part of the API, then in each part where that differs
    (a broker relay that writes alerts and reads nothing else). Writing needs a role that may
    issue read-write keys."""

    name = forms.CharField(max_length=100, help_text="What the key is for, e.g. 'pipeline at partner X'.")
    scope = forms.ChoiceField(choices=ApiKeyScope.choices, initial=ApiKeyScope.READ, label="Every part of the API")

    def __init__(self, *args, may_write, **kwargs):
        super().__init__(*args, **kwargs)
        self.may_write = may_write
        for label, holds in api_parts().items():
            self.fields[f"scope_{label}"] = forms.ChoiceField(
                choices=[("", "as above"), *ApiKeyScope.choices], required=False, label=holds.split(":")[0],
                help_text=holds.partition(": ")[2] or None)  # fmt: skip

    def part_fields(self):
        return [self[name] for name in self.fields if name.startswith("scope_")]

    def clean(self):
        data = super().clean()
        scope = data.get("scope")
        if scope is None:
            return data
        data["app_scopes"] = {name.removeprefix("scope_"): value for name, value in data.items()
                              if name.startswith("scope_") and value and value != scope}  # fmt: skip
        scopes = {scope, *data["app_scopes"].values()}
        if scopes == {ApiKeyScope.NONE}:
            raise forms.ValidationError("This key could use no part of the API: let it read or write somewhere.")
        if ApiKeyScope.WRITE in scopes and not self.may_write:
            raise forms.ValidationError("Only admins and partners can issue keys that write.")
        return data


class ApiKeyRateForm(forms.Form):
    rate = forms.CharField(max_length=20, required=False, validators=[RATE_FORMAT], label="Rate limit",
                           help_text=f"Calls per period, e.g. 10/s or 600/min; empty: the portal's limit for every "
                                     f"key ({settings.API_RATE_PER_KEY}).")  # fmt: skip


class AddMemberForm(forms.Form):
    username = forms.CharField(max_length=150, help_text="An existing user, or a new one to create.")
    email = forms.EmailField(required=False, help_text="For a new user.")
    role = forms.ChoiceField(choices=Role.choices, initial=Role.ASTRONOMER)


class ChangeRoleForm(forms.Form):
    role = forms.ChoiceField(choices=Role.choices)


class AuditFilterForm(forms.Form):
    """The audit page's filters; every one is optional and the dates are UTC days, both included."""

    action = forms.ChoiceField(required=False, label="Change")
    actor = forms.ChoiceField(required=False, label="Person")
    since = forms.DateField(required=False, label="From (UTC)", widget=forms.DateInput(attrs={"type": "date"}))
    until = forms.DateField(required=False, label="To (UTC)", widget=forms.DateInput(attrs={"type": "date"}))

    def __init__(self, *args, actors, **kwargs):
        super().__init__(*args, **kwargs)
        kinds = [(kind, f"any {kind.replace('_', ' ')} change") for kind in Action.kinds()]
        self.fields["action"].choices = [("", "every change"), ("Kinds", kinds), ("Changes", Action.choices)]
        self.fields["actor"].choices = [("", "everyone"), *actors]

    def clean(self):
        data = super().clean()
        if data.get("since") and data.get("until") and data["until"] < data["since"]:
            self.add_error("until", "“To” is before “From”: the range holds no day.")
        return data


class SignInForm(AuthenticationForm):
    """Django's sign-in form, closed for a while to an account or an address that failed too
    often: password guessing gets a handful of tries per quarter hour, not thousands."""

    throttled_for = None  # seconds until the form accepts this account or address again

    def clean(self):
        budgets = [
            ("login-account", _account(self.cleaned_data.get("username", "")), settings.LOGIN_FAILURES_PER_ACCOUNT),
            ("login-address", throttling.client_address(self.request), settings.LOGIN_FAILURES_PER_ADDRESS),
        ]
        try:
            for budget in budgets:
                throttling.check(*budget)
        except throttling.Limited as limited:
            self.throttled_for = limited.retry_after
            raise forms.ValidationError(
                "Too many failed sign-ins for this account or from this address; try again in "
                f"{math.ceil(limited.retry_after / 60)} min.",
                code="throttled",
            ) from limited
        try:
            return super().clean()
        except forms.ValidationError:
            for budget in budgets:
                try:
                    throttling.spend(*budget)
                except throttling.Limited:
                    pass  # the next try is refused; this one already failed
            raise


def _account(username):
    """The cache's name for an account: any username, of any characters, as a fixed-length key."""
    return hashlib.sha256(username.strip().lower().encode()).hexdigest()[:32]
