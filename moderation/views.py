from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _

from accounts.models import User
from recordings.models import Clip, Recording
from spaces_project.refusals import into_form

from . import selectors, services
from .forms import ReportForm


def _target_url(target) -> str:
    if isinstance(target, User):
        return reverse("accounts:profile", args=[target.handle])
    if isinstance(target, Clip):
        return reverse("clips:detail", args=[target.pk])
    if isinstance(target, Recording):
        # The replay is shown on its room's page once the room has ended.
        return reverse("rooms:detail", args=[target.room_id])
    return reverse("rooms:detail", args=[target.pk])


@login_required
def report_create(request, target_type, target_id):
    target = selectors.report_target_for_viewer(
        target_type=target_type, target_id=target_id, viewer=request.user
    )
    form = ReportForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        report = into_form(
            form,
            lambda: services.report_create(
                reporter=request.user,
                target_type=target_type,
                target_id=target_id,
                reason=form.cleaned_data["reason"],
                note=form.cleaned_data["note"],
            ),
        )
        if report is not None:
            messages.success(request, _("Thanks, our moderators will look at it."))
            return redirect(_target_url(target))
    return render(
        request,
        "moderation/report_form.html",
        {"form": form, "target": target, "target_type": target_type, "back_url": _target_url(target)},
    )
