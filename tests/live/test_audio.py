"""Audio through the real server: Python clients speak the browsers' wire protocol.

Speakers send real Opus frames of a tone in real time; listeners decode what they receive and look
for the tone's frequency. The embedded mixer runs in the test's event loop; the external one runs as
`manage.py run_mixer` processes on Redis (skipped without PostgreSQL and Redis, which CI has).
"""

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import redis.asyncio as aioredis
from channels.db import database_sync_to_async
from django.conf import settings as django_settings

from rooms.audio import codec, wire
from rooms.models import Participant
from tests.audio.signals import amplitude_at, tone
from tests.factories import RoomFactory, UserFactory

from .wsclient import join, next_bundle

pytestmark = pytest.mark.django_db(transaction=True)
ROOT = Path(__file__).resolve().parents[2]
db = database_sync_to_async
HEARD = 0.02  # amplitude of a tone that is clearly there (sent at 0.3)


async def speak(socket, freq: float, seconds: float, *, first_seq: int = 1000) -> None:
    """Send `seconds` of a tone as uplink frames, paced like a microphone."""
    pcm = tone(freq, int(seconds * 1000 / wire.FRAME_MS))
    encoder = codec.make_encoder()
    loop = asyncio.get_running_loop()
    start = loop.time()
    for i in range(len(pcm) // wire.FRAME_SAMPLES):
        packet = encoder.encode(pcm[i * wire.FRAME_SAMPLES : (i + 1) * wire.FRAME_SAMPLES])
        frame = wire.encode_uplink(first_seq + i, time.time() * 1000, packet)
        await socket.communicator.send_to(bytes_data=frame)
        await asyncio.sleep(max(0.0, start + (i + 1) * wire.FRAME_MS / 1000 - loop.time()))


class Ear:
    """Decode everything a socket receives, with the time each bundle arrived."""

    def __init__(self, socket) -> None:
        self.socket = socket
        self.decoder = codec.make_decoder()
        self.chunks: list[tuple[float, np.ndarray]] = []
        self.mix_minus: set[bool] = set()
        self.task = asyncio.get_running_loop().create_task(self._listen())

    async def _listen(self) -> None:
        while True:
            try:
                data = await next_bundle(self.socket, timeout=30)
            except Exception:
                return
            bundle = wire.decode_bundle(data)
            self.mix_minus.add(bundle.mix_minus)
            arrived = time.monotonic()
            for packet in bundle.packets:
                pcm = self.decoder.decode(packet) if packet else np.zeros(wire.FRAME_SAMPLES, np.float32)
                self.chunks.append((arrived, pcm))

    def heard(self, freq: float, *, since: float = 0.0, until: float = float("inf")) -> float:
        pcm = [chunk for at, chunk in self.chunks if since <= at <= until]
        if len(pcm) < 10:
            return 0.0
        return amplitude_at(np.concatenate(pcm), freq)

    def first_heard(self, freq: float) -> float | None:
        """When `freq` first shows in a 100 ms window of what arrived."""
        for i in range(len(self.chunks) - 5):
            window = np.concatenate([c for _, c in self.chunks[i : i + 5]])
            if amplitude_at(window, freq) > HEARD:
                return self.chunks[i + 4][0]
        return None

    def stop(self) -> None:
        self.task.cancel()


def speaking_levels(socket, user_id: int) -> list[float]:
    """The levels of `user_id` in the room.levels events `socket` received (alone or in a batch)."""
    events = [e for event in socket.seen for e in event.get("events", [event])]
    return [
        level for e in events if e["type"] == "room.levels" for user, level in e["levels"] if user == user_id
    ]


@db
def seat(room, user, role, muted=False):
    Participant.objects.update_or_create(room=room, user=user, defaults={"role": role, "is_muted": muted})


@pytest.fixture
def embedded(settings):
    settings.AUDIO_MIXER = "embedded"


async def test_a_speaker_is_heard_by_listeners_and_not_by_themself(embedded):
    room = await db(RoomFactory)()
    await seat(room, room.host, Participant.Role.HOST, muted=False)
    listener_user = await db(UserFactory)()
    host = await join(room.pk, room.host)
    listener = await join(room.pk, listener_user)
    joined_at = time.monotonic()
    host_ear, listener_ear = Ear(host), Ear(listener)
    await speak(host, 440, 1.6)
    await asyncio.sleep(0.3)
    heard_at = listener_ear.first_heard(440)
    assert heard_at is not None, "the listener never heard the host"
    assert heard_at - joined_at < 1.0 + 0.3  # the tone started right after the join
    assert listener_ear.heard(440) > HEARD
    assert listener_ear.mix_minus == {False}
    # Alone on stage, the host's mix-minus is silence, which is not sent at all.
    assert host_ear.mix_minus <= {True}
    assert host_ear.heard(440) < HEARD / 4, "the host hears their own voice"
    assert speaking_levels(listener, room.host_id), "the embedded mixer's room.levels never reached the room"
    host_ear.stop(), listener_ear.stop()


async def test_two_speakers_each_hear_the_other_and_listeners_hear_both(embedded):
    room = await db(RoomFactory)()
    await seat(room, room.host, Participant.Role.HOST, muted=False)
    guest_user, listener_user = await db(UserFactory)(), await db(UserFactory)()
    await seat(room, guest_user, Participant.Role.SPEAKER, muted=False)
    host, guest, listener = [await join(room.pk, u) for u in (room.host, guest_user, listener_user)]
    ears = {name: Ear(s) for name, s in (("host", host), ("guest", guest), ("listener", listener))}
    await asyncio.gather(speak(host, 440, 1.6), speak(guest, 880, 1.6, first_seq=7))
    await asyncio.sleep(0.3)
    assert ears["listener"].heard(440) > HEARD and ears["listener"].heard(880) > HEARD
    assert ears["host"].heard(880) > HEARD and ears["host"].heard(440) < HEARD / 4
    assert ears["guest"].heard(440) > HEARD and ears["guest"].heard(880) < HEARD / 4
    for ear in ears.values():
        ear.stop()


async def test_muted_speaker_stops_being_heard_within_half_a_second(embedded):
    room = await db(RoomFactory)()
    guest_user, listener_user = await db(UserFactory)(), await db(UserFactory)()
    await seat(room, guest_user, Participant.Role.SPEAKER, muted=False)
    host, guest, listener = [await join(room.pk, u) for u in (room.host, guest_user, listener_user)]
    ear = Ear(listener)
    talking = asyncio.get_running_loop().create_task(speak(guest, 880, 3.0))
    await asyncio.sleep(1.2)
    assert ear.heard(880) > HEARD
    await host.send({"type": "speaker.mute", "user_id": guest_user.pk})
    muted_at = time.monotonic()
    await talking  # the guest's page keeps sending, as a misbehaving client would
    await asyncio.sleep(0.2)
    assert ear.heard(880, since=muted_at + 0.5) < HEARD / 4
    ear.stop()


async def test_a_listener_cannot_inject_audio(embedded):
    room = await db(RoomFactory)()
    sneaky_user, victim_user = await db(UserFactory)(), await db(UserFactory)()
    host, sneaky, victim = [await join(room.pk, u) for u in (room.host, sneaky_user, victim_user)]
    ear = Ear(victim)
    await speak(sneaky, 660, 1.2)
    # Garbage and oversized frames are dropped too.
    await sneaky.communicator.send_to(bytes_data=b"\x01" + os.urandom(40))
    await host.communicator.send_to(bytes_data=b"\x07nonsense")
    await asyncio.sleep(0.4)
    assert ear.heard(660) < HEARD / 4
    ear.stop()


# -- external mixer processes ----------------------------------------------------------------


def _test_database_url() -> str:
    db_settings = django_settings.DATABASES["default"]
    if "postgresql" not in db_settings["ENGINE"]:
        pytest.skip("mixer processes need a database they can share: run with PostgreSQL")
    user = db_settings.get("USER") or "postgres"
    return f"postgres://{user}@{db_settings['HOST'] or '127.0.0.1'}:{db_settings['PORT'] or 5432}/{db_settings['NAME']}"


def start_mixer(name: str) -> subprocess.Popen:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "spaces_project.settings.test",
        "DATABASE_URL": _test_database_url(),
        "REDIS_URL": django_settings.REDIS_URL,
        "PYTHONUNBUFFERED": "1",
    }
    return subprocess.Popen(
        [sys.executable, "manage.py", "run_mixer", "--name", name],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


@pytest.fixture
def external(settings):
    if not settings.REDIS_URL:
        pytest.skip("external mixers need Redis")
    _test_database_url()
    settings.AUDIO_MIXER = "external"
    started: list[subprocess.Popen] = []
    yield lambda name: started.append(start_mixer(name)) or started[-1]
    for process in started:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(5)
            except subprocess.TimeoutExpired:
                process.kill()


async def _lease_holder(room_id: int) -> str | None:
    client = aioredis.Redis.from_url(django_settings.REDIS_URL)
    try:
        value = await client.get(f"spaces:mixer:lease:{room_id}")
        return value.decode() if value else None
    finally:
        await client.aclose()


async def _wait_for_holder(room_id: int, timeout: float, not_this: str | None = None) -> str:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        holder = await _lease_holder(room_id)
        if holder and holder != not_this:
            return holder
        await asyncio.sleep(0.1)
    raise AssertionError("no mixer took the room")


async def test_external_mixer_process_mixes_the_room(external):
    room = await db(RoomFactory)()
    await seat(room, room.host, Participant.Role.HOST, muted=False)
    external("mixer-a")
    await _wait_for_holder(room.pk, timeout=15)
    host, listener = await join(room.pk, room.host), await join(room.pk, await db(UserFactory)())
    ear = Ear(listener)
    await speak(host, 440, 1.6)
    await asyncio.sleep(0.3)
    assert ear.heard(440) > HEARD
    assert speaking_levels(listener, room.host_id), "the mixer process's room.levels never reached the room"
    ear.stop()


async def test_killed_mixer_is_replaced_and_listeners_hear_again_within_five_seconds(external):
    room = await db(RoomFactory)()
    await seat(room, room.host, Participant.Role.HOST, muted=False)
    processes = {name: external(name) for name in ("mixer-a", "mixer-b")}
    holder = await _wait_for_holder(room.pk, timeout=15)
    host, listener = await join(room.pk, room.host), await join(room.pk, await db(UserFactory)())
    ear = Ear(listener)
    talking = asyncio.get_running_loop().create_task(speak(host, 440, 9.0))
    await asyncio.sleep(1.0)
    assert ear.heard(440) > HEARD
    os.kill(processes[holder].pid, signal.SIGKILL)
    killed_at = time.monotonic()
    await _wait_for_holder(room.pk, timeout=5, not_this=holder)
    await talking
    back = [at for at, chunk in ear.chunks if at > killed_at and amplitude_at(chunk, 440) > HEARD]
    assert back, "nobody mixed the room after the kill"
    assert back[0] - killed_at < 5.0
    ear.stop()
