from django import template
from django.utils.html import format_html
from django.utils.safestring import SafeString

register = template.Library()


@register.simple_tag
def avatar(person, size: int = 40) -> SafeString:
    """A person's round avatar at `size` pixels, from the stored thumbnail of twice that size (sharp
    on dense screens), or their initial on a gradient when they have none."""
    size = int(size)
    if person.avatar_64:
        field = person.avatar_256 if size > 64 else person.avatar_128 if size > 32 else person.avatar_64
        return format_html(
            '<img class="avatar" src="{}" width="{}" height="{}" alt="">', field.url, size, size
        )
    return format_html(
        '<span class="avatar avatar-initial" style="width:{}px;height:{}px;font-size:{}px" aria-hidden="true">{}</span>',
        size,
        size,
        size // 2,
        (person.name[:1] or "?").upper(),
    )
