"""`{% icon "bell" %}`: one of the interface's icons (templates/_icons.html), as inline SVG.

Without `label` the icon is decoration beside words that say the same (hidden from screen readers);
with it, the icon stands alone and is announced as an image with that name.
"""

from django import template
from django.utils.html import format_html
from django.utils.safestring import SafeString

register = template.Library()


@register.simple_tag
def icon(name: str, label: str = "", css: str = "") -> SafeString:
    classes = f"icon icon-{name}" + (f" {css}" if css else "")
    if label:
        return format_html(
            '<svg class="{}" role="img" aria-label="{}"><title>{}</title><use href="#icon-{}"></use></svg>',
            classes,
            label,
            label,
            name,
        )
    return format_html(
        '<svg class="{}" aria-hidden="true" focusable="false"><use href="#icon-{}"></use></svg>',
        classes,
        name,
    )
