"""What the pages of replays, clips and the podcast share."""

from django.conf import settings
from django.http import HttpRequest
from django.urls import reverse

REFUSED_PAGE = "recordings/refused.html"


def absolute_url(path: str) -> str:
    """`path` as a link that works outside the site (cards, feeds, podcast apps)."""
    return settings.SITE_URL + path


def back_to_replay(request: HttpRequest, pk: int) -> str:
    return reverse("recordings:detail", args=[pk])
