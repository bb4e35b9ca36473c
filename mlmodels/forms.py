from django import forms


class TrainingForm(forms.Form):
    galaxies = forms.IntegerField(
        min_value=120, max_value=100_000, initial=3000, help_text="split 70/15/15: training, validation, test"
    )
    epochs = forms.IntegerField(min_value=1, max_value=200, initial=15, help_text="at most; training stops early")
