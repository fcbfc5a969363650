"""A person's own profile: name, bio, avatar and time zone; and the rule that a suspended account changes nothing."""

import uuid

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.db import transaction
from django.utils.translation import gettext as _

from spaces_project.errors import ServiceError

from ..images import AvatarError, Thumbnail, make_avatar_thumbnails
from ..models import AVATAR_SIZES, User
from ..timezones import is_time_zone


def require_not_suspended(user) -> None:
    """Refuse a suspended account: it may read and leave, not act on others or change its face."""
    if getattr(user, "is_suspended", False):
        raise ServiceError("suspended", _("Your account is suspended."))


def user_update_profile(*, user: User, display_name: str, bio: str) -> User:
    require_not_suspended(user)
    previous = (user.display_name, user.bio)
    user.display_name = display_name.strip()
    user.bio = bio.strip()
    try:
        user.full_clean(exclude=["password"])
    except ValidationError as error:
        user.display_name, user.bio = previous
        field, messages = next(iter(error.message_dict.items()))
        raise ServiceError("invalid_profile", messages[0], field=field) from None
    user.save(update_fields=["display_name", "bio"])
    return user


def _avatar_thumbnails(raw: bytes) -> list[Thumbnail]:
    try:
        return make_avatar_thumbnails(raw, AVATAR_SIZES, max_bytes=settings.AVATAR_MAX_BYTES)
    except AvatarError as error:
        raise ServiceError("invalid_image", str(error), field="avatar") from None


def _store_avatar(*, user: User, thumbnails: list[Thumbnail]) -> None:
    old_names = [getattr(user, f"avatar_{size}").name for size in AVATAR_SIZES]
    token = uuid.uuid4().hex[:12]
    written = []
    try:
        for thumbnail in thumbnails:
            field = getattr(user, f"avatar_{thumbnail.size}")
            field.save(f"{user.pk}-{token}-{thumbnail.size}.jpg", ContentFile(thumbnail.data), save=False)
            written.append(field.name)
        user.save(update_fields=[f"avatar_{size}" for size in AVATAR_SIZES])
    except Exception:
        # Files are not transactional: do not leave orphans behind a failed save.
        storage = user._meta.get_field("avatar_64").storage
        for name in written:
            storage.delete(name)
        raise
    _delete_files_on_commit(user=user, names=old_names)


def _delete_files_on_commit(*, user: User, names: list[str]) -> None:
    # Old files go only once the new state is committed, so a rollback never points at a missing file.
    storage = user._meta.get_field("avatar_64").storage
    names = [name for name in names if name]
    if names:

        def delete_old_files() -> None:
            for name in names:
                storage.delete(name)

        transaction.on_commit(delete_old_files)


def user_set_avatar(*, user: User, raw: bytes) -> User:
    """Validate and re-encode an uploaded avatar; on any problem nothing is saved."""
    require_not_suspended(user)
    _store_avatar(user=user, thumbnails=_avatar_thumbnails(raw))
    return user


@transaction.atomic
def user_edit_profile(
    *, user: User, display_name: str, bio: str, avatar: bytes | None = None, remove_avatar: bool = False
) -> User:
    """Save the profile form: name, bio and avatar together, or nothing at all.

    The avatar is checked before anything is written, so a refused image leaves the profile untouched.
    """
    require_not_suspended(user)
    thumbnails = _avatar_thumbnails(avatar) if avatar is not None else None
    user_update_profile(user=user, display_name=display_name, bio=bio)
    if thumbnails is not None:
        _store_avatar(user=user, thumbnails=thumbnails)
    elif remove_avatar:
        user_remove_avatar(user=user)
    return user


def user_remove_avatar(*, user: User) -> User:
    require_not_suspended(user)
    old_names = [getattr(user, f"avatar_{size}").name for size in AVATAR_SIZES]
    for size in AVATAR_SIZES:
        setattr(user, f"avatar_{size}", "")
    user.save(update_fields=[f"avatar_{size}" for size in AVATAR_SIZES])
    _delete_files_on_commit(user=user, names=old_names)
    return user


def user_set_time_zone(*, user: User, time_zone: str) -> User:
    """Write notices' and emails' times for `user` in `time_zone`, an IANA name the server knows.
    Allowed to a suspended account too: it changes only what they read."""
    if not is_time_zone(time_zone):
        raise ServiceError("bad_time_zone", _("Choose a time zone from the list."), field="time_zone")
    if user.time_zone != time_zone:
        user.time_zone = time_zone
        user.save(update_fields=["time_zone"])
    return user


def user_set_language(*, user: User, language: str) -> User:
    """Show `user` pages, emails and notices in `language` (a code of settings.LANGUAGES), or in their
    browser's language when it is empty. Allowed to a suspended account too: it changes only what they
    read."""
    if language and language not in dict(settings.LANGUAGES):
        raise ServiceError("bad_language", _("Choose a language from the list."), field="language")
    if user.language != language:
        user.language = language
        user.save(update_fields=["language"])
    return user
