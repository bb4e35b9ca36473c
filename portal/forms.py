from django import forms

from .models.tenancy import ApiKeyScope, Role


class ApiKeyForm(forms.Form):
    name = forms.CharField(max_length=100, help_text="What the key is for, e.g. 'pipeline at partner X'.")
    scope = forms.ChoiceField(choices=ApiKeyScope.choices, initial=ApiKeyScope.READ)


class AddMemberForm(forms.Form):
    username = forms.CharField(max_length=150, help_text="An existing user, or a new one to create.")
    email = forms.EmailField(required=False, help_text="For a new user.")
    role = forms.ChoiceField(choices=Role.choices, initial=Role.ASTRONOMER)


class ChangeRoleForm(forms.Form):
    role = forms.ChoiceField(choices=Role.choices)
