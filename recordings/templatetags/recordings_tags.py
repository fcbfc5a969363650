from django import template

from recordings.selectors import clock as clock_label

register = template.Library()


@register.filter
def clock(ms) -> str:
    """A replay position in ms as a player shows it: 4:05, or 1:02:03 past an hour."""
    return clock_label(int(ms or 0))
