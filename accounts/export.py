"""The archive of one person's data: what goes in it, section by section.

Each section is written by a function that gets the zip file and the user; `SECTIONS` is the
order the task follows, and the task reports progress after each. Other apps' data is read
through their models and selectors here, lazily imported, because rooms, recordings and
moderation depend on accounts and not the reverse.

Each section declares what it holds: every way a row is tied to the person ("rooms.Ticket.buyer",
or through something of theirs: "recordings.Recording.room__host") and the file it is in.
`NOT_EXPORTED` gives the reason for every other one. tests/accounts/test_export.py walks the app
registry, so a model that ties a row to a person fails it until it is in one list or the other.
"""

import json
import zipfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal

from allauth.account.models import EmailAddress

from .models import Block, Follow, Notification, NotificationPreference, User
from .selectors import notification_preferences


def _iso(value) -> str | None:
    return value.isoformat() if value else None


def _write_json(archive: zipfile.ZipFile, name: str, data) -> None:
    archive.writestr(name, json.dumps(data, indent=2, ensure_ascii=False))


def write_profile(archive: zipfile.ZipFile, user: User) -> None:
    _write_json(
        archive,
        "profile.json",
        {
            "handle": user.handle,
            "email": user.email,
            "display_name": user.display_name,
            "bio": user.bio,
            "date_joined": _iso(user.date_joined),
            "last_login": _iso(user.last_login),
            "is_suspended": user.is_suspended,
            "email_addresses": [
                {"email": address.email, "verified": address.verified, "primary": address.primary}
                for address in EmailAddress.objects.filter(user=user).order_by("pk")
            ],
        },
    )
    if user.avatar_256:
        try:
            with user.avatar_256.open("rb") as image:
                archive.writestr("avatar.jpg", image.read())
        except FileNotFoundError:
            pass


def write_social_graph(archive: zipfile.ZipFile, user: User) -> None:
    following = Follow.objects.filter(follower=user).select_related("followee")
    followers = Follow.objects.filter(followee=user).select_related("follower")
    _write_json(
        archive,
        "follows.json",
        {
            "following": [{"handle": f.followee.handle, "since": _iso(f.created_at)} for f in following],
            "followers": [{"handle": f.follower.handle, "since": _iso(f.created_at)} for f in followers],
        },
    )
    blocks = Block.objects.filter(blocker=user).select_related("blocked")
    _write_json(
        archive, "blocks.json", [{"handle": b.blocked.handle, "since": _iso(b.created_at)} for b in blocks]
    )


def _money(amount: int | None) -> str | None:
    """A minor-unit amount as a decimal ("5.00"), as the host's CSV writes it."""
    return None if amount is None else f"{Decimal(amount) / 100:.2f}"


def _ticket_sales(room) -> dict | None:
    """What the host sold of a ticketed room (rooms.selectors.ticket_sales: the figures of its page)."""
    from rooms.selectors import ticket_sales

    if not room.is_ticketed:
        return None
    sales = ticket_sales(room=room)
    return {
        "price": _money(room.ticket_price),
        "seats": room.ticket_capacity,
        "sold": sales.sold,
        "revenue": _money(sales.revenue),
        "refunds": sales.refunds,
        "refunded": _money(sales.refunded),
        "currency": sales.currency,
    }


def write_rooms(archive: zipfile.ZipFile, user: User) -> None:
    from rooms.models import Participant, PinnedLink, Room

    hosted = Room.objects.filter(host=user).prefetch_related("room_topics__tag").order_by("created_at")
    _write_json(
        archive,
        "rooms/hosted.json",
        [
            {
                "id": room.pk,
                "title": room.title,
                "description": room.description,
                "state": room.state,
                "topics": [rt.tag.name for rt in room.room_topics.all()],
                "recorded": room.is_recorded,
                "scheduled_for": _iso(room.scheduled_for),
                "started_at": _iso(room.started_at),
                "ended_at": _iso(room.ended_at),
                "tickets": _ticket_sales(room),
            }
            for room in hosted
        ],
    )
    joined = Participant.objects.filter(user=user).exclude(room__host=user).select_related("room")
    _write_json(
        archive,
        "rooms/joined.json",
        [
            {"room": p.room.title, "room_id": p.room_id, "role": p.role, "joined_at": _iso(p.joined_at)}
            for p in joined
        ],
    )
    pinned = PinnedLink.objects.filter(pinned_by=user).select_related("room").order_by("created_at", "pk")
    _write_json(
        archive,
        "rooms/pinned_links.json",
        [
            {
                "room": link.room.title,
                "room_id": link.room_id,
                "title": link.title,
                "url": link.url,
                "pinned_at": _iso(link.created_at),
            }
            for link in pinned
        ],
    )


def write_tickets(archive: zipfile.ZipFile, user: User) -> None:
    """The tickets the person bought, with what they paid and what came back."""
    from rooms.selectors import tickets_of_buyer

    _write_json(
        archive,
        "tickets.json",
        [
            {
                "room": ticket.room.title,
                "room_id": ticket.room_id,
                "host": f"@{ticket.room.host.handle}",
                "status": ticket.status,
                "amount": _money(ticket.amount),
                "currency": ticket.currency,
                "bought_at": _iso(ticket.created_at),
                "payment": {
                    "provider": ticket.provider,
                    "paid_at": _iso(ticket.paid_at),
                    "payment_id": ticket.payment_id,
                }
                if ticket.paid_at
                else None,
                "refund": {
                    "reason": ticket.refund_reason,
                    "requested_at": _iso(ticket.refund_requested_at),
                    "refunded_at": _iso(ticket.refunded_at),
                    "refund_id": ticket.refund_id,
                }
                if ticket.refund_requested_at
                else None,
            }
            for ticket in tickets_of_buyer(user=user)
        ],
    )


def write_questions(archive: zipfile.ZipFile, user: User) -> None:
    """The questions the person asked in rooms' Q&A queues, and the ones they voted for."""
    from rooms.models import Question, QuestionVote

    asked = Question.objects.filter(asker=user).select_related("room").order_by("created_at", "pk")
    votes = QuestionVote.objects.filter(user=user).select_related("question__room").order_by("created_at")
    _write_json(
        archive,
        "questions.json",
        {
            "asked": [
                {
                    "room": question.room.title,
                    "room_id": question.room_id,
                    "text": question.text,
                    "state": question.state,
                    "votes": question.vote_count,
                    "asked_at": _iso(question.created_at),
                    "answered_at": _iso(question.answered_at),
                    "closed_at": _iso(question.closed_at),
                }
                for question in asked
            ],
            "voted_for": [
                {
                    "room": vote.question.room.title,
                    "room_id": vote.question.room_id,
                    # Someone else's words: not once a moderator, the host or a co-host took them down.
                    "question": None if vote.question.state == Question.State.REMOVED else vote.question.text,
                    "voted_at": _iso(vote.created_at),
                }
                for vote in votes
            ],
        },
    )


def write_reminders_and_invitations(archive: zipfile.ZipFile, user: User) -> None:
    from rooms.models import Reminder, RoomInvitation

    reminders = Reminder.objects.filter(user=user).select_related("room").order_by("created_at", "pk")
    _write_json(
        archive,
        "reminders.json",
        [
            {
                "room": reminder.room.title,
                "room_id": reminder.room_id,
                "scheduled_for": _iso(reminder.room.scheduled_for),
                "asked_at": _iso(reminder.created_at),
                "notified_at": _iso(reminder.notified_at),
            }
            for reminder in reminders
        ],
    )
    received = RoomInvitation.objects.filter(invitee=user).select_related("room", "invited_by")
    sent = RoomInvitation.objects.filter(invited_by=user).select_related("room", "invitee")
    _write_json(
        archive,
        "invitations.json",
        {
            "received": [
                {
                    "room": invitation.room.title,
                    "room_id": invitation.room_id,
                    "invited_by": f"@{invitation.invited_by.handle}" if invitation.invited_by else None,
                    "to_speak": invitation.to_speak,
                    "at": _iso(invitation.created_at),
                }
                for invitation in received.order_by("created_at", "pk")
            ],
            "sent": [
                {
                    "room": invitation.room.title,
                    "room_id": invitation.room_id,
                    "invitee": f"@{invitation.invitee.handle}",
                    "to_speak": invitation.to_speak,
                    "at": _iso(invitation.created_at),
                }
                for invitation in sent.order_by("created_at", "pk")
            ],
        },
    )


def write_recordings(archive: zipfile.ZipFile, user: User) -> None:
    from recordings.models import Recording
    from recordings.services import RecordingFiles

    listing = []
    for recording in Recording.objects.filter(room__host=user).select_related("room").order_by("pk"):
        entry = {
            "room": recording.room.title,
            "status": recording.status,
            "duration_ms": recording.duration_ms,
            "plays": recording.play_count,
            "published_at": _iso(recording.published_at),
            "audio": None,
        }
        replay = RecordingFiles(recording.room_id).replay
        if recording.status == Recording.Status.READY and replay.exists():
            entry["audio"] = f"recordings/{recording.pk}.m4a"
            # Audio is already compressed: store it, do not spend CPU deflating it again.
            archive.write(replay, entry["audio"], compress_type=zipfile.ZIP_STORED)
        listing.append(entry)
    _write_json(archive, "recordings/recordings.json", listing)


def write_transcripts(archive: zipfile.ZipFile, user: User) -> None:
    """Transcripts of the replays the person hosts, and what they said in other people's replays."""
    from recordings.selectors import transcripts_for_export

    _write_json(archive, "transcripts.json", transcripts_for_export(user=user))


def write_clips(archive: zipfile.ZipFile, user: User) -> None:
    """The clips the person made, with their audio (Ogg Opus)."""
    from recordings.selectors import clips_for_export
    from recordings.services import ClipFiles

    listing = []
    for clip in clips_for_export(user=user):
        entry = {
            "title": clip.title,
            "room": clip.recording.room.title,
            "start_ms": clip.start_ms,
            "end_ms": clip.end_ms,
            "status": clip.status,
            "made_at": _iso(clip.created_at),
            "captions": clip.caption_text,
            "audio": None,
        }
        audio = ClipFiles(clip.pk).audio
        if clip.status == clip.Status.READY and audio.exists():
            entry["audio"] = f"clips/{clip.pk}.ogg"
            archive.write(audio, entry["audio"], compress_type=zipfile.ZIP_STORED)
        listing.append(entry)
    _write_json(archive, "clips/clips.json", listing)


def write_notifications(archive: zipfile.ZipFile, user: User) -> None:
    _write_json(
        archive,
        "notifications.json",
        [
            {
                "kind": n.kind,
                "text": n.text,
                "url": n.url,
                "at": _iso(n.created_at),
                "read_at": _iso(n.read_at),
            }
            for n in Notification.objects.filter(recipient=user)
        ],
    )
    chosen = set(NotificationPreference.objects.filter(user=user).values_list("kind", flat=True))
    _write_json(
        archive,
        "notification_settings.json",
        [
            {
                "kind": kind,
                "label": label,
                "in_app": choice.in_app,
                "email": choice.email,
                "chosen": kind in chosen,
            }
            for kind, label, choice in notification_preferences(user=user)
        ],
    )


def write_reports(archive: zipfile.ZipFile, user: User) -> None:
    from moderation.models import Report

    _write_json(
        archive,
        "reports_filed.json",
        [
            {
                "target": f"{r.target_type} {r.target}",
                "reason": r.reason,
                "note": r.note,
                "status": r.status,
                "filed_at": _iso(r.created_at),
            }
            for r in Report.objects.filter(reporter=user).select_related(
                "target_room", "target_user", "target_recording__room"
            )
        ],
    )


@dataclass(frozen=True)
class Section:
    label: str
    write: Callable[[zipfile.ZipFile, User], None]
    # Each way a row is tied to the person that this section exports, as "app_label.Model.lookup"
    # (the lookup from that model to the user), and the file of the archive that holds those rows.
    holds: Mapping[str, str]


SECTIONS = [
    Section("Your profile", write_profile, {"account.EmailAddress.user": "profile.json"}),
    Section(
        "Follows and blocks",
        write_social_graph,
        {
            "accounts.Follow.follower": "follows.json",
            "accounts.Follow.followee": "follows.json",
            "accounts.Block.blocker": "blocks.json",
        },
    ),
    Section(
        "Your rooms",
        write_rooms,
        {
            "rooms.Room.host": "rooms/hosted.json",
            "rooms.RoomTopic.room__host": "rooms/hosted.json",
            "rooms.Ticket.room__host": "rooms/hosted.json",  # the sales figures, not the buyers
            "rooms.Participant.user": "rooms/joined.json",
            "rooms.PinnedLink.pinned_by": "rooms/pinned_links.json",
        },
    ),
    Section("Your tickets", write_tickets, {"rooms.Ticket.buyer": "tickets.json"}),
    Section(
        "Questions and votes",
        write_questions,
        {"rooms.Question.asker": "questions.json", "rooms.QuestionVote.user": "questions.json"},
    ),
    Section(
        "Reminders and invitations",
        write_reminders_and_invitations,
        {
            "rooms.Reminder.user": "reminders.json",
            "rooms.RoomInvitation.invitee": "invitations.json",
            "rooms.RoomInvitation.invited_by": "invitations.json",
        },
    ),
    Section(
        "Your recordings", write_recordings, {"recordings.Recording.room__host": "recordings/recordings.json"}
    ),
    Section(
        "Transcripts",
        write_transcripts,
        {
            "recordings.Transcript.recording__room__host": "transcripts.json",
            "recordings.TranscriptLine.transcript__recording__room__host": "transcripts.json",
            "recordings.TranscriptLine.speaker": "transcripts.json",
        },
    ),
    Section("Your clips", write_clips, {"recordings.Clip.created_by": "clips/clips.json"}),
    Section(
        "Notifications",
        write_notifications,
        {
            "accounts.Notification.recipient": "notifications.json",
            "accounts.NotificationPreference.user": "notification_settings.json",
        },
    ),
    Section("Reports you filed", write_reports, {"moderation.Report.reporter": "reports_filed.json"}),
]

# Every relation exported, and the file that holds its rows.
EXPORTED: dict[str, str] = {
    relation: file for section in SECTIONS for relation, file in section.holds.items()
}

_REPORTS_ABOUT = "Reports are the moderators' record, and would name who filed them."

# Every other relation to a person (or to something of theirs that is exported), and why it is not.
NOT_EXPORTED: dict[str, str] = {
    "admin.LogEntry.user": "The admin site's log of what a staff member changed there: staff work, not the person's data.",
    "account.EmailConfirmation.email_address__user": "One-time keys that confirmed an address; the addresses are in profile.json.",
    "accounts.Block.blocked": "Who blocked the person stays the blocker's own business.",
    "accounts.Notification.actor": "Other people's notifications of what the person did; the person's own are exported.",
    "accounts.Notification.room__host": "Other people's notifications about the person's rooms.",
    "accounts.DataExport.user": "The archives themselves; the latest one's state is on the settings page.",
    "rooms.Participant.room__host": "Other people's places in the person's rooms.",
    "rooms.PinnedLink.room__host": "Links a co-host pinned in the person's room are the co-host's; the person's own pins are exported.",
    "rooms.Reminder.room__host": "Other people's reminders of the person's rooms.",
    "rooms.RoomInvitation.room__host": "Invitations a co-host sent to the person's room are the co-host's; the person's own are exported.",
    "rooms.Question.room__host": "Other people's questions in the person's rooms.",
    "rooms.QuestionVote.question__asker": "Who voted for the person's questions is theirs to know; the count is in questions.json.",
    "recordings.Clip.recording__room__host": "Clips other people made of the person's replays are theirs; the person's own are exported.",
    "moderation.Report.target_user": _REPORTS_ABOUT,
    "moderation.Report.target_room__host": _REPORTS_ABOUT,
    "moderation.Report.target_recording__room__host": _REPORTS_ABOUT,
    "moderation.Report.target_question__asker": _REPORTS_ABOUT,
    "moderation.Report.target_clip__created_by": _REPORTS_ABOUT,
    "moderation.Report.assignee": "The queue a moderator works through: staff work, not the person's data.",
    "moderation.AuditLogEntry.report__reporter": "What moderators did about a report is their record; the report is exported.",
    "moderation.AuditLogEntry.actor": "The log of what a moderator did, kept for accountability: staff work.",
}

README = """This archive holds the data Spaces keeps about you.

profile.json              your profile and email addresses (and avatar.jpg, if you had one)
follows.json              who you follow and who follows you
blocks.json               who you blocked
rooms/hosted.json         the rooms you hosted or scheduled, with the tickets you sold for them
rooms/joined.json         the rooms you joined
rooms/pinned_links.json   the links you pinned in rooms
tickets.json              the tickets you bought: what you paid, and any refund
questions.json            the questions you asked in rooms, and the ones you voted for
reminders.json            the rooms you asked to be reminded of
invitations.json          the invitations to rooms you received and sent
recordings/               your recordings: recordings.json and the audio of each replay
transcripts.json          the transcripts of your replays, and your lines in other people's replays
clips/                    the clips you made: clips.json and the audio of each clip
notifications.json        your notifications
notification_settings.json  how you get each kind of notification
reports_filed.json        the reports you filed
"""
