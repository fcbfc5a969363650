from django.http import Http404
from django.shortcuts import render

from . import selectors


def home(request):
    sections = selectors.home_sections(viewer=request.user)
    return render(request, "rooms/home.html", {"sections": sections})


def _todo(request, *args, **kwargs):
    raise Http404


room_create = search = topic = room_detail = room_edit = room_start = room_end = room_cancel = _todo
