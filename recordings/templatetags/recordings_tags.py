from django import template
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from accounts.templatetags.accounts_tags import avatar
from recordings.selectors import clock as clock_label
from rooms.templatetags.rooms_tags import _url, duration

register = template.Library()


@register.simple_tag
def replay_card(recording) -> SafeString:
    """A replay in a list (home's Replays row, a profile's Replays tab): its room's title and host,
    when it was recorded, its length and plays. `recording` comes from recordings.selectors, with
    its room and host fetched. Built in Python like rooms_tags.room_card, for the same reason."""
    room = recording.room
    host = room.host
    plays = recording.play_count
    recorded = room.started_at or recording.created_at
    return format_html(
        '<article class="card room-card replay-card" data-recording-id="{}">'
        '<div class="room-meta"><span class="pill pill-rec">{}</span>'
        '<span><time datetime="{}" data-local-time>{} UTC</time></span>'
        '<span class="room-count">{} · {}</span></div>'
        '<h3><a class="room-link" href="{}">{}</a></h3>'
        '<p class="room-host">{} <a href="{}">{}</a> <span class="handle">@{}</span></p></article>',
        recording.pk,
        _("REPLAY"),
        recorded.isoformat(),
        # As dateformat's "D j M, H:i", for a fraction of its cost; the page shows local time anyway.
        f"{recorded:%a} {recorded.day} {recorded:%b, %H:%M}",
        duration(recording.duration_ms / 1000),
        ngettext("%(count)s play", "%(count)s plays", plays) % {"count": plays},
        _url("recordings:detail", recording.pk),
        room.title,
        avatar(host, 24),
        _url("accounts:profile", host.handle),
        host.name,
        host.handle,
    )


@register.filter
def clock(ms) -> str:
    """A replay position in ms as a player shows it: 4:05, or 1:02:03 past an hour."""
    return clock_label(int(ms or 0))
