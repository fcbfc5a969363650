"""A person's data: the archive of it, and deleting the account with everything in it."""

import logging
import os
import secrets
import tempfile
import zipfile
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from spaces_project import media
from spaces_project.errors import ServiceError
from spaces_project.tasks import dispatch

from .. import hooks
from ..export import SECTIONS, readme
from ..models import AVATAR_SIZES, DataExport, User
from .sessions import close_sockets

logger = logging.getLogger(__name__)

# The archive's steps besides its sections' (accounts/export.py): English msgids kept in
# DataExport.step, translated where they are shown (the settings page and its status URL).
STEP_WAITING = gettext_noop("Waiting for a worker")
STEP_FAILED = gettext_noop("Something went wrong")
STEP_READY = gettext_noop("Ready")


EXPORTS = media.tree("exports")


def data_export_name(export: DataExport) -> str:
    """The archive's media name (spaces_project/media.py: under MEDIA_ROOT or in the bucket)."""
    return EXPORTS + export.file_name


def data_export_directory() -> Path:
    """Where the archives are on disk (MEDIA_STORAGE=local)."""
    return media.local_path(EXPORTS)


def _delete_export_files(exports) -> None:
    for export in exports:
        if export.file_name:
            media.delete(data_export_name(export))


@transaction.atomic
def data_export_request(*, user: User) -> DataExport:
    """Start building an archive of `user`'s data; an archive already in the making is returned instead."""
    if not getattr(user, "is_authenticated", False):
        raise ServiceError("not_signed_in", _("Sign in to download your data."))
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
    export = DataExport.objects.create(user=user, step=STEP_WAITING)
    dispatch("accounts.tasks.build_data_export", export.pk)
    return export


def data_export_give_up(*, export_id: int, reason: str) -> None:
    """The task building this archive was given up (it killed its worker every time): say so."""
    logger.error("giving up on data export %s: %s", export_id, reason)
    DataExport.objects.filter(
        pk=export_id, status__in=(DataExport.Status.PENDING, DataExport.Status.BUILDING)
    ).update(status=DataExport.Status.FAILED, step=STEP_FAILED)


def data_export_build(*, export_id: int) -> DataExport | None:
    """Write the archive (the Celery task calls this), section by section (accounts/export.py).
    Idempotent: a ready or failed export is left alone, and a build interrupted by a dead worker
    starts again from the beginning."""
    with transaction.atomic():
        export = DataExport.objects.select_for_update().select_related("user").filter(pk=export_id).first()
        if export is None or export.status not in (DataExport.Status.PENDING, DataExport.Status.BUILDING):
            return export
        export.status = DataExport.Status.BUILDING
        export.file_name = export.file_name or f"{export.user_id}-{secrets.token_hex(16)}.zip"
        export.save(update_fields=["status", "file_name"])
    if media.is_local():
        directory = data_export_directory()
        directory.mkdir(parents=True, exist_ok=True)
        final = directory / export.file_name
        partial = final.with_suffix(".part")
    else:
        # For the bucket the archive is built in a temporary file, uploaded (multipart when large)
        # and removed; the audio in it is read from the bucket one file at a time (recordings/export.py).
        handle, name = tempfile.mkstemp(prefix="spaces-export-", suffix=".zip")
        os.close(handle)
        final = partial = Path(name)
    sections = list(SECTIONS)
    try:
        with zipfile.ZipFile(partial, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            with translation.override(export.user.language or settings.LANGUAGE_CODE):
                archive.writestr("README.txt", readme())
            for done, section in enumerate(sections):
                DataExport.objects.filter(pk=export.pk).update(
                    step=section.label, progress=int(100 * done / len(sections))
                )
                section.write(archive, export.user)
        size = partial.stat().st_size
        if media.is_local():
            os.replace(partial, final)
        else:
            media.upload(partial, data_export_name(export))
    except Exception:
        DataExport.objects.filter(pk=export.pk).update(status=DataExport.Status.FAILED, step=STEP_FAILED)
        raise
    finally:
        partial.unlink(missing_ok=True)
    now = timezone.now()
    DataExport.objects.filter(pk=export.pk).update(
        status=DataExport.Status.READY,
        progress=100,
        step=STEP_READY,
        size_bytes=size,
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
    the clips they made and the clips of their rooms, avatar and archives are deleted with their
    files, their sockets close and every session ends (the sessions point at a user that no longer
    exists). Reports they filed stay for moderators, without the reporter; tickets they paid for stay
    in their hosts' sales, without the buyer (rooms.services.tickets_account_deleting). The apps
    above accounts do their part through hooks.before_account_deletion and on_account_deletion.
    """
    if not user.check_password(password):
        raise ServiceError("wrong_password", _("That is not your password."), field="password")
    user = User.objects.select_for_update().get(pk=user.pk)
    for before_account_deletion in hooks.before_account_deletion:
        before_account_deletion(user=user)
    close_sockets(user=user, code="signed_out", message="This account was deleted.")
    prefixes = [
        prefix
        for on_account_deletion in hooks.on_account_deletion
        for prefix in on_account_deletion(user=user)
    ]
    avatars = [getattr(user, f"avatar_{size}").name for size in AVATAR_SIZES]
    exports = list(DataExport.objects.filter(user=user))
    # Rooms, recordings, follows, blocks, notifications cascade; reports and sales keep a null person.
    user.delete()

    def delete_files() -> None:
        for prefix in prefixes:
            media.delete_tree(prefix)
        _delete_export_files(exports)
        storage = User._meta.get_field("avatar_64").storage
        for name in filter(None, avatars):
            storage.delete(name)

    transaction.on_commit(delete_files)
    return True
