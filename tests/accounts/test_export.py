"""Everything Spaces keeps about a person is in their archive, or left out for a stated reason
(issue 21). The list of what ties a row to a person is read from the app registry, so a model added
later fails here until accounts/export.py exports it or says why not."""

import json
import zipfile
from collections.abc import Callable
from datetime import timedelta

import pytest
from allauth.account.models import EmailAddress
from django.apps import apps
from django.conf import settings
from django.contrib.auth import get_user_model
from django.utils import timezone

from accounts.export import EXPORTED, NOT_EXPORTED, SECTIONS, readme
from accounts.models import Block, Follow, Notification, NotificationPreference, User
from accounts.services import data_export_build, data_export_directory, data_export_request
from moderation.services import report_create
from recordings.models import Clip, Transcript, TranscriptLine
from rooms.models import (
    ListenerSession,
    Participant,
    PinnedLink,
    Question,
    QuestionVote,
    Reminder,
    Room,
    RoomInvitation,
    RoomTopic,
    Tag,
    Ticket,
)
from tests.factories import RecordingFactory, RoomFactory, UserFactory

pytestmark = pytest.mark.django_db

# How deep the walk follows relations through the person's exported things (a transcript line of a
# transcript of a recording of their room is three steps from the room's host).
MAX_DEPTH = 4


def _relations_to(target) -> list[tuple[type, str]]:
    """(model, field name) of every forward relation (foreign key, one-to-one, many-to-many) of an
    installed model that points at `target`."""
    return [
        (model, field.name)
        for model in apps.get_models()
        for field in model._meta.get_fields()
        if field.is_relation and not field.auto_created and field.related_model is target
    ]


def relations_about_a_person() -> set[str]:
    """Every way a row is tied to a person, as "app_label.Model.lookup": the relations that point at
    the user model, and, through each relation the archive exports, the relations that point at
    those rows (the recordings of the person's rooms, the lines of their transcripts, ...)."""
    found: set[str] = set()
    to_walk = [(get_user_model(), "")]
    while to_walk:
        target, lookup = to_walk.pop()
        for model, field in _relations_to(target):
            path = f"{field}__{lookup}" if lookup else field
            relation = f"{model._meta.label}.{path}"
            if relation in found:
                continue
            found.add(relation)
            if relation in EXPORTED and path.count("__") < MAX_DEPTH:
                to_walk.append((model, path))
    return found


def test_every_relation_to_a_person_is_exported_or_left_out_with_its_reason():
    found = relations_about_a_person()
    undeclared = sorted(found - set(EXPORTED) - set(NOT_EXPORTED))
    assert not undeclared, (
        "These tie rows to a person: export them (a Section in accounts/export.py) or add them to "
        f"NOT_EXPORTED with the reason: {undeclared}"
    )
    assert not set(EXPORTED) & set(NOT_EXPORTED)
    assert sorted((set(EXPORTED) | set(NOT_EXPORTED)) - found) == [], "declared, but no such relation"
    assert all(isinstance(reason, str) and len(reason) > 20 for reason in NOT_EXPORTED.values())
    # The README inside the archive names every file the sections write.
    assert all(file.split("/")[0] in readme() for file in EXPORTED.values())


def test_the_walk_sees_a_relation_through_the_persons_rooms():
    """The walk is not vacuous: it finds the direct relations and the ones through exported rows."""
    found = relations_about_a_person()
    assert {
        "rooms.Ticket.buyer",
        "rooms.QuestionVote.user",
        "recordings.Recording.room__host",
        "recordings.TranscriptLine.transcript__recording__room__host",
        "accounts.Block.blocked",
    } <= found


# -- one of each, and where the archive has it ----------------------------------------------------


def _other_room(title: str, **fields) -> Room:
    return RoomFactory(title=title, **fields)


def _email_address(person: User) -> list[dict]:
    EmailAddress.objects.create(user=person, email="second@example.com", verified=True, primary=False)
    return [{"email": "second@example.com", "verified": True, "primary": False}]


def _following(person: User) -> list[dict]:
    Follow.objects.create(follower=person, followee=UserFactory(handle="followed-one"))
    return [{"handle": "followed-one"}]


def _followed(person: User) -> list[dict]:
    Follow.objects.create(follower=UserFactory(handle="a-follower"), followee=person)
    return [{"handle": "a-follower"}]


def _blocking(person: User) -> list[dict]:
    Block.objects.create(blocker=person, blocked=UserFactory(handle="blocked-one"))
    return [{"handle": "blocked-one"}]


def _notification(person: User) -> list[dict]:
    Notification.objects.create(
        recipient=person, kind=Notification.Kind.NEW_FOLLOWER, text="Wren followed you"
    )
    return [{"kind": "new_follower", "text": "Wren followed you"}]


def _notification_choice(person: User) -> list[dict]:
    # No kind's default is "neither in the app nor by email": only the person's choice writes this.
    NotificationPreference.objects.create(
        user=person, kind=Notification.Kind.REMINDER, in_app=False, email=False
    )
    return [{"kind": "reminder", "in_app": False, "email": False, "chosen": True}]


def _hosted_room(person: User) -> list[dict]:
    RoomFactory(host=person, title="Birdsong at dawn", scheduled=True)
    return [{"title": "Birdsong at dawn", "state": "scheduled"}]


def _topic(person: User) -> list[dict]:
    room = RoomFactory(host=person, title="Topical room", scheduled=True)
    RoomTopic.objects.create(
        room=room, tag=Tag.objects.create(name="ornithology", slug="ornithology"), position=1
    )
    return [{"title": "Topical room", "topics": ["ornithology"]}]


def _sale(person: User) -> list[dict]:
    now = timezone.now()
    room = RoomFactory(
        host=person,
        title="Sold room",
        state=Room.State.ENDED,
        started_at=now - timedelta(hours=2),
        ended_at=now - timedelta(hours=1),
        ticket_price=500,
        ticket_capacity=10,
        tickets_taken=1,
    )
    Ticket.objects.create(
        room=room,
        buyer=UserFactory(),
        status=Ticket.Status.PAID,
        amount=500,
        currency=settings.CURRENCY,
        provider="development",
        paid_at=now - timedelta(days=1),
    )
    figures = {"price": "5.00", "seats": 10, "sold": 1, "revenue": "5.00", "refunds": 0, "refunded": "0.00"}
    return [{"title": "Sold room", "tickets": {**figures, "currency": settings.CURRENCY}}]


def _joined(person: User) -> list[dict]:
    Participant.objects.create(room=_other_room("Someone else's room"), user=person)
    return [{"room": "Someone else's room", "role": "listener"}]


def _listened(person: User) -> list[dict]:
    room = _other_room("A room I listened to")
    joined = timezone.now() - timedelta(minutes=30)
    ListenerSession.objects.create(
        room=room, key="k-archived", user=person, route="hls", source="search", joined_at=joined
    )
    return [
        {
            "room": "A room I listened to",
            "route": "hls",
            "came_from": "search",
            "joined_at": joined.isoformat(),
        }
    ]


def _pinned(person: User) -> list[dict]:
    PinnedLink.objects.create(
        room=_other_room("Linked room"),
        title="Field guide",
        url="https://example.com/guide",
        pinned_by=person,
    )
    return [{"room": "Linked room", "title": "Field guide", "url": "https://example.com/guide"}]


def _tickets(person: User) -> list[dict]:
    now = timezone.now()
    terms = {"buyer": person, "amount": 500, "currency": settings.CURRENCY, "provider": "stripe"}
    Ticket.objects.create(
        room=_other_room("Paid talk"),
        **terms,
        status=Ticket.Status.PAID,
        payment_id="pi_archive_paid",
        paid_at=now,
    )
    Ticket.objects.create(
        room=_other_room("Cancelled talk", state=Room.State.CANCELLED, started_at=None),
        **terms,
        status=Ticket.Status.REFUNDED,
        payment_id="pi_archive_refunded",
        paid_at=now - timedelta(days=2),
        refund_requested_at=now - timedelta(days=1),
        refund_reason="cancelled",
        refund_id="re_archive",
        refunded_at=now,
    )
    return [
        {"room": "Paid talk", "status": "paid", "amount": "5.00", "currency": settings.CURRENCY},
        {"provider": "stripe", "payment_id": "pi_archive_paid"},
        {"room": "Cancelled talk", "status": "refunded"},
        {"payment_id": "pi_archive_refunded"},
        {"reason": "cancelled", "refund_id": "re_archive"},
    ]


def _question(person: User) -> list[dict]:
    Question.objects.create(room=_other_room("Q&A room"), asker=person, text="Which bird sings first?")
    return [{"room": "Q&A room", "text": "Which bird sings first?", "state": "open"}]


def _vote(person: User) -> list[dict]:
    question = Question.objects.create(
        room=_other_room("Owl room"), asker=UserFactory(), text="Do owls migrate?", vote_count=1
    )
    QuestionVote.objects.create(question=question, user=person)
    return [{"room": "Owl room", "question": "Do owls migrate?"}]


def _reminder(person: User) -> list[dict]:
    Reminder.objects.create(room=_other_room("Owl hour", scheduled=True), user=person)
    return [{"room": "Owl hour"}]


def _invited(person: User) -> list[dict]:
    room = _other_room("Invited in", scheduled=True)
    RoomInvitation.objects.create(room=room, invitee=person, invited_by=room.host)
    return [{"room": "Invited in", "invited_by": f"@{room.host.handle}"}]


def _inviting(person: User) -> list[dict]:
    room = _other_room("Bring a friend", scheduled=True)
    RoomInvitation.objects.create(room=room, invitee=UserFactory(handle="guest-one"), invited_by=person)
    return [{"room": "Bring a friend", "invitee": "@guest-one"}]


def _recording(person: User) -> list[dict]:
    RecordingFactory(room__host=person, room__title="Morning show")
    return [{"room": "Morning show", "status": "ready"}]


def _transcript(person: User) -> list[dict]:
    recording = RecordingFactory(room__host=person, room__title="Transcribed show")
    Transcript.objects.create(recording=recording, status=Transcript.Status.READY)
    return [{"room_title": "Transcribed show", "role": "host"}]


def _line_in_my_replay(person: User) -> list[dict]:
    recording = RecordingFactory(room__host=person, room__title="Guest show")
    transcript = Transcript.objects.create(recording=recording, status=Transcript.Status.READY)
    TranscriptLine.objects.create(
        transcript=transcript,
        speaker=UserFactory(),
        speaker_name="Guest",
        end_ms=900,
        text="Thanks for having me.",
    )
    return [{"speaker": "Guest", "text": "Thanks for having me."}]


def _line_i_said(person: User) -> list[dict]:
    recording = RecordingFactory(room__title="Someone else's show")
    transcript = Transcript.objects.create(recording=recording, status=Transcript.Status.READY)
    TranscriptLine.objects.create(
        transcript=transcript, speaker=person, speaker_name=person.name, end_ms=900, text="Said elsewhere."
    )
    return [{"room_title": "Someone else's show", "role": "speaker"}, {"text": "Said elsewhere."}]


def _clip(person: User) -> list[dict]:
    Clip.objects.create(
        recording=RecordingFactory(room__title="Clipped show"),
        created_by=person,
        title="Best bit",
        source=Clip.Source.REPLAY,
        start_ms=1000,
        end_ms=5000,
    )
    return [{"title": "Best bit", "room": "Clipped show"}]


def _report(person: User) -> list[dict]:
    report_create(
        reporter=person,
        target_type="user",
        target_id=UserFactory().pk,
        reason="spam",
        note="Keeps posting links",
    )
    return [{"reason": "spam", "note": "Keeps posting links"}]


# Per exported relation: make one row of it for the person; return what the archive shows of it.
ONE_OF_EACH: dict[str, Callable[[User], list[dict]]] = {
    "account.EmailAddress.user": _email_address,
    "accounts.Follow.follower": _following,
    "accounts.Follow.followee": _followed,
    "accounts.Block.blocker": _blocking,
    "accounts.Notification.recipient": _notification,
    "accounts.NotificationPreference.user": _notification_choice,
    "rooms.Room.host": _hosted_room,
    "rooms.RoomTopic.room__host": _topic,
    "rooms.Ticket.room__host": _sale,
    "rooms.Participant.user": _joined,
    "rooms.ListenerSession.user": _listened,
    "rooms.PinnedLink.pinned_by": _pinned,
    "rooms.Ticket.buyer": _tickets,
    "rooms.Question.asker": _question,
    "rooms.QuestionVote.user": _vote,
    "rooms.Reminder.user": _reminder,
    "rooms.RoomInvitation.invitee": _invited,
    "rooms.RoomInvitation.invited_by": _inviting,
    "recordings.Recording.room__host": _recording,
    "recordings.Transcript.recording__room__host": _transcript,
    "recordings.TranscriptLine.transcript__recording__room__host": _line_in_my_replay,
    "recordings.TranscriptLine.speaker": _line_i_said,
    "recordings.Clip.created_by": _clip,
    "moderation.Report.reporter": _report,
}


def _holds(data, fragment: dict) -> bool:
    """Whether some object anywhere in the JSON `data` has every key and value of `fragment`."""
    if isinstance(data, dict):
        if all(key in data and data[key] == value for key, value in fragment.items()):
            return True
        return any(_holds(value, fragment) for value in data.values())
    if isinstance(data, list):
        return any(_holds(item, fragment) for item in data)
    return False


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


def test_the_archive_of_a_person_with_one_of_each_thing_holds_each_of_them():
    assert set(ONE_OF_EACH) == set(EXPORTED), "each exported relation needs its row here"
    person = UserFactory(handle="archived")
    expected = {relation: make(person) for relation, make in ONE_OF_EACH.items()}
    export = data_export_build(export_id=data_export_request(user=person).pk)
    assert export.status == "ready"
    with zipfile.ZipFile(data_export_directory() / export.file_name) as archive:
        files = set(archive.namelist())
        assert {"README.txt", *EXPORTED.values()} <= files
        missing = []
        for relation, fragments in expected.items():
            data = json.loads(archive.read(EXPORTED[relation]))
            missing += [(relation, fragment) for fragment in fragments if not _holds(data, fragment)]
        assert not missing, missing
        # Each section wrote what it declares.
        for section in SECTIONS:
            assert set(section.holds.values()) <= files, section.label


def test_the_archive_leaves_out_other_peoples_words_once_they_were_taken_down():
    person = UserFactory()
    question = Question.objects.create(
        room=_other_room("Moderated room"),
        asker=UserFactory(),
        text="Something rude",
        state=Question.State.REMOVED,
    )
    QuestionVote.objects.create(question=question, user=person)
    export = data_export_build(export_id=data_export_request(user=person).pk)
    with zipfile.ZipFile(data_export_directory() / export.file_name) as archive:
        questions = json.loads(archive.read("questions.json"))
    (vote,) = questions["voted_for"]
    assert vote["room"] == "Moderated room" and vote["question"] is None
    assert "Something rude" not in json.dumps(questions)
