"""The backstage through the real server and the real mixer: the stage hears itself, the audience
hears nothing and nothing is recorded until the host goes live; then everyone hears the stage as it
was, and the recording starts.

Speakers send real Opus frames of tones; ears decode what reaches each socket (tests/live/test_audio.py).
"""

import asyncio
import time
from datetime import timedelta

import numpy as np
import pytest
from channels.db import database_sync_to_async
from django.utils import timezone

from recordings.services import capture_directory
from rooms import services
from rooms.audio import codec, wire
from rooms.audio.capture import segment_paths
from rooms.audio.mixer import RoomMixer
from rooms.live.runner import RoomAudioRunner
from rooms.models import Participant, Room, RoomInvitation
from spaces_project import protocol
from tests.audio.signals import amplitude_at, tone
from tests.factories import RoomFactory, UserFactory

from .test_audio import HEARD, Ear, _wait_for_holder, external, speak  # noqa: F401 (a fixture)
from .wsclient import join, open_socket

pytestmark = pytest.mark.django_db(transaction=True)
db = database_sync_to_async
HOST_HZ, GUEST_HZ = 440, 880


@db
def backstage_room(*, recorded: bool = False) -> tuple[Room, object]:
    """A scheduled room ten minutes ahead with its backstage open and one invited guest."""
    room = RoomFactory(
        scheduled=True, scheduled_for=timezone.now() + timedelta(minutes=10), is_recorded=recorded
    )
    guest = UserFactory(display_name="Gia Guest")
    RoomInvitation.objects.create(room=room, invitee=guest, invited_by=room.host)
    room = services.room_open_backstage(room=room, actor=room.host)
    return room, guest


@db
def unmute(room, user) -> None:
    services.participant_set_muted(room_id=room.pk, actor=user, muted=False)


@db
def role_of(room, user) -> str:
    return Participant.objects.get(room=room, user=user).role


@db
def room_state(room) -> tuple[str, bool]:
    room.refresh_from_db()
    return room.state, room.backstage_opened_at is not None


@pytest.fixture
def embedded(settings, tmp_path):
    settings.AUDIO_MIXER = "embedded"
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture(params=["embedded", "external"])
def mixer(request, settings, tmp_path, monkeypatch):
    """Where the room is mixed: in this process, or by a `manage.py run_mixer` process on Redis (as
    in production), which must take open backstages as well as live rooms. Await it with the room."""
    settings.MEDIA_ROOT = tmp_path / "media"
    if request.param == "embedded":
        settings.AUDIO_MIXER = "embedded"

        async def ready(room_id: int) -> None:
            return None

        return ready
    monkeypatch.setenv("MEDIA_ROOT", str(settings.MEDIA_ROOT))  # the mixer process records there
    start = request.getfixturevalue("external")

    async def ready(room_id: int) -> None:
        start("mixer-backstage")
        await _wait_for_holder(room_id, timeout=15)

    return ready


def went_live(socket) -> bool:
    """Whether `socket` got room.went_live, alone or in a room.batch (events sent together, such as
    room.went_live and room.status, may reach a socket as one frame)."""
    events = [e for frame in socket.seen for e in frame.get("events", [frame])]
    return any(e["type"] == "room.went_live" for e in events)


async def test_backstage_the_stage_hears_itself_listeners_nothing_then_go_live_everyone_hears(mixer):
    room, guest_user = await backstage_room(recorded=True)
    await mixer(room.pk)
    listener_user = await db(UserFactory)()
    host = await join(room.pk, room.host)
    guest = await join(room.pk, guest_user)
    listener = await join(room.pk, listener_user)
    anonymous = await join(room.pk)
    assert listener.snapshot["room"]["backstage"] is True
    assert listener.snapshot["room"]["state"] == "scheduled"
    # The invited guest took a place on the stage as they came in; the others wait in the audience.
    assert await role_of(room, guest_user) == Participant.Role.SPEAKER
    assert await role_of(room, listener_user) == Participant.Role.LISTENER
    await unmute(room, room.host)
    await unmute(room, guest_user)
    await asyncio.sleep(0.3)

    ears = {
        name: Ear(s)
        for name, s in (("host", host), ("guest", guest), ("listener", listener), ("anon", anonymous))
    }
    await asyncio.gather(speak(host, HOST_HZ, 1.6), speak(guest, GUEST_HZ, 1.6, first_seq=7))
    await asyncio.sleep(0.3)
    assert ears["host"].heard(GUEST_HZ) > HEARD, "the host does not hear the guest backstage"
    assert ears["guest"].heard(HOST_HZ) > HEARD, "the guest does not hear the host backstage"
    # Not one audio frame reached the audience, signed in or not, and nothing was recorded.
    assert ears["listener"].chunks == [] and ears["anon"].chunks == []
    assert listener.audio_frames == 0 and anonymous.audio_frames == 0
    assert segment_paths(capture_directory(room.pk)) == []

    went_live_at = asyncio.get_running_loop().time()
    await host.send({"type": "room.go_live"})
    for _ in range(50):
        if went_live(listener):
            break
        await asyncio.sleep(0.05)
    assert went_live(listener)
    assert await room_state(room) == ("live", False)
    # The stage went live as it was: the guest is still a speaker, unmuted.
    assert await role_of(room, guest_user) == Participant.Role.SPEAKER

    since = asyncio.get_running_loop().time()
    await asyncio.gather(
        speak(host, HOST_HZ, 1.6, first_seq=3000), speak(guest, GUEST_HZ, 1.6, first_seq=5000)
    )
    await asyncio.sleep(0.3)
    assert since >= went_live_at
    assert ears["listener"].heard(HOST_HZ) > HEARD and ears["listener"].heard(GUEST_HZ) > HEARD
    assert ears["anon"].heard(HOST_HZ) > HEARD
    # The recording started at that moment: its one segment exists now.
    assert len(segment_paths(capture_directory(room.pk))) == 1
    for ear in ears.values():
        ear.stop()


async def test_a_listener_waiting_backstage_cannot_raise_a_hand_ask_or_send_audio(embedded):
    room, _ = await backstage_room()
    listener_user = await db(UserFactory)()
    listener = await join(room.pk, listener_user)
    await listener.send({"type": "hand.raise", "ref": "h"})
    error = await listener.wait_for("error", ref="h")
    assert error["code"] == "not_live"
    await listener.send({"type": "question.ask", "text": "hello?", "ref": "q"})
    assert (await listener.wait_for("error", ref="q"))["code"] == "not_live"
    await listener.send({"type": "room.go_live", "ref": "g"})
    assert (await listener.wait_for("error", ref="g"))["code"] == "not_allowed"
    assert await room_state(room) == ("scheduled", True)


async def test_the_waiting_count_is_live(embedded):
    room, _ = await backstage_room()
    host = await join(room.pk, room.host)
    await join(room.pk, await db(UserFactory)())
    await join(room.pk)
    event = await host.wait_for("room.listeners", timeout=5, listener_count=2)
    assert event["listener_count"] == 2


async def test_before_the_backstage_opens_the_room_is_not_live(embedded):
    room = await db(RoomFactory)(scheduled=True)
    connected, socket = await open_socket(room.pk, room.host)
    assert connected
    # The page only watches for the room to open (tests/live/test_room_status.py): not in the room.
    assert (await socket.receive()) == {"type": "room.status", "status": "scheduled"}
    await socket.expect_nothing("room.snapshot", within=0.3)


async def test_cancelling_the_room_closes_the_backstage(embedded):
    room, guest_user = await backstage_room()
    guest = await join(room.pk, guest_user)
    await db(services.room_cancel)(room=room, actor=room.host)
    assert await guest.wait_closed() == protocol.CLOSE_NOT_LIVE


# -- the runner alone: what it sends before and after going on air ---------------------------------


class Sink:
    """Collects what the runner sends (the test's ears on its outputs)."""

    def __init__(self) -> None:
        self.bundles: list[tuple[int, bytes]] = []
        self.levels: list = []
        self.captures = 0

    async def bundle(self, receiver: int, bundle: bytes) -> None:
        self.bundles.append((receiver, bundle))

    async def send_levels(self, levels) -> None:
        self.levels.append(levels)


class Capture:
    def __init__(self) -> None:
        self.packets: list[bytes] = []
        self.closed = False

    def write(self, sequence, mixed_ms, packet, voices) -> None:
        self.packets.append(packet)

    def flush(self) -> None:
        pass

    def close(self) -> None:
        self.closed = True


def _runner(sink: Sink, load_stage, load_on_air, open_capture=None) -> RoomAudioRunner:
    """Room 1's runner, its outputs into `sink`."""
    return RoomAudioRunner(
        1,
        load_stage=load_stage,
        send_bundle=sink.bundle,
        send_levels=sink.send_levels,
        mixer=RoomMixer(bundle_frames=3),
        open_capture=open_capture,
        load_on_air=load_on_air,
    )


async def _feed(runner: RoomAudioRunner, user_id: int, freq: float, seconds: float, first_seq: int) -> None:
    pcm = tone(freq, int(seconds * 1000 / wire.FRAME_MS))
    encoder = codec.make_encoder()
    loop = asyncio.get_running_loop()
    start = loop.time()
    for i in range(len(pcm) // wire.FRAME_SAMPLES):
        packet = encoder.encode(pcm[i * wire.FRAME_SAMPLES : (i + 1) * wire.FRAME_SAMPLES])
        runner.push(wire.tag(user_id, wire.encode_uplink(first_seq + i, time.time() * 1000, packet)))
        await asyncio.sleep(max(0.0, start + (i + 1) * wire.FRAME_MS / 1000 - loop.time()))


def _heard(bundles: list[tuple[int, bytes]], receiver: int, freq: float) -> float:
    decoder = codec.make_decoder()
    pcm = []
    for to, data in bundles:
        if to == receiver:
            for packet in wire.decode_bundle(data).packets:
                pcm.append(decoder.decode(packet) if packet else np.zeros(wire.FRAME_SAMPLES, np.float32))
    return amplitude_at(np.concatenate(pcm), freq) if len(pcm) > 10 else 0.0


async def test_the_runner_sends_no_program_records_nothing_and_publishes_no_levels_until_on_air():
    host_id, guest_id = 11, 22
    sink = Sink()
    on_air = False
    captures: list[Capture] = []

    async def load_stage():
        return {host_id, guest_id}, {host_id, guest_id}

    async def load_on_air():
        return on_air

    async def open_capture():
        captures.append(Capture())
        return captures[-1]

    runner = _runner(sink, load_stage, load_on_air, open_capture)
    task = asyncio.get_running_loop().create_task(runner.run())
    await asyncio.sleep(0.1)
    await asyncio.gather(_feed(runner, host_id, HOST_HZ, 1.2, 0), _feed(runner, guest_id, GUEST_HZ, 1.2, 0))
    await asyncio.sleep(0.2)
    backstage = list(sink.bundles)
    assert [r for r, _ in backstage if r == wire.PROGRAM] == []
    assert _heard(backstage, host_id, GUEST_HZ) > HEARD and _heard(backstage, guest_id, HOST_HZ) > HEARD
    assert captures == [] and sink.levels == []

    on_air = True
    runner.observe_event(protocol.WentLive(room_id=1, started_at=timezone.now().isoformat()).payload())
    sink.bundles.clear()
    await asyncio.gather(
        _feed(runner, host_id, HOST_HZ, 1.2, 1000), _feed(runner, guest_id, GUEST_HZ, 1.2, 1000)
    )
    await asyncio.sleep(0.2)
    assert _heard(sink.bundles, wire.PROGRAM, HOST_HZ) > HEARD
    assert _heard(sink.bundles, wire.PROGRAM, GUEST_HZ) > HEARD
    assert len(captures) == 1 and len(captures[0].packets) > 40
    assert sink.levels, "speaking levels are published once live"
    runner.stop()
    await task
    assert captures[0].closed


async def test_a_steady_speaking_level_is_said_again_for_pages_that_joined_since():
    # Only changes go out; a voice held at one level (a tone, an instrument in music mode) is
    # repeated once a second, or a listener who joined after it began would never see it light.
    host_id = 11
    sink = Sink()

    async def load_stage():
        return {host_id}, {host_id}

    async def load_on_air():
        return True

    runner = _runner(sink, load_stage, load_on_air)
    task = asyncio.get_running_loop().create_task(runner.run())
    await asyncio.sleep(0.1)
    await _feed(runner, host_id, HOST_HZ, 3.5, 0)
    runner.stop()
    await task
    speaking = [event for event in sink.levels if any(user == host_id for user, _ in event.levels)]
    assert len(speaking) >= 3, [event.levels for event in sink.levels]
