from datetime import timedelta

import factory
from django.utils import timezone

from accounts.models import User
from rooms.models import Participant, Room

PASSWORD = "correct-horse-battery-staple"


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    handle = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda u: f"{u.handle}@example.com")
    display_name = factory.LazyAttribute(lambda u: u.handle.title())
    password = factory.PostGenerationMethodCall("set_password", PASSWORD)

    @factory.post_generation
    def _save(obj, create, extracted, **kwargs):
        if create:
            obj.save()


class RoomFactory(factory.django.DjangoModelFactory):
    """A live room with its host seated. Use `scheduled=True` for an upcoming one."""

    class Meta:
        model = Room
        skip_postgeneration_save = True

    class Params:
        scheduled = factory.Trait(
            state=Room.State.SCHEDULED,
            started_at=None,
            scheduled_for=factory.LazyFunction(lambda: timezone.now() + timedelta(days=1)),
        )

    title = factory.Sequence(lambda n: f"Room number {n}")
    host = factory.SubFactory(UserFactory)
    state = Room.State.LIVE
    started_at = factory.LazyFunction(timezone.now)

    @factory.post_generation
    def seat_host(obj, create, extracted, **kwargs):
        if create and obj.state == Room.State.LIVE:
            Participant.objects.get_or_create(
                room=obj, user=obj.host, defaults={"role": Participant.Role.HOST}
            )


class ReplayFactory(factory.django.DjangoModelFactory):
    """A published replay (the recording row as the finalizing chain leaves it, without its files)
    of an ended recorded room. For lists; tests/recordings makes real ones through the chain."""

    class Meta:
        model = "recordings.Recording"

    room = factory.SubFactory(
        RoomFactory,
        state=Room.State.ENDED,
        is_recorded=True,
        started_at=factory.LazyFunction(lambda: timezone.now() - timedelta(hours=2)),
        ended_at=factory.LazyFunction(lambda: timezone.now() - timedelta(hours=1)),
    )
    status = "ready"
    duration_ms = 45 * 60 * 1000
    published_at = factory.LazyFunction(timezone.now)


# The name the moderation and security tests use for the same published replay.
RecordingFactory = ReplayFactory
