from django.http import Http404


def _todo(request, *args, **kwargs):
    raise Http404


profile = followers = following = follow = unfollow = block = unblock = _todo
profile_edit = notifications = notifications_read = _todo
