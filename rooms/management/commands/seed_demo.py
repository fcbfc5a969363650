"""Fill a development database with people, follows and rooms, so every page has something to show."""

from datetime import timedelta

from allauth.account.models import EmailAddress
from django.core.management.base import BaseCommand
from django.utils import timezone

from accounts import services as account_services
from accounts.models import User
from rooms import services as room_services
from rooms.models import Room
from spaces_project.errors import ServiceError

DEMO_PASSWORD = "spaces-demo-2025"

PEOPLE = [
    ("alice", "Alice Martin", "Hosts a weekly chat about Python and open source."),
    ("bob", "Bob Okafor", "Jazz pianist. Talks about music theory at odd hours."),
    ("carol", "Carol Nguyen", "Product designer; loves a good critique session."),
    ("dan", "Dan Kowalski", "Runs a book club for science fiction readers."),
    ("erin", "Erin Walsh", "Startup founder. Ask me about fundraising."),
    ("frank", "Frank Rossi", "Home cook, bread baker, sourdough evangelist."),
    ("grace", "Grace Lee", "Astronomer. Clear skies and long nights."),
    ("hassan", "Hassan Karimi", "Indie game developer and pixel artist."),
    ("ines", "Inês Costa", "Learning languages in public: Portuguese, Japanese, Welsh."),
    ("jonas", "Jonas Berg", "Trail runner and amateur photographer."),
    ("keiko", "Keiko Tanaka", "Writes about climate tech and energy."),
    ("leo", "Leo Fischer", "Podcaster. Here for the late-night conversations."),
]

# (host, title, topics, description, recorded)
LIVE_ROOMS = [
    ("bob", "Late night jazz standards, bring your questions", ["music", "jazz"], "", False),
    (
        "carol",
        "Design critique: portfolios welcome",
        ["design", "careers"],
        "Share a link, get feedback.",
        True,
    ),
    ("dan", "Book club: The Left Hand of Darkness", ["books", "scifi"], "Chapters 1 to 6.", False),
    ("erin", "Fundraising in 2025: what changed", ["startups", "money"], "", True),
    ("frank", "Sourdough troubleshooting clinic", ["food", "baking"], "Flat loaves? Come in.", False),
    ("grace", "What is in the sky tonight", ["space", "science"], "", False),
]

# (host, title, topics, hours ahead)
UPCOMING_ROOMS = [
    ("alice", "Python open source office hours", ["python", "opensource"], 20),
    ("hassan", "Pixel art for absolute beginners", ["gamedev", "art"], 30),
    ("ines", "Language exchange: Portuguese and English", ["languages"], 48),
    ("jonas", "Trail running gear talk", ["running", "outdoors"], 72),
    ("keiko", "Heat pumps explained", ["climate", "energy", "science"], 100),
    ("leo", "Podcasting on a budget", ["podcasts", "audio"], 150),
]


def _follows() -> list[tuple[str, str]]:
    handles = [handle for handle, _, _ in PEOPLE]
    pairs = {(handle, "alice") for handle in handles if handle != "alice"}
    # Alice follows a few live hosts, so the "people you follow" row has something in it.
    pairs |= {("alice", handle) for handle in ("bob", "carol", "grace", "keiko")}
    for index, handle in enumerate(handles):
        for step in (1, 2, 5):
            other = handles[(index + step) % len(handles)]
            if other != handle:
                pairs.add((handle, other))
    return sorted(pairs)


class Command(BaseCommand):
    help = "Create demo people, follows and live and upcoming rooms. Safe to run again."

    def handle(self, *args, **options):
        people = {handle: self._person(handle, name, bio) for handle, name, bio in PEOPLE}
        now = timezone.now()
        created_rooms = 0
        # Rooms before follows: going live notifies followers, and a demo needs no burst of emails.
        for host, title, topics, description, recorded in LIVE_ROOMS:
            created_rooms += self._room(
                people[host], title, topics, description=description, is_recorded=recorded
            )
        for host, title, topics, hours in UPCOMING_ROOMS:
            created_rooms += self._room(
                people[host], title, topics, start_now=False, scheduled_for=now + timedelta(hours=hours)
            )
        for follower, followee in _follows():
            account_services.follow_create(follower=people[follower], followee=people[followee])
        self._seat_listeners(list(people.values()))
        self.stdout.write(f"{len(people)} demo people, {created_rooms} new rooms.")
        self.stdout.write(self.style.SUCCESS(f"Sign in as alice@example.com with password {DEMO_PASSWORD}"))

    def _person(self, handle: str, name: str, bio: str) -> User:
        user = User.objects.filter(handle__iexact=handle).first()
        if user is None:
            user = User.objects.create_user(handle, f"{handle}@example.com", DEMO_PASSWORD)
            account_services.user_update_profile(user=user, display_name=name, bio=bio)
        EmailAddress.objects.get_or_create(
            user=user, email=user.email, defaults={"verified": True, "primary": True}
        )
        return user

    def _room(self, host: User, title: str, topics: list[str], **options) -> int:
        if Room.objects.filter(
            host=host, title=title, state__in=[Room.State.LIVE, Room.State.SCHEDULED]
        ).exists():
            return 0
        try:
            room_services.room_create(host=host, title=title, topics=topics, **options)
        except ServiceError as error:
            self.stderr.write(f"Skipped “{title}” by @{host.handle}: {error.message}")
            return 0
        return 1

    def _seat_listeners(self, people: list[User]) -> None:
        """Put a few people in each demo live room, so the cards and room pages show an audience."""
        live = Room.objects.filter(
            state=Room.State.LIVE, host__in=people, title__in=[r[1] for r in LIVE_ROOMS]
        )
        for offset, room in enumerate(live.order_by("pk")):
            audience = [p for p in people if p.pk != room.host_id]
            for person in audience[offset % 3 :: 3]:
                try:
                    room_services.participant_join(room_id=room.pk, user=person)
                except ServiceError:
                    continue
