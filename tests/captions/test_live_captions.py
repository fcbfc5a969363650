"""Live captions through every real piece: the room socket, a `run_mixer` process and a
`run_captioner` process on Redis. A Python client speaking the browser's protocol plays the
microphone with espeak-ng speech; another socket listens.

Skipped without PostgreSQL and Redis (CI has both).
"""

import asyncio
import json
import os
import statistics
import subprocess
import sys
import time

import pytest
import redis.asyncio as aioredis
from channels.db import database_sync_to_async
from django.conf import settings as django_settings

from rooms import services as room_services
from rooms.audio import codec, wire
from rooms.models import Participant
from tests.factories import RoomFactory, UserFactory
from tests.live.conftest import close_worker_thread_connections  # noqa: F401 (autouse fixture)
from tests.live.test_audio import ROOT, _test_database_url, _wait_for_holder, seat
from tests.live.wsclient import join

from .speech import SENTENCES, VOICES, espeak, share_heard

pytestmark = pytest.mark.django_db(transaction=True)
db = database_sync_to_async


@pytest.fixture
def processes(settings):
    """Start `run_mixer` and `run_captioner` (with the given engine) as a deployment would."""
    if not settings.REDIS_URL:
        pytest.skip("run_mixer and run_captioner need Redis")
    settings.AUDIO_MIXER = "external"
    started = []

    def start(command: str, *args: str, **env: str) -> subprocess.Popen:
        environment = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "spaces_project.settings.test",
            "DATABASE_URL": _test_database_url(),
            "REDIS_URL": django_settings.REDIS_URL,
            "PYTHONUNBUFFERED": "1",
            **env,
        }
        process = subprocess.Popen(
            [sys.executable, "manage.py", command, "--name", f"test-{command}", *args],
            cwd=ROOT,
            env=environment,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        started.append(process)
        return process

    yield start
    for process in started:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()


async def _captioner_holds(room_id: int, timeout: float) -> None:
    client = aioredis.Redis.from_url(django_settings.REDIS_URL)
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if await client.get(f"spaces:captioner:lease:{room_id}"):
                return
            await asyncio.sleep(0.1)
        raise AssertionError("no captioner took the room")
    finally:
        await client.aclose()


async def talk(socket, pcm, *, first_seq: int = 1000, pause_s: float = 0.0) -> float:
    """Send ``pcm`` (48 kHz) as uplink frames in real time, then ``pause_s`` of DTX silence; return the
    wall-clock time (s) the last frame of speech was sent."""
    encoder = codec.make_encoder()
    loop = asyncio.get_running_loop()
    frames = len(pcm) // wire.FRAME_SAMPLES + int(pause_s * 50)
    start = loop.time()
    ended = time.time()
    for i in range(frames):
        chunk = pcm[i * wire.FRAME_SAMPLES : (i + 1) * wire.FRAME_SAMPLES]
        if len(chunk) < wire.FRAME_SAMPLES:
            chunk = __import__("numpy").zeros(wire.FRAME_SAMPLES, "float32")
        frame = wire.encode_uplink(first_seq + i, time.time() * 1000, encoder.encode(chunk))
        await socket.communicator.send_to(bytes_data=frame)
        if (i + 1) * wire.FRAME_SAMPLES <= len(pcm):
            ended = time.time()
        await asyncio.sleep(max(0.0, start + (i + 1) * wire.FRAME_MS / 1000 - loop.time()))
    return ended


async def captions_until(socket, final_count: int, timeout: float) -> list[tuple[float, dict]]:
    """Collect `room.caption` events (with their arrival time) until `final_count` finals came."""
    got = []
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while sum(1 for _, e in got if e["final"]) < final_count:
        remaining = deadline - loop.time()
        if remaining <= 0:
            break
        try:
            event = await socket.wait_for("room.caption", timeout=remaining)
        except AssertionError:
            break
        got.append((time.time(), event))
    return got


async def test_a_speakers_words_reach_listeners_as_partial_then_final_captions(processes):
    host = await db(UserFactory)(display_name="Hana Host")
    room = await db(RoomFactory)(host=host, captions_enabled=True)
    await seat(room, host, Participant.Role.HOST, muted=False)
    # One at a time: on a busy machine, two processes starting together take far longer.
    processes("run_mixer")
    await _wait_for_holder(room.pk, timeout=60)
    processes("run_captioner")
    await _captioner_holds(room.pk, timeout=90)
    speaker = await join(room.pk, host)
    listener = await join(room.pk, await db(UserFactory)())
    assert listener.snapshot["room"]["captions"] is True

    sentence = SENTENCES[0]
    collecting = asyncio.get_running_loop().create_task(captions_until(listener, 1, timeout=20))
    ended = await talk(speaker, espeak(sentence, voice=VOICES[0]), pause_s=1.5)
    got = await collecting
    finals = [(at, e) for at, e in got if e["final"]]
    assert finals, f"no final caption; got {got}"
    at, final = finals[0]
    assert final["user_id"] == host.pk and final["name"] == "Hana Host"
    assert share_heard(sentence, final["text"]) >= 0.5, final["text"]
    assert at - ended < 3.0
    partials = [e for _, e in got if not e["final"]]
    assert partials and all(p["line"] == final["line"] for p in partials), "partials refine the same line"
    await speaker.close(), await listener.close()


async def test_host_turns_captions_off_and_on(processes):
    host = await db(UserFactory)()
    room = await db(RoomFactory)(host=host)
    await seat(room, host, Participant.Role.HOST, muted=False)
    other = await db(UserFactory)()
    host_socket, listener = await join(room.pk, host), await join(room.pk, other)
    assert listener.snapshot["room"]["captions"] is False
    await listener.send({"type": "captions.set", "enabled": True, "ref": "x"})
    refused = await listener.wait_for("error", ref="x")
    assert refused["code"] == "not_allowed"
    await host_socket.send({"type": "captions.set", "enabled": True})
    assert (await listener.wait_for("room.captions"))["enabled"] is True
    await host_socket.send({"type": "captions.set", "enabled": False})
    assert (await listener.wait_for("room.captions"))["enabled"] is False
    await host_socket.close(), await listener.close()


def _latencies(socket_frames: list[tuple[float, bytes]]) -> list[float]:
    out = []
    for arrived_ms, data in socket_frames:
        bundle = wire.decode_bundle(data)
        if bundle.oldest_capture_ms:
            out.append(arrived_ms - bundle.oldest_capture_ms)
    return out


async def _listen_bundles(socket, frames: list, stop: asyncio.Event) -> None:
    # receive_output() with a timeout cancels the application when it expires: poll instead.
    while not stop.is_set():
        if await socket.communicator.receive_nothing(timeout=0.05, interval=0.01):
            continue
        frame = await socket.communicator.receive_output(1)
        if frame.get("bytes") is not None:
            frames.append((time.time() * 1000, frame["bytes"]))
        elif frame.get("text") is not None:
            event = json.loads(frame["text"])
            events = event["events"] if event["type"] == "room.batch" else [event]
            socket.seen.extend(events)


async def test_a_slow_recognizer_never_delays_the_audio_and_its_captions_say_they_skipped(processes):
    host = await db(UserFactory)(display_name="Hana Host")
    room = await db(RoomFactory)(host=host)
    await seat(room, host, Participant.Role.HOST, muted=False)
    processes("run_mixer")
    await _wait_for_holder(room.pk, timeout=60)
    processes("run_captioner", "--engine", "tests.captions.engines:SlowEngine", CAPTIONS_MAX_DELAY_S="1")
    speaker = await join(room.pk, host)
    listener = await join(room.pk, await db(UserFactory)())
    speech = [espeak(text, voice=VOICES[i % 2]) for i, text in enumerate(SENTENCES)]

    async def beat() -> None:
        while True:
            await asyncio.sleep(4)
            for socket in (speaker, listener):
                await socket.send({"type": "heartbeat"})

    beating = asyncio.get_running_loop().create_task(beat())

    async def measure(linger_s: float = 0.5) -> list[float]:
        frames: list = []
        stop = asyncio.Event()
        listening = asyncio.get_running_loop().create_task(_listen_bundles(listener, frames, stop))
        for i, pcm in enumerate(speech):
            await talk(speaker, pcm, first_seq=10_000 * (i + 1), pause_s=0.7)
        await asyncio.sleep(linger_s)
        stop.set()
        await listening
        return _latencies(frames)

    without = await measure()
    await db(room_services.room_set_captions)(room_id=room.pk, actor=host, enabled=True)
    await _captioner_holds(room.pk, timeout=90)
    await asyncio.sleep(1.5)  # the mixer's stage reload picks captions up within 2 s at the latest
    listener.seen.clear()
    with_slow_captions = await measure(linger_s=6.0)
    captions = [e for e in listener.seen if e["type"] == "room.caption"]

    beating.cancel()
    print(f"voiced bundles: {len(without)} without captions, {len(with_slow_captions)} with")
    assert len(without) > 30 and len(with_slow_captions) > 30  # 200 ms bundles with a voice
    p50_off, p50_on = statistics.median(without), statistics.median(with_slow_captions)
    p95_off = sorted(without)[int(0.95 * len(without))]
    p95_on = sorted(with_slow_captions)[int(0.95 * len(with_slow_captions))]
    print(
        f"speaker -> listener: captions off p50 {p50_off:.0f} p95 {p95_off:.0f} ms; slow captions on p50 {p50_on:.0f} p95 {p95_on:.0f} ms"
    )
    assert p50_on < p50_off + 60 and p95_on < p95_off + 150, "captions delayed the audio"
    assert any(e["skipped"] and e["final"] for e in captions), f"no skipped line in {captions}"
    await speaker.close(), await listener.close()


async def test_without_run_captioner_the_web_process_starts_its_own_recognizer(settings):
    """Embedded mode (`make run` without Redis): the room's mixer runs in the web process, which hands
    the voices to a recognizer child process of its own."""
    settings.AUDIO_MIXER = "embedded"
    host = await db(UserFactory)(display_name="Hana Host")
    room = await db(RoomFactory)(host=host, captions_enabled=True)
    await seat(room, host, Participant.Role.HOST, muted=False)
    speaker = await join(room.pk, host)
    listener = await join(room.pk, await db(UserFactory)())
    sentence = SENTENCES[3]
    # The child process loads the model once; say something first to start it.
    await talk(speaker, espeak(SENTENCES[2], voice=VOICES[1]), pause_s=1.0, first_seq=1)
    collecting = asyncio.get_running_loop().create_task(captions_until(listener, 2, timeout=40))
    await talk(speaker, espeak(sentence, voice=VOICES[1]), pause_s=1.5, first_seq=5000)
    got = await collecting
    texts = [e["text"] for _, e in got if e["final"] and not e["skipped"]]
    assert any(share_heard(sentence, text) >= 0.5 for text in texts), got
    await speaker.close(), await listener.close()
