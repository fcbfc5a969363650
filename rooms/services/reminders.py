"""Bringing people back: reminders, invitations, going-live notices and the timed notices that
the periodic task (rooms/tasks.py, under Celery beat) sends when they are due."""

from collections.abc import Callable
from datetime import datetime, timedelta, tzinfo

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Exists, F, OuterRef, Q
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from accounts.models import Follow, Notification, User
from accounts.selectors import blocked_user_ids, is_blocked_between, user_get_by_handle
from accounts.services import notify
from spaces_project import protocol, realtime
from spaces_project.errors import ServiceError
from spaces_project.tasks import dispatch

from ..models import HOST_NOTICE_AHEAD, LIVE_NOTICE_GAP, Participant, Reminder, Room, RoomInvitation, Ticket
from ..selectors.discovery import UPCOMING_GRACE, room_get_for_viewer
from ._common import _ask_to_speak, _room_url, _stage_has_room_for_a_speaker, _when

# Rooms handled per transaction by the periodic task.
DUE_BATCH = 100


def _visible_room_for(room_id: int, user, *, sign_in_prompt: str) -> Room:
    """`sign_in_prompt` is the whole translated sentence ("Sign in to set a reminder.")."""
    if not getattr(user, "is_authenticated", False):
        raise ServiceError("sign_in_required", sign_in_prompt)
    return room_get_for_viewer(room_id=room_id, viewer=user)


def _announce_reminder_count(room: Room) -> None:
    """Tell the host, live, how many people now wait for their room."""

    def send() -> None:
        count = Reminder.objects.filter(room_id=room.pk).count()
        realtime.send(protocol.UserReminderCount(room_id=room.pk, count=count), user_id=room.host_id)

    transaction.on_commit(send, robust=True)


@transaction.atomic
def reminder_set(*, room_id: int, user: User) -> bool:
    """Remind `user` when the scheduled room starts. True if set now; setting it twice is one reminder."""
    room = _visible_room_for(room_id, user, sign_in_prompt=_("Sign in to set a reminder."))
    if room.host_id == user.pk:
        raise ServiceError("own_room", _("You host this room: you will be told 30 minutes before it starts."))
    if user.is_suspended:
        raise ServiceError("suspended", _("Your account is suspended."))
    if room.state != Room.State.SCHEDULED:
        raise ServiceError("not_scheduled", _("Reminders are for rooms that have not started yet."))
    try:
        with transaction.atomic():
            _ignored, created = Reminder.objects.get_or_create(room=room, user=user)
    except IntegrityError:  # the same person, twice at once
        created = False
    if created:
        _announce_reminder_count(room)
    return created


@transaction.atomic
def reminder_delete(*, room_id: int, user: User) -> bool:
    """Take a reminder back. True if there was one."""
    room = _visible_room_for(room_id, user, sign_in_prompt=_("Sign in to change a reminder."))
    deleted, _ignored = Reminder.objects.filter(room=room, user=user).delete()
    if deleted:
        _announce_reminder_count(room)
    return bool(deleted)


def _may_invite(room: Room, actor: User) -> None:
    if actor.pk == room.host_id:
        return
    if (
        room.state == Room.State.LIVE
        and Participant.objects.filter(
            room=room, user=actor, role=Participant.Role.COHOST, is_removed=False
        ).exists()
    ):
        return
    raise ServiceError("not_allowed", _("Only the host or a co-host can invite people to this room."))


@transaction.atomic
def room_invite(*, room_id: int, actor: User, handle: str) -> tuple[User, bool]:
    """Invite the person with `handle` to a scheduled or live room; return (them, invited now).

    Each invitation notifies once: inviting someone again does nothing. Invited to a live room
    whose stage has a free place, they are also asked to speak, at once if they are in the room,
    or when they come in.
    """
    room = _visible_room_for(room_id, actor, sign_in_prompt=_("Sign in to invite people."))
    room = Room.objects.select_for_update().select_related("host").get(pk=room.pk)
    _may_invite(room, actor)
    if room.state not in (Room.State.SCHEDULED, Room.State.LIVE):
        raise ServiceError("bad_state", _("Only a scheduled or live room takes invitations."))
    name = handle.strip().lstrip("@").strip()
    if not name:
        raise ServiceError("handle_required", _("Type the @handle of the person to invite."), field="handle")
    invitee = user_get_by_handle(handle=name[:30])
    if invitee is None:
        raise ServiceError(
            "no_such_person",
            _("Nobody has the handle @%(handle)s.") % {"handle": name[:30]},
            field="handle",
        )
    if invitee.pk == actor.pk:
        raise ServiceError("self_invite", _("You cannot invite yourself."), field="handle")
    if invitee.pk == room.host_id:
        raise ServiceError(
            "host_invite", _("@%(handle)s hosts this room.") % {"handle": invitee.handle}, field="handle"
        )
    if is_blocked_between(a=invitee, b=room.host) or is_blocked_between(a=invitee, b=actor):
        raise ServiceError(
            "blocked", _("You cannot invite @%(handle)s.") % {"handle": invitee.handle}, field="handle"
        )
    live = room.state == Room.State.LIVE
    participant = (
        Participant.objects.select_for_update().select_related("user").filter(room=room, user=invitee).first()
        if live
        else None
    )
    if participant is not None and participant.is_removed:
        raise ServiceError(
            "removed",
            _("@%(handle)s was removed from this room.") % {"handle": invitee.handle},
            field="handle",
        )
    to_speak = live and not (participant and participant.on_stage) and _stage_has_room_for_a_speaker(room)
    try:
        with transaction.atomic():
            invitation = RoomInvitation.objects.create(
                room=room, invitee=invitee, invited_by=actor, to_speak=to_speak
            )
    except IntegrityError:
        return invitee, False
    if to_speak and participant is not None:
        invitation.speak_offered_at = timezone.now()
        invitation.save(update_fields=["speak_offered_at"])
        _ask_to_speak(room, participant, actor)
    if to_speak:
        kind = Notification.Kind.SPEAK_INVITE

        def text(_zone):
            return _("%(name)s invited you to speak in %(title)s, live now") % {
                "name": actor.name,
                "title": room.title,
            }
    elif live:
        kind = Notification.Kind.ROOM_INVITE

        def text(_zone):
            return _("%(name)s invited you to %(title)s, live now") % {
                "name": actor.name,
                "title": room.title,
            }
    else:
        kind = Notification.Kind.ROOM_INVITE

        def text(zone):
            return _("%(name)s invited you to %(title)s, %(when)s") % {
                "name": actor.name,
                "title": room.title,
                "when": _when(room.scheduled_for, zone),
            }

    notify(
        recipients=[invitee.pk],
        kind=kind,
        actor=actor,
        room=room,
        text=text,
        url=_room_url(room),
        key=f"invite:{room.pk}",
        push=True,
    )
    return invitee, True


def _fire_reminders(
    room: Room, *, text: Callable[[tzinfo], str], now: datetime, notify_anyone: bool = True
) -> int:
    """Tell everyone whose reminder for `room` has not fired yet; return how many were told.

    Reminders another transaction holds are left to it. Call inside `transaction.atomic`.
    """
    pending = list(
        Reminder.objects.select_for_update(skip_locked=True)
        .filter(room=room, notified_at__isnull=True)
        .values_list("pk", "user_id")
    )
    if not pending:
        return 0
    hidden = blocked_user_ids(user=room.host)
    recipients = [user_id for _, user_id in pending if user_id not in hidden] if notify_anyone else []
    notify(
        recipients=recipients,
        kind=Notification.Kind.REMINDER,
        actor=room.host,
        room=room,
        text=text,
        url=_room_url(room),
        key=f"reminder:{room.pk}:{room.calendar_sequence}",
        push=True,
    )
    Reminder.objects.filter(pk__in=[pk for pk, _ in pending]).update(notified_at=now)
    return len(recipients)


@transaction.atomic
def room_live_notify(*, room_id: int) -> None:
    """The room went live: fire its reminders, tell its ticket holders, and tell the host's followers
    unless they were told about this host in the last 10 minutes. Safe to run twice
    (tasks/notify_room_live)."""
    room = Room.objects.select_related("host").filter(pk=room_id).first()
    if room is None or room.state != Room.State.LIVE:
        return  # ended before we got here: do not tell anyone it is live
    now = timezone.now()
    # Noted first: if what follows fails, the task's retries (and the notices' keys) finish it; the
    # mark only says the task ran, so that rooms_announce_missed does not queue it again.
    Room.objects.filter(pk=room.pk, live_announced_at__isnull=True).update(live_announced_at=now)
    _fire_reminders(
        room,
        text=lambda _zone: (
            _("%(host)s started %(title)s: join now") % {"host": room.host.name, "title": room.title}
        ),
        now=now,
    )
    reminded = Reminder.objects.filter(room=room).values("user_id")
    # Those who paid to be there are told it started, reminder or not (PRODUCT, "On a phone").
    holders = (
        Ticket.objects.filter(
            room=room, status=Ticket.Status.PAID, refund_requested_at__isnull=True, buyer__isnull=False
        )
        .exclude(buyer_id__in=reminded)
        .values_list("buyer_id", flat=True)
    )
    _tell_it_is_live(
        room,
        holders,
        kind=Notification.Kind.TICKET,
        text=lambda _zone: _("%(title)s has started: your ticket is ready, join now") % {"title": room.title},
        key=f"ticket-live:{room.pk}",
    )
    # One conditional UPDATE decides, under the host row's lock: starting and ending rooms in a
    # loop cannot notify more than once per gap, whatever runs at the same time.
    claimed = (
        User.objects.filter(pk=room.host_id)
        .filter(Q(live_notified_at__isnull=True) | Q(live_notified_at__lte=now - LIVE_NOTICE_GAP))
        .update(live_notified_at=now)
    )
    if not claimed:
        return
    followers = (
        Follow.objects.filter(followee_id=room.host_id)
        # Those who set a reminder or hold a ticket were just told.
        .exclude(follower_id__in=reminded)
        .exclude(follower_id__in=holders)
        .values_list("follower_id", flat=True)
    )
    _tell_it_is_live(
        room,
        followers,
        kind=Notification.Kind.HOST_LIVE,
        text=lambda _zone: _("%(host)s is live: %(title)s") % {"host": room.host.name, "title": room.title},
        key=f"live:{room.pk}",
    )


def _tell_it_is_live(room: Room, recipients, *, kind: str, text: Callable[[tzinfo], str], key: str) -> None:
    """A going-live notice from the host, to the room's page, pushed to phones too."""
    notify(
        recipients=recipients,
        kind=kind,
        actor=room.host,
        room=room,
        text=text,
        url=_room_url(room),
        key=key,
        push=True,
    )


def rooms_announce_missed(*, now: datetime | None = None) -> list[int]:
    """Queue again the going-live announcement of live rooms that were never announced: their task
    was lost (the broker was down when the host went live). Called by a periodic task; announcing
    twice notifies nobody twice (each notice has its key)."""
    now = now or timezone.now()
    cutoff = now - timedelta(seconds=settings.ROOM_LIVE_ANNOUNCE_STUCK_AFTER_S)
    missed = list(
        Room.objects.filter(state=Room.State.LIVE, live_announced_at__isnull=True, started_at__lt=cutoff)
        .order_by("started_at")
        .values_list("pk", flat=True)[:500]
    )
    for room_id in missed:
        dispatch("rooms.tasks.notify_room_live", room_id, after_commit=False)
    return missed


def notices_send_due(*, now: datetime | None = None) -> int:
    """Send every timed notice that is due: reminders of rooms whose start time has come, and
    hosts' notices 30 minutes before. Return how many people were notified.

    Run by the periodic task. Each batch locks the rooms it handles (skipping rooms another run
    holds), and each notice carries a key the database accepts once per person, so runs that
    overlap, or repeat, never notify twice.
    """
    now = now or timezone.now()
    sent = 0
    for send_batch in (_send_due_reminders, _send_due_host_notices):
        while True:
            count, more = send_batch(now)
            sent += count
            if not more:
                break
    return sent


@transaction.atomic
def _send_due_reminders(now: datetime) -> tuple[int, bool]:
    rooms = list(
        Room.objects.select_for_update(skip_locked=True, of=("self",))
        .select_related("host")
        .filter(state=Room.State.SCHEDULED, scheduled_for__lte=now)
        .filter(Exists(Reminder.objects.filter(room=OuterRef("pk"), notified_at__isnull=True)))
        .order_by("scheduled_for", "pk")[:DUE_BATCH]
    )
    sent = 0
    for room in rooms:
        # A reminder an hour late (the service was down) would send people to a room that is no
        # longer listed as upcoming: it is dropped, not sent.
        sent += _fire_reminders(
            room,
            text=lambda _zone, room=room: (
                _("Starting now: %(title)s with %(host)s") % {"title": room.title, "host": room.host.name}
            ),
            now=now,
            notify_anyone=now - room.scheduled_for <= UPCOMING_GRACE,
        )
    return sent, len(rooms) == DUE_BATCH


@transaction.atomic
def _send_due_host_notices(now: datetime) -> tuple[int, bool]:
    rooms = list(
        Room.objects.select_for_update(skip_locked=True, of=("self",))
        .select_related("host")
        .filter(state=Room.State.SCHEDULED, scheduled_for__gt=now, scheduled_for__lte=now + HOST_NOTICE_AHEAD)
        .filter(Q(host_notice_for__isnull=True) | ~Q(host_notice_for=F("scheduled_for")))
        .order_by("scheduled_for", "pk")[:DUE_BATCH]
    )
    for room in rooms:
        minutes = max(1, round((room.scheduled_for - now).total_seconds() / 60))
        notify(
            recipients=[room.host_id],
            kind=Notification.Kind.REMINDER,
            room=room,
            text=lambda _zone, room=room, minutes=minutes: (
                ngettext(
                    "Your room %(title)s starts in %(minutes)s minute",
                    "Your room %(title)s starts in %(minutes)s minutes",
                    minutes,
                )
                % {"title": room.title, "minutes": minutes}
            ),
            url=_room_url(room),
            key=f"host-notice:{room.pk}:{room.calendar_sequence}",
        )
        room.host_notice_for = room.scheduled_for
        room.save(update_fields=["host_notice_for"])
    return len(rooms), len(rooms) == DUE_BATCH
