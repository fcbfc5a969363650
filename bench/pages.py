"""Page latency and query counts for the discovery pages, on a throwaway database.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/spaces python bench/pages.py

Creates its own database next to the one DATABASE_URL names (Django's test-database machinery,
named `bench_<name>`), seeds 5,000 people with a follow graph and 1,000 live rooms, times the
home, topic, search and room pages in-process with the test client, and drops the database at
the end: real data is never touched. The last line printed is one JSON object with the figures.
"""

import gc
import json
import os
import random
import statistics
import sys
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "spaces_project.settings.test")

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.contrib.auth.hashers import make_password  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import (  # noqa: E402
    CaptureQueriesContext,
    setup_databases,
    teardown_databases,
)
from django.utils import timezone  # noqa: E402

from accounts.models import Block, Follow, User  # noqa: E402
from recordings.models import Recording  # noqa: E402
from rooms.models import Participant, Room, RoomTopic, Tag  # noqa: E402

USERS = 5_000
FOLLOWS_PER_USER = 20
LIVE_ROOMS = 1_000
UPCOMING_ROOMS = 200
REPLAYS = 500  # published replays of ended rooms, for the home page's Replays row
LISTENERS_PER_ROOM = 5
VIEWER_FOLLOWS_HOSTS = 300
TAGS = 60
REQUESTS = 200
WARMUP = 10
ROOMS_LEFT = 100

WORDS = (
    "music jazz startups ai design crypto football poetry cooking travel science books film "
    "gaming health climate politics history comedy fitness photography coding python django "
    "parenting art fashion space physics"
).split()


def seed(rng: random.Random) -> dict:
    password = make_password("bench-password")
    now = timezone.now()
    users = User.objects.bulk_create(
        User(
            handle=f"person{i:05d}",
            email=f"person{i:05d}@example.com",
            display_name=f"Person {i}",
            password=password,
        )
        for i in range(USERS)
    )
    ids = [user.pk for user in users]
    viewer, hosts = users[0], users[1 : LIVE_ROOMS + 1]

    follows = set()
    for follower in ids:
        followees = [followee for followee in rng.sample(ids, FOLLOWS_PER_USER + 1) if followee != follower]
        follows.update((follower, followee) for followee in followees[:FOLLOWS_PER_USER])
    # The viewer follows many hosts, so "live now from people you follow" is full.
    follows |= {(viewer.pk, host.pk) for host in rng.sample(hosts, VIEWER_FOLLOWS_HOSTS)}
    Follow.objects.bulk_create(
        (Follow(follower_id=a, followee_id=b) for a, b in follows), batch_size=5_000, ignore_conflicts=True
    )
    # A few blocks, so the visibility filter has work to do.
    Block.objects.bulk_create(
        Block(blocker=viewer, blocked=blocked) for blocked in rng.sample(users[LIVE_ROOMS + 1 :], 5)
    )

    tag_names = [f"{word}-{n}" if n else word for n in range(3) for word in WORDS][:TAGS]
    tags = Tag.objects.bulk_create(Tag(name=name, slug=name) for name in tag_names)

    live = Room.objects.bulk_create(
        Room(
            title=f"{rng.choice(WORDS).title()} talk with {host.display_name}",
            host=host,
            state=Room.State.LIVE,
            started_at=now - timedelta(minutes=rng.randint(1, 600)),
        )
        for host in hosts
    )
    upcoming_hosts = rng.sample(users[LIVE_ROOMS + 1 :], UPCOMING_ROOMS)
    upcoming = Room.objects.bulk_create(
        Room(
            title=f"{rng.choice(WORDS).title()} talk, soon",
            host=host,
            state=Room.State.SCHEDULED,
            scheduled_for=now + timedelta(hours=rng.randint(1, 24 * 29)),
        )
        for host in upcoming_hosts
    )
    RoomTopic.objects.bulk_create(
        RoomTopic(room=room, tag=tag, position=position)
        for room in live + upcoming
        for position, tag in enumerate(rng.sample(tags, rng.randint(1, 3)), start=1)
    )
    participants = []
    for room in live:
        participants.append(Participant(room=room, user=room.host, role=Participant.Role.HOST))
        listeners = [u for u in rng.sample(users, LISTENERS_PER_ROOM + 1) if u.pk != room.host_id]
        participants.extend(Participant(room=room, user=u) for u in listeners[:LISTENERS_PER_ROOM])
    Participant.objects.bulk_create(participants, batch_size=5_000)

    # Ended recorded rooms with published replays; some by hosts the viewer follows.
    replay_starts = [
        (host, now - timedelta(days=rng.randint(1, 60))) for host in rng.sample(users[1:], REPLAYS)
    ]
    ended = Room.objects.bulk_create(
        Room(
            title=f"{rng.choice(WORDS).title()} talk, recorded",
            host=host,
            state=Room.State.ENDED,
            is_recorded=True,
            started_at=start,
            ended_at=start + timedelta(hours=1),
        )
        for host, start in replay_starts
    )
    Recording.objects.bulk_create(
        Recording(
            room=room,
            status=Recording.Status.READY,
            duration_ms=rng.randint(5, 120) * 60_000,
            play_count=rng.randint(0, 500),
            published_at=room.started_at + timedelta(hours=2),
        )
        for room in ended
    )

    busiest_tag = max(tags, key=lambda tag: RoomTopic.objects.filter(tag=tag).count())
    return {"viewer": viewer, "live": live, "tag": busiest_tag}


def time_page(client: Client, url: str) -> dict:
    for _ in range(WARMUP):
        response = client.get(url)
        if response.status_code != 200:
            raise SystemExit(f"{url} answered {response.status_code}; the benchmark needs it to work")
    samples, cpu = [], []
    for _ in range(REQUESTS):
        start, start_cpu = time.perf_counter(), time.process_time()
        client.get(url)
        samples.append((time.perf_counter() - start) * 1000)
        cpu.append((time.process_time() - start_cpu) * 1000)
    samples.sort()
    return {
        "p50": round(statistics.median(samples), 1),
        "p95": round(samples[int(len(samples) * 0.95) - 1], 1),
        # Time this process spent computing (not waiting for PostgreSQL): tells a slow page
        # from a busy machine.
        "cpu_p50": round(statistics.median(cpu), 1),
    }


def count_queries(client: Client, url: str) -> int:
    # Warm first, as a running site is: the popular-topics row is cached for 30 s, and the timed
    # pages before this may have outlasted it.
    client.get(url)
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    assert response.status_code == 200, response.status_code
    return len(queries)


def main() -> None:
    database = settings.DATABASES["default"]
    if not database.get("TEST", {}).get("NAME") and database["ENGINE"] != "django.db.backends.sqlite3":
        # Never the test database pytest uses for the same name, so both can run at once.
        database.setdefault("TEST", {})["NAME"] = f"bench_{database['NAME']}"
    # Not setup_test_environment(): its template instrumentation makes the test client copy
    # every template context, which costs more than the rendering being measured.
    old_config = setup_databases(verbosity=0, interactive=False)
    try:
        rng = random.Random(20261121)
        started = time.perf_counter()
        data = seed(rng)
        if connection.vendor == "postgresql":
            # A running site has planner statistics; a database filled a moment ago has none yet.
            with connection.cursor() as cursor:
                cursor.execute("ANALYZE")
        # The seeding left this process holding tens of thousands of objects a web process would
        # not have; keep the garbage collector from walking them on every full collection.
        gc.collect()
        gc.freeze()
        print(
            f"seeded {USERS} users, ~{USERS * FOLLOWS_PER_USER} follows, {LIVE_ROOMS} live and "
            f"{UPCOMING_ROOMS} upcoming rooms, {REPLAYS} replays in {time.perf_counter() - started:.1f} s "
            f"({connection.vendor}, database {connection.settings_dict['NAME']})"
        )
        client = Client()
        client.force_login(data["viewer"])
        room = data["live"][len(data["live"]) // 2]
        pages = {
            "home": "/",
            "topic": f"/rooms/topics/{data['tag'].slug}/",
            "search": "/rooms/search/?q=talk",
            "room": f"/rooms/{room.pk}/",
        }
        figures = {}
        for name, url in pages.items():
            timing = time_page(client, url)
            figures[f"{name}_p95_ms"] = timing["p95"]
            print(
                f"{name:<7} {url:<34} p50 {timing['p50']:6.1f} ms   p95 {timing['p95']:6.1f} ms   "
                f"(cpu p50 {timing['cpu_p50']:5.1f} ms)"
            )

        home_queries = count_queries(client, pages["home"])
        doomed = [r.pk for r in data["live"] if r.pk != room.pk]
        rng.shuffle(doomed)
        Room.objects.filter(pk__in=doomed[: LIVE_ROOMS - ROOMS_LEFT]).delete()
        home_queries_10x = count_queries(client, pages["home"])
        print(
            f"home page queries: {home_queries} with {LIVE_ROOMS} live rooms, "
            f"{home_queries_10x} with {Room.objects.filter(state=Room.State.LIVE).count()}"
        )
        figures["home_queries"] = home_queries
        figures["home_queries_10x"] = home_queries_10x
    finally:
        connection.close()
        teardown_databases(old_config, verbosity=0)
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
