"""rooms' part of a person's data archive (accounts/export.py): the rooms they hosted, with the
tickets they sold, the rooms they joined and the links they pinned, the tickets they bought, their
questions and votes, reminders and invitations. RoomsConfig.ready registers these sections."""

import zipfile
from decimal import Decimal

from django.utils.translation import gettext_noop

from accounts.export import Section, iso, register, write_json
from accounts.models import User

from .analytics import export as analytics_export
from .models import Participant, PinnedLink, Question, QuestionVote, Reminder, Room, RoomInvitation
from .selectors import ticket_sales, tickets_of_buyer


def _money(amount: int | None) -> str | None:
    """A minor-unit amount as a decimal ("5.00"), as the host's CSV writes it."""
    return None if amount is None else f"{Decimal(amount) / 100:.2f}"


def _ticket_sales(room) -> dict | None:
    """What the host sold of a ticketed room (rooms.selectors.ticket_sales: the figures of its page)."""
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
    hosted = Room.objects.filter(host=user).prefetch_related("room_topics__tag").order_by("created_at")
    write_json(
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
                "scheduled_for": iso(room.scheduled_for),
                "started_at": iso(room.started_at),
                "ended_at": iso(room.ended_at),
                "tickets": _ticket_sales(room),
            }
            for room in hosted
        ],
    )
    joined = Participant.objects.filter(user=user).exclude(room__host=user).select_related("room")
    write_json(
        archive,
        "rooms/joined.json",
        [
            {"room": p.room.title, "room_id": p.room_id, "role": p.role, "joined_at": iso(p.joined_at)}
            for p in joined
        ],
    )
    pinned = PinnedLink.objects.filter(pinned_by=user).select_related("room").order_by("created_at", "pk")
    write_json(
        archive,
        "rooms/pinned_links.json",
        [
            {
                "room": link.room.title,
                "room_id": link.room_id,
                "title": link.title,
                "url": link.url,
                "pinned_at": iso(link.created_at),
            }
            for link in pinned
        ],
    )


def write_tickets(archive: zipfile.ZipFile, user: User) -> None:
    """The tickets the person bought, with what they paid and what came back."""
    write_json(
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
                "bought_at": iso(ticket.created_at),
                "payment": {
                    "provider": ticket.provider,
                    "paid_at": iso(ticket.paid_at),
                    "payment_id": ticket.payment_id,
                }
                if ticket.paid_at
                else None,
                "refund": {
                    "reason": ticket.refund_reason,
                    "requested_at": iso(ticket.refund_requested_at),
                    "refunded_at": iso(ticket.refunded_at),
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
    asked = Question.objects.filter(asker=user).select_related("room").order_by("created_at", "pk")
    votes = QuestionVote.objects.filter(user=user).select_related("question__room").order_by("created_at")
    write_json(
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
                    "asked_at": iso(question.created_at),
                    "answered_at": iso(question.answered_at),
                    "closed_at": iso(question.closed_at),
                }
                for question in asked
            ],
            "voted_for": [
                {
                    "room": vote.question.room.title,
                    "room_id": vote.question.room_id,
                    # Someone else's words: not once a moderator, the host or a co-host took them down.
                    "question": None if vote.question.state == Question.State.REMOVED else vote.question.text,
                    "voted_at": iso(vote.created_at),
                }
                for vote in votes
            ],
        },
    )


def write_reminders_and_invitations(archive: zipfile.ZipFile, user: User) -> None:
    reminders = Reminder.objects.filter(user=user).select_related("room").order_by("created_at", "pk")
    write_json(
        archive,
        "reminders.json",
        [
            {
                "room": reminder.room.title,
                "room_id": reminder.room_id,
                "scheduled_for": iso(reminder.room.scheduled_for),
                "asked_at": iso(reminder.created_at),
                "notified_at": iso(reminder.notified_at),
            }
            for reminder in reminders
        ],
    )
    received = RoomInvitation.objects.filter(invitee=user).select_related("room", "invited_by")
    sent = RoomInvitation.objects.filter(invited_by=user).select_related("room", "invitee")
    write_json(
        archive,
        "invitations.json",
        {
            "received": [
                {
                    "room": invitation.room.title,
                    "room_id": invitation.room_id,
                    "invited_by": f"@{invitation.invited_by.handle}" if invitation.invited_by else None,
                    "to_speak": invitation.to_speak,
                    "at": iso(invitation.created_at),
                }
                for invitation in received.order_by("created_at", "pk")
            ],
            "sent": [
                {
                    "room": invitation.room.title,
                    "room_id": invitation.room_id,
                    "invitee": f"@{invitation.invitee.handle}",
                    "to_speak": invitation.to_speak,
                    "at": iso(invitation.created_at),
                }
                for invitation in sent.order_by("created_at", "pk")
            ],
        },
    )


SECTIONS = (
    Section(
        gettext_noop("Your rooms"),
        write_rooms,
        {
            "rooms.Room.host": "rooms/hosted.json",
            "rooms.RoomTopic.room__host": "rooms/hosted.json",
            "rooms.Ticket.room__host": "rooms/hosted.json",  # the sales figures, not the buyers
            "rooms.Participant.user": "rooms/joined.json",
            "rooms.PinnedLink.pinned_by": "rooms/pinned_links.json",
        },
        {
            "rooms/hosted.json": gettext_noop(
                "the rooms you hosted or scheduled, with the tickets you sold for them"
            ),
            "rooms/joined.json": gettext_noop("the rooms you joined"),
            "rooms/pinned_links.json": gettext_noop("the links you pinned in rooms"),
        },
    ),
    Section(
        gettext_noop("Your tickets"),
        write_tickets,
        {"rooms.Ticket.buyer": "tickets.json"},
        {"tickets.json": gettext_noop("the tickets you bought: what you paid, and any refund")},
    ),
    Section(
        gettext_noop("Questions and votes"),
        write_questions,
        {"rooms.Question.asker": "questions.json", "rooms.QuestionVote.user": "questions.json"},
        {"questions.json": gettext_noop("the questions you asked in rooms, and the ones you voted for")},
    ),
    Section(
        gettext_noop("Reminders and invitations"),
        write_reminders_and_invitations,
        {
            "rooms.Reminder.user": "reminders.json",
            "rooms.RoomInvitation.invitee": "invitations.json",
            "rooms.RoomInvitation.invited_by": "invitations.json",
        },
        {
            "reminders.json": gettext_noop("the rooms you asked to be reminded of"),
            "invitations.json": gettext_noop("the invitations to rooms you received and sent"),
        },
    ),
)

NOT_EXPORTED = {
    "rooms.Participant.room__host": "Other people's places in the person's rooms.",
    "rooms.PinnedLink.room__host": "Links a co-host pinned in the person's room are the co-host's; the person's own pins are exported.",
    "rooms.Reminder.room__host": "Other people's reminders of the person's rooms.",
    "rooms.RoomInvitation.room__host": "Invitations a co-host sent to the person's room are the co-host's; the person's own are exported.",
    "rooms.Question.room__host": "Other people's questions in the person's rooms.",
    "rooms.QuestionVote.question__asker": "Who voted for the person's questions is theirs to know; the count is in questions.json.",
}


def register_sections() -> None:
    """Add these sections to the archive (RoomsConfig.ready)."""
    register(*SECTIONS, analytics_export.SECTION, not_exported=NOT_EXPORTED | analytics_export.NOT_EXPORTED)
