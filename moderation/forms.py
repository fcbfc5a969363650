from django import forms

from .models import MAX_NOTE_LENGTH, Report


class ReportForm(forms.Form):
    reason = forms.ChoiceField(
        label="What is wrong?", choices=Report.Reason.choices, widget=forms.RadioSelect
    )
    note = forms.CharField(
        label="Anything our moderators should know? (optional)",
        required=False,
        max_length=MAX_NOTE_LENGTH,
        widget=forms.Textarea(attrs={"rows": 4}),
    )
