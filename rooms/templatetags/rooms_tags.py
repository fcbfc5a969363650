import functools

from django import template
from django.conf import settings
from django.urls import reverse
from django.utils import dateformat
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString
from django.utils.translation import gettext as _

from accounts.templatetags.accounts_tags import avatar
from rooms.money import format_amount

register = template.Library()


@register.filter
def price(amount, currency: str = "") -> str:
    """An amount in minor units as people read it, in `currency` (the site's CURRENCY by default)."""
    return format_amount(amount, currency or settings.CURRENCY)


@register.filter
def price_input(amount) -> str:
    """An amount in minor units as a form field's value: "12.50"."""
    return "" if amount is None else f"{amount / 100:.2f}"


@register.filter
def duration(seconds) -> str:
    """How long something ran, as a person says it: "less than a minute", "47 min", "1 h 5 min".

    static/js/room/lifecycle.js (durationLabel) says the same for a room that ends while its page is
    open.
    """
    minutes = int(seconds or 0) // 60
    if minutes < 1:
        return _("less than a minute")
    hours, minutes = divmod(minutes, 60)
    if not hours:
        return _("%(minutes)s min") % {"minutes": minutes}
    if minutes:
        return _("%(hours)s h %(minutes)s min") % {"hours": hours, "minutes": minutes}
    return _("%(hours)s h") % {"hours": hours}


@register.simple_tag
def ran_for(room) -> str:
    """How long an ended room ran."""
    if not room.started_at or not room.ended_at:
        return ""
    return duration((room.ended_at - room.started_at).total_seconds())


@functools.lru_cache(maxsize=8192)
def _url(name: str, arg) -> str:
    # The URLconf does not change while the site runs, and cards repeat the same hosts and topics
    # on every page: reversing each once is enough.
    return reverse(name, args=[arg])


@register.simple_tag
def room_card(room, src: str = "", level: int = 3) -> SafeString:
    """A room in a list: state, title, host, topics, listener count. `src` names the list for the
    host's analytics (home, topic, search, profile): the room's link carries it. `level`: its title's
    heading level, one below the list's own heading (2 in a page whose list sits under its h1).

    `room` comes from a rooms.selectors list, so its host, card_topics and participant_count are
    fetched already. Built in Python rather than as an included template: the home page shows
    dozens of cards, and each template include with its URL tags cost about a millisecond.
    """
    if room.state == "live":
        state = format_html('<span class="pill pill-live">{}</span>', _("LIVE"))
    elif room.state == "scheduled":
        state = format_html(
            '<span class="pill pill-muted"><time datetime="{}" data-local-time>{} UTC</time></span>',
            room.scheduled_for.isoformat(),
            dateformat.format(room.scheduled_for, "D j M, H:i"),
        )
    else:
        state = format_html('<span class="pill pill-muted">{}</span>', room.get_state_display())
    recorded = (
        format_html('<span class="pill pill-rec" title="{}">{}</span>', _("This room is recorded"), _("REC"))
        if room.is_recorded
        else ""
    )
    ticketed = (
        format_html(
            '<span class="pill pill-ticket" title="{}">{}</span>',
            _("Ticketed room"),
            _("Ticket %(price)s") % {"price": format_amount(room.ticket_price, settings.CURRENCY)},
        )
        if room.ticket_price is not None
        else ""
    )
    count = (
        format_html(
            '<span class="room-count">{}</span>',
            _("%(count)s in the room") % {"count": getattr(room, "participant_count", 0) or 0},
        )
        if room.state == "live"
        else ""
    )
    topics = ""
    if room.card_topics:
        topics = format_html(
            '<ul class="topics" aria-label="{}">{}</ul>',
            _("Topics"),
            format_html_join(
                "",
                '<li><a class="pill" href="{}">#{}</a></li>',
                ((_url("rooms:topic", t.tag.slug), t.tag.name) for t in room.card_topics),
            ),
        )
    host = room.host
    return format_html(
        '<article class="card room-card{}" data-room-id="{}"><div class="room-meta">{}{}{}{}</div>'
        '<h{}><a class="room-link" href="{}">{}</a></h{}>'
        '<p class="room-host">{} <a href="{}">{}</a> <span class="handle">@{}</span></p>{}</article>',
        " room-card-live" if room.state == "live" else "",
        room.pk,
        state,
        recorded,
        ticketed,
        count,
        level,
        _url("rooms:detail", room.pk) + (f"?src={src}" if src else ""),
        room.title,
        level,
        avatar(host, 24),
        _url("accounts:profile", host.handle),
        host.name,
        host.handle,
        topics,
    )
