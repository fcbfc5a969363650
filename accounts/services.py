"""Every write about people: profiles, avatars, follows, blocks, notifications."""

import logging
import os
import secrets
import shutil
import uuid
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from django.conf import settings
from django.core import signing
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.core.mail import EmailMessage, get_connection
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.urls import reverse
from django.utils import timezone

from spaces_project import protocol, realtime
from spaces_project.errors import ServiceError

from .export import README, SECTIONS
from .images import AvatarError, Thumbnail, make_avatar_thumbnails
from .models import AVATAR_SIZES, Block, DataExport, Follow, Notification, NotificationPreference, User
from .selectors import notification_choices_for, notification_payload, unread_counts
from .validators import one_line

logger = logging.getLogger(__name__)


def require_not_suspended(user) -> None:
    """Refuse a suspended account: it may read and leave, not act on others or change its face."""
    if getattr(user, "is_suspended", False):
        raise ServiceError("suspended", "Your account is suspended.")


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


def follow_create(*, follower: User, followee: User) -> Follow:
    """Follow `followee`; following twice is the same as following once."""
    require_not_suspended(follower)
    if follower.pk == followee.pk:
        raise ServiceError("self_follow", "You cannot follow yourself.")
    if Block.objects.filter(
        Q(blocker=follower, blocked=followee) | Q(blocker=followee, blocked=follower)
    ).exists():
        raise ServiceError("blocked", "You cannot follow this account.")
    try:
        with transaction.atomic():
            follow, created = Follow.objects.get_or_create(follower=follower, followee=followee)
    except IntegrityError:
        return Follow.objects.get(follower=follower, followee=followee)
    if created:
        # Following, unfollowing and following again all day long tells them once (a day).
        notify(
            recipients=[followee.pk],
            kind=Notification.Kind.NEW_FOLLOWER,
            actor=follower,
            text=f"{follower.name} (@{follower.handle}) followed you",
            url=f"/@{follower.handle}/",
            key=f"follow:{follower.pk}:{timezone.now().date().isoformat()}",
        )
    return follow


def follow_delete(*, follower: User, followee: User) -> None:
    Follow.objects.filter(follower=follower, followee=followee).delete()


@transaction.atomic
def block_create(*, blocker: User, blocked: User) -> Block:
    """Block `blocked`: follows are removed both ways and neither sees the other's rooms."""
    if blocker.pk == blocked.pk:
        raise ServiceError("self_block", "You cannot block yourself.")
    block, _ = Block.objects.get_or_create(blocker=blocker, blocked=blocked)
    Follow.objects.filter(
        Q(follower=blocker, followee=blocked) | Q(follower=blocked, followee=blocker)
    ).delete()
    from rooms.services import room_remove_blocked  # rooms depends on accounts, not the reverse

    room_remove_blocked(host=blocker, blocked=blocked)
    return block


def block_delete(*, blocker: User, blocked: User) -> None:
    Block.objects.filter(blocker=blocker, blocked=blocked).delete()


# ---------------------------------------------------------------------------------------------
# Notifications: one way in (`notify`), the person's choices per kind, email with one-click
# unsubscribe, and live delivery to their open pages (the `user.<id>` channel).
# ---------------------------------------------------------------------------------------------

# A person is told about at most this many people at once per query (large follower fan-outs).
NOTIFY_CHUNK = 1000
EMAILS_PER_TASK = 200
UNSUBSCRIBE_SALT = "accounts.notifications.unsubscribe"


def notify(
    *,
    recipients: Iterable[int],
    kind: str,
    text: str,
    url: str = "",
    actor: User | None = None,
    room=None,
    key: str | None = None,
) -> list[int]:
    """Notify the users `recipients` (ids) as each one's choices for `kind` allow; return the ids
    of the notifications made.

    With `key`, a person gets at most one notification for that key, ever: the database refuses a
    second one, whichever process tries. After commit, the new notifications appear live on the
    recipients' open pages and their emails are queued.
    """
    text = one_line(text)[:200]
    made: list[tuple[int, bool, bool]] = []  # (notification id, in app, email)
    people = list(dict.fromkeys(int(pk) for pk in recipients))
    for start in range(0, len(people), NOTIFY_CHUNK):
        chunk = people[start : start + NOTIFY_CHUNK]
        choices = notification_choices_for(user_ids=chunk, kind=kind)
        wanted = {pk: choice for pk, choice in choices.items() if choice.in_app or choice.email}
        if key and wanted:
            already = Notification.objects.filter(dedupe_key=key, recipient_id__in=list(wanted))
            for pk in already.values_list("recipient_id", flat=True):
                wanted.pop(pk, None)
        if not wanted:
            continue
        rows = [
            Notification(
                recipient_id=pk,
                kind=kind,
                actor=actor,
                room=room,
                text=text,
                url=url,
                dedupe_key=key,
                in_app=choice.in_app,
                email_wanted=choice.email,
            )
            for pk, choice in wanted.items()
        ]
        if key:
            # Another process may be notifying the same people for the same key right now: the
            # unique constraint keeps one row each, and the rows are read back to learn their ids.
            Notification.objects.bulk_create(rows, ignore_conflicts=True)
            made += Notification.objects.filter(dedupe_key=key, recipient_id__in=list(wanted)).values_list(
                "pk", "in_app", "email_wanted"
            )
        else:
            made += [(row.pk, row.in_app, row.email_wanted) for row in Notification.objects.bulk_create(rows)]
    shown = [pk for pk, in_app, _ in made if in_app]
    emailed = [pk for pk, _, email in made if email]
    if shown:
        transaction.on_commit(lambda: notifications_push(notification_ids=shown), robust=True)
    if emailed:
        from .tasks import send_notification_emails

        for start in range(0, len(emailed), EMAILS_PER_TASK):
            batch = emailed[start : start + EMAILS_PER_TASK]
            transaction.on_commit(lambda batch=batch: send_notification_emails.delay(batch), robust=True)
    return [pk for pk, _, _ in made]


def notifications_push(*, notification_ids: list[int]) -> None:
    """Show new notifications on their recipients' open pages, with their new unread counts. Runs after
    the commit (``notify`` registers it): it reads the saved rows, and sends at once."""
    for start in range(0, len(notification_ids), NOTIFY_CHUNK):
        rows = list(
            Notification.objects.filter(pk__in=notification_ids[start : start + NOTIFY_CHUNK], in_app=True)
            .select_related("actor")
            .order_by("pk")
        )
        counts = unread_counts(user_ids={row.recipient_id for row in rows})
        for row in rows:
            realtime.send(
                protocol.UserNotification(
                    notification=notification_payload(row), unread_count=counts.get(row.recipient_id, 0)
                ),
                user_id=row.recipient_id,
            )


def notifications_mark_read(*, user: User) -> int:
    count = Notification.objects.filter(recipient=user, read_at__isnull=True).update(read_at=timezone.now())
    if count:
        # Every other open page of theirs clears its badge too.
        realtime.send_on_commit(protocol.UserUnread(unread_count=0), user_id=user.pk)
    return count


def notification_preferences_set(*, user: User, choices: dict[str, tuple[bool, bool]]) -> None:
    """Save `user`'s choice of (in app, email) for each kind in `choices`."""
    for kind, (in_app, email) in choices.items():
        if kind not in Notification.Kind.values:
            raise ServiceError("bad_kind", "That kind of notification does not exist.")
        NotificationPreference.objects.update_or_create(
            user=user, kind=kind, defaults={"in_app": bool(in_app), "email": bool(email)}
        )


def unsubscribe_token(*, user_id: int, kind: str) -> str:
    """The signed part of a one-click unsubscribe link: it needs no sign-in and cannot be forged."""
    return signing.dumps([user_id, kind], salt=UNSUBSCRIBE_SALT)


def unsubscribe_check(*, token: str) -> tuple[User, str]:
    """The person and kind a link unsubscribes from; ServiceError for a forged or broken link."""
    try:
        user_id, kind = signing.loads(token, salt=UNSUBSCRIBE_SALT)
    except (signing.BadSignature, ValueError, TypeError):
        raise ServiceError("bad_link", "This unsubscribe link is not valid.") from None
    user = User.objects.filter(pk=user_id, is_active=True).first() if isinstance(user_id, int) else None
    if user is None or kind not in Notification.Kind.values:
        raise ServiceError("bad_link", "This unsubscribe link is not valid.")
    return user, kind


@transaction.atomic
def notification_unsubscribe(*, token: str) -> tuple[User, str]:
    """Switch off the email of the kind the link names (one click, from the email)."""
    user, kind = unsubscribe_check(token=token)
    choice = notification_choices_for(user_ids=[user.pk], kind=kind)[user.pk]
    NotificationPreference.objects.update_or_create(
        user=user, kind=kind, defaults={"in_app": choice.in_app, "email": False}
    )
    return user, kind


def _site_url(path: str) -> str:
    return settings.SITE_URL.rstrip("/") + path


def _notification_email(notification: Notification, connection) -> EmailMessage:
    kind = Notification.Kind(notification.kind)
    unsubscribe = _site_url(
        reverse(
            "accounts:unsubscribe",
            args=[unsubscribe_token(user_id=notification.recipient_id, kind=notification.kind)],
        )
    )
    link = _site_url(notification.url) if notification.url.startswith("/") else ""
    body = "\n\n".join(
        part
        for part in (
            notification.text,
            link,
            "--",
            f"You get this email because email is on for: {kind.label.lower()}.\n"
            f"Stop these emails (one click): {unsubscribe}\n"
            f"Choose which notifications you get: {_site_url(reverse('accounts:notification_settings'))}",
        )
        if part
    )
    return EmailMessage(
        subject=one_line(f"Spaces: {notification.text}")[:150],
        body=body,
        to=[notification.recipient.email],
        connection=connection,
        headers={
            # RFC 2369 and RFC 8058: mail programs show an unsubscribe button that POSTs here.
            "List-Unsubscribe": f"<{unsubscribe}>",
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
            "Auto-Submitted": "auto-generated",
        },
    )


def notification_emails_send(*, notification_ids: list[int]) -> int:
    """Email the given notifications that still want it, each once; return how many were sent.

    One email at a time: its row is locked while the email goes out and marked in the same
    transaction, which commits before the next email. A second worker (or the task delivered again
    after its worker was killed half-way) skips the rows already marked, or being sent right now, and
    sends only the rest. If sending fails, that row is not marked and the task retries.
    """
    sent = 0
    with get_connection() as connection:
        for notification_id in sorted(notification_ids):
            with transaction.atomic():
                row = (
                    Notification.objects.select_for_update(skip_locked=True, of=("self",))
                    .select_related("recipient")
                    .filter(pk=notification_id, email_wanted=True, emailed_at__isnull=True)
                    .first()
                )
                if row is None:
                    continue
                choice = notification_choices_for(user_ids=[row.recipient_id], kind=row.kind).get(
                    row.recipient_id
                )
                # The person may have switched this kind off, or read it already, since it was made.
                if choice and choice.email and row.read_at is None and row.recipient.email:
                    connection.send_messages([_notification_email(row, connection)])
                    sent += 1
                # Marked also when nothing went out: the decision about this row's email is made.
                row.emailed_at = timezone.now()
                row.save(update_fields=["emailed_at"])
    return sent


def notification_emails_give_up(*, notification_ids: list[int], reason: str) -> int:
    """The task sending these emails was given up (it killed its worker every time): decide, for the
    ones not sent yet, that they will not be, so that nothing queues them again."""
    logger.error("giving up on the emails of notifications %s: %s", notification_ids, reason)
    return Notification.objects.filter(
        pk__in=notification_ids, email_wanted=True, emailed_at__isnull=True
    ).update(emailed_at=timezone.now())


def _close_sockets(*, user: User, code: str, message: str) -> None:
    """Close every socket `user` has open, once the transaction commits: their room sockets (told
    why first) and the per-person sockets of their pages. Call whenever their sessions end."""
    from rooms.services import participant_disconnect_everywhere  # rooms depends on accounts

    participant_disconnect_everywhere(user=user, code=code, message=message)
    close = protocol.CLOSE_SUSPENDED if code == "suspended" else protocol.CLOSE_SIGNED_OUT
    realtime.send_on_commit(None, user_id=user.pk, close=close)


@dataclass
class Suspension:
    user: User
    ended_rooms: list = field(default_factory=list)  # the live rooms it hosted, now ended


@transaction.atomic
def user_suspend(*, user: User, reason: str = "", until: datetime | None = None) -> Suspension:
    """Suspend an account, with all that follows, at once: it can no longer sign in (accounts/adapter.py
    reads the flag and tells the reason and end date) nor host or join a room, every session ends, its
    open room sockets close, and the live rooms it hosts end. Every path that suspends someone (the
    moderation services behind admin actions) calls this. `until` None: until lifted."""
    from rooms.services import rooms_force_end_hosted_by

    if User.objects.select_for_update().get(pk=user.pk).is_suspended:
        raise ServiceError("already_suspended", f"{user} is already suspended.")
    reason = " ".join(reason.split())
    if len(reason) > 300:
        raise ServiceError("reason_too_long", "A reason has at most 300 characters.", field="reason")
    if until is not None and until <= timezone.now():
        raise ServiceError("until_in_past", "The end of a suspension must be in the future.", field="until")
    user.is_suspended = True
    user.suspended_at = timezone.now()
    user.suspension_reason = reason
    user.suspended_until = until
    user.session_generation += 1  # every session ends: the person is signed out everywhere
    user.save(
        update_fields=[
            "is_suspended",
            "suspended_at",
            "suspension_reason",
            "suspended_until",
            "session_generation",
        ]
    )
    # Sockets first: in a room they host, they hear why they are leaving before the room ends.
    _close_sockets(user=user, code="suspended", message="Your account is suspended.")
    return Suspension(user=user, ended_rooms=rooms_force_end_hosted_by(host=user))


def user_unsuspend(*, user: User) -> User:
    user.is_suspended = False
    user.suspended_at = None
    user.suspension_reason = ""
    user.suspended_until = None
    user.save(update_fields=["is_suspended", "suspended_at", "suspension_reason", "suspended_until"])
    return user


def user_lift_suspension_if_over(*, user: User) -> bool:
    """Lift a suspension whose end date has passed (at sign-in, and by the periodic task)."""
    if user.is_suspended and user.suspended_until is not None and user.suspended_until <= timezone.now():
        user_unsuspend(user=user)
        return True
    return False


def users_lift_expired_suspensions() -> int:
    lifted = 0
    for user in User.objects.filter(is_suspended=True, suspended_until__lte=timezone.now()):
        lifted += user_lift_suspension_if_over(user=user)
    return lifted


@transaction.atomic
def user_sign_out_everywhere(*, user: User) -> User:
    """End every session of `user` (every browser, this one too) and close their open sockets."""
    User.objects.filter(pk=user.pk).update(session_generation=F("session_generation") + 1)
    user.refresh_from_db(fields=["session_generation"])
    _close_sockets(user=user, code="signed_out", message="You were signed out.")
    return user


@transaction.atomic
def user_password_changed(*, user: User) -> None:
    """After a password change or reset: other sessions are already invalid (the auth hash
    changed); close the sockets they opened. The page that changed it reconnects on its own."""
    _close_sockets(
        user=user, code="signed_out", message="Your password changed; sign in again on other devices."
    )


# -- privacy: the data archive and deleting an account ------------------------------------------------


def data_export_directory() -> Path:
    return Path(settings.MEDIA_ROOT) / "exports"


def _delete_export_files(exports) -> None:
    for export in exports:
        if export.file_name:
            (data_export_directory() / export.file_name).unlink(missing_ok=True)


@transaction.atomic
def data_export_request(*, user: User) -> DataExport:
    """Start building an archive of `user`'s data; an archive already in the making is returned instead."""
    from .tasks import build_data_export

    if not getattr(user, "is_authenticated", False):
        raise ServiceError("not_signed_in", "Sign in to download your data.")
    User.objects.select_for_update().filter(pk=user.pk).first()  # one request at a time per person
    in_progress = DataExport.objects.filter(
        user=user, status__in=[DataExport.Status.PENDING, DataExport.Status.BUILDING]
    ).first()
    if in_progress is not None:
        return in_progress
    # An older archive goes when a new one is asked for: one copy of someone's data is enough.
    old = list(DataExport.objects.filter(user=user))
    transaction.on_commit(lambda: _delete_export_files(old))
    DataExport.objects.filter(pk__in=[e.pk for e in old]).delete()
    export = DataExport.objects.create(user=user, step="Waiting for a worker")
    build_data_export.delay_on_commit(export.pk)
    return export


def data_export_give_up(*, export_id: int, reason: str) -> None:
    """The task building this archive was given up (it killed its worker every time): say so."""
    logger.error("giving up on data export %s: %s", export_id, reason)
    DataExport.objects.filter(
        pk=export_id, status__in=(DataExport.Status.PENDING, DataExport.Status.BUILDING)
    ).update(status=DataExport.Status.FAILED, step="Something went wrong")


def data_export_build(*, export_id: int) -> DataExport | None:
    """Write the archive (the Celery task calls this). Idempotent: a ready or failed export is left
    alone, and a build interrupted by a dead worker starts again from the beginning."""
    with transaction.atomic():
        export = DataExport.objects.select_for_update().select_related("user").filter(pk=export_id).first()
        if export is None or export.status not in (DataExport.Status.PENDING, DataExport.Status.BUILDING):
            return export
        export.status = DataExport.Status.BUILDING
        export.file_name = export.file_name or f"{export.user_id}-{secrets.token_hex(16)}.zip"
        export.save(update_fields=["status", "file_name"])
    directory = data_export_directory()
    directory.mkdir(parents=True, exist_ok=True)
    final = directory / export.file_name
    partial = final.with_suffix(".part")
    try:
        with zipfile.ZipFile(partial, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            archive.writestr("README.txt", README)
            for done, section in enumerate(SECTIONS):
                DataExport.objects.filter(pk=export.pk).update(
                    step=section.label, progress=int(100 * done / len(SECTIONS))
                )
                section.write(archive, export.user)
        os.replace(partial, final)
    except Exception:
        partial.unlink(missing_ok=True)
        DataExport.objects.filter(pk=export.pk).update(
            status=DataExport.Status.FAILED, step="Something went wrong"
        )
        raise
    now = timezone.now()
    DataExport.objects.filter(pk=export.pk).update(
        status=DataExport.Status.READY,
        progress=100,
        step="Ready",
        size_bytes=final.stat().st_size,
        finished_at=now,
        expires_at=now + timedelta(hours=settings.DATA_EXPORT_LINK_HOURS),
    )
    export.refresh_from_db()
    return export


def data_export_purge_expired() -> int:
    """Delete the files and rows of archives whose link has expired; returns how many."""
    expired = list(DataExport.objects.filter(expires_at__lt=timezone.now()))
    _delete_export_files(expired)
    DataExport.objects.filter(pk__in=[e.pk for e in expired]).delete()
    return len(expired)


@transaction.atomic
def user_delete_account(*, user: User, password: str) -> bool:
    """Delete `user` for good, after they confirmed with their password.

    Their live rooms end (everyone in them is told, as when a host ends a room), their recordings,
    the clips they made and the clips of their rooms, avatar and archives are deleted with their files, their sockets close and every session ends
    (the sessions point at a user that no longer exists). Reports they filed stay for moderators,
    without the reporter; tickets they paid for stay in their hosts' sales, without the buyer
    (rooms.tickets.tickets_account_deleting).
    """
    from recordings.selectors import clip_directories_of
    from recordings.services import RecordingFiles
    from rooms.models import Room
    from rooms.services import room_force_end
    from rooms.tickets import tickets_account_deleting

    if not user.check_password(password):
        raise ServiceError("wrong_password", "That is not your password.", field="password")
    user = User.objects.select_for_update().get(pk=user.pk)
    tickets_account_deleting(user=user)
    _close_sockets(user=user, code="signed_out", message="This account was deleted.")
    for room in Room.objects.select_for_update().filter(host=user, state=Room.State.LIVE):
        room_force_end(room=room)
    room_ids = list(Room.objects.filter(host=user).values_list("pk", flat=True))
    directories = [RecordingFiles(room_id).directory for room_id in room_ids]
    directories += clip_directories_of(user=user)
    avatars = [getattr(user, f"avatar_{size}").name for size in AVATAR_SIZES]
    exports = list(DataExport.objects.filter(user=user))
    # Rooms, recordings, follows, blocks, notifications cascade; reports and sales keep a null person.
    user.delete()

    def delete_files() -> None:
        for directory in directories:
            shutil.rmtree(directory, ignore_errors=True)
        _delete_export_files(exports)
        storage = User._meta.get_field("avatar_64").storage
        for name in filter(None, avatars):
            storage.delete(name)

    transaction.on_commit(delete_files)
    return True
