"""Live audio end to end in real browsers: Chromium's fake microphone plays a tone made here, the room
page encodes it with WebCodecs, the server mixes it, and the other pages play it.

Each microphone is a launch argument, so each tone gets a browser of its own. The pages are "listened
to" through the AnalyserNode that static/js/audio.js keeps on its playback path: an init script polls
it every 10 ms and records, per test frequency, when it was first and last clearly there
(tests/browser/instruments.py).

These tests assert what a person hears, with limits only a defect breaks: three Chromiums, daphne
and the mixer share two cores here, with whatever else runs. How fast and how clean (first audio
within 1 s, mute to silence within the listener's delay + 200 ms, the other voice in 80 % of polls,
no dropout in 20 joins) is measured over many trials by bench/browser_audio.py.

Without Redis daphne mixes in-process; with Redis (CI) a `manage.py run_mixer` process does
(`room_audio_mixer`).
"""

import re
import shutil

import pytest
from playwright.sync_api import expect

from recordings.models import Recording
from recordings.services import RecordingFiles
from rooms import services as room_services
from rooms.models import Participant
from tests.factories import RoomFactory, UserFactory

from .instruments import (
    CHROMIUM,
    CHROMIUM_ARGS,
    EARS,
    GUEST_HZ,
    HOST_HZ,
    INJECTED_HZ,
    TAP,
    TAP_FIGURES,
    launch_with_microphone,
    wait_until,
    write_tone,
)

pytestmark = [pytest.mark.browser, pytest.mark.live_audio]

SPEAKING = re.compile(r"\bis-speaking\b")

# Send `seconds` of a sine as uplink frames (rooms/audio/wire.py) over a socket of the page's own,
# paced like a microphone. Returns how many frames went out and whether the server kept the socket.
INJECT = """
async ({ path, freq, seconds }) => {
  const ws = new WebSocket(`ws://${location.host}${path}`);
  ws.binaryType = "arraybuffer";
  await new Promise((resolve, reject) => {
    ws.addEventListener("message", (e) => {
      if (typeof e.data === "string" && JSON.parse(e.data).type === "room.snapshot") resolve();
    });
    ws.addEventListener("close", () => reject(new Error("socket closed before the snapshot")));
  });
  const packets = [];
  const encoder = new AudioEncoder({
    output: (chunk) => {
      const packet = new Uint8Array(chunk.byteLength);
      chunk.copyTo(packet);
      packets.push(packet);
    },
    error: (e) => console.error(e),
  });
  encoder.configure({ codec: "opus", sampleRate: 48000, numberOfChannels: 1, bitrate: 32000,
                      opus: { frameDuration: 20000, usedtx: false } });
  const frames = Math.round(seconds / 0.02);
  for (let i = 0; i < frames; i += 1) {
    const pcm = new Float32Array(960);
    for (let j = 0; j < 960; j += 1) pcm[j] = 0.4 * Math.sin((2 * Math.PI * freq * (i * 960 + j)) / 48000);
    const data = new AudioData({ format: "f32-planar", sampleRate: 48000, numberOfFrames: 960,
                                 numberOfChannels: 1, timestamp: i * 20000, data: pcm });
    encoder.encode(data);
    data.close();
  }
  await encoder.flush();
  const start = performance.now();
  for (let i = 0; i < packets.length; i += 1) {
    const frame = new Uint8Array(13 + packets[i].length);
    const view = new DataView(frame.buffer);
    view.setUint8(0, 1);
    view.setUint32(1, 7000 + i);
    view.setFloat64(5, Date.now());
    frame.set(packets[i], 13);
    ws.send(frame.buffer);
    const wait = start + (i + 1) * 20 - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
  }
  const open = ws.readyState === WebSocket.OPEN;
  ws.close();
  return { sent: packets.length, open };
}
"""


@pytest.fixture(scope="module")
def microphones(browser, tmp_path_factory):
    """One Chromium per fake microphone: {440: browser, 880: browser, None: a silent one}."""
    folder = tmp_path_factory.mktemp("microphones")
    browsers = {}
    for freq in (HOST_HZ, GUEST_HZ, None):
        wav = write_tone(folder / f"tone-{freq or 'silence'}.wav", freq)
        browsers[freq] = launch_with_microphone(browser, wav)
    yield browsers
    for chromium in browsers.values():
        chromium.close()


@pytest.fixture
def open_room(microphones, asgi_live_server, room_audio_mixer):
    """Open a room page as `user` in the browser whose microphone plays `mic` (a frequency or None)."""
    contexts = []

    def open_as(user, room, mic=None, path=None, script=None):
        if room_audio_mixer is not None:
            assert room_audio_mixer.poll() is None, "the mixer process died"
        # A `script` is the test's own instrument (the play-out tap loads an AudioWorklet from a
        # blob: URL), which the site's Content-Security-Policy rightly refuses: its pages skip CSP.
        context = microphones[mic].new_context(
            viewport={"width": 1200, "height": 900}, bypass_csp=script is not None
        )
        contexts.append(context)
        context.add_init_script(EARS)
        if mic is not None:
            # A steady tone is what noise suppression learns as noise and takes out within seconds
            # (Chromium's does): the tone microphones play music, so their speakers use music mode.
            context.add_init_script("localStorage.setItem('spaces:music-mode', 'on')")
        if script:
            context.add_init_script(script)
        asgi_live_server.sign_in(context, user)
        page = context.new_page()
        page.set_default_timeout(15_000)
        page.goto(f"{asgi_live_server.url}{path or f'/rooms/{room.pk}/'}")
        return page

    yield open_as
    for context in contexts:
        context.close()


def wait_heard(page, freq: int, timeout_ms: int = 10_000) -> None:
    wait_until(page, f"window.__ears.now[{freq}] === true", timeout_ms)


def ears(page) -> dict:
    """What the page heard; keys are frequencies as strings (JSON object keys)."""
    return page.evaluate("window.__ears")


def unmute(page) -> None:
    mic = page.get_by_test_id("mic-toggle")
    expect(mic).to_have_text("Unmute")
    mic.click()
    expect(mic).to_have_text("Mute")


def test_a_listener_hears_the_host_on_joining(open_room):
    host = UserFactory(display_name="Hana Host")
    room = RoomFactory(host=host)
    host_page = open_room(host, room, mic=HOST_HZ)
    unmute(host_page)
    expect(host_page.get_by_test_id("headphones-hint")).to_be_visible()
    # The mixer hears the host: the room's speaking indicator lights up from the real audio.
    expect(host_page.get_by_test_id(f"stage-member-{host.pk}")).to_have_class(SPEAKING)

    listener_page = open_room(UserFactory(), room, mic=None)
    # Heard at all, and soon: a page that plays nothing for 10 s is broken on any machine. Within
    # 1 s is bench/browser_audio.py's figure.
    wait_heard(listener_page, HOST_HZ)
    expect(listener_page.get_by_test_id(f"stage-member-{host.pk}")).to_have_class(SPEAKING)
    expect(listener_page.get_by_test_id("tap-to-listen")).to_be_hidden()
    expect(listener_page.get_by_test_id("headphones-hint")).to_be_hidden()
    # Music mode is the speaker's choice, shown on stage only, and applies to the microphone.
    expect(listener_page.get_by_test_id("music-mode")).to_be_hidden()
    expect(host_page.get_by_test_id("music-mode-toggle")).to_be_checked()
    assert host_page.evaluate("window.spacesAudio.capture.track.getSettings().noiseSuppression") is False
    expect(listener_page.get_by_test_id("audio-status")).to_be_hidden()


def test_a_second_speaker_is_heard_by_everyone_else_and_silenced_by_a_host_mute(open_room):
    host = UserFactory(display_name="Hana Host")
    guest = UserFactory(display_name="Gus Guest")
    room = RoomFactory(host=host)
    host_page = open_room(host, room, mic=HOST_HZ)
    guest_page = open_room(guest, room, mic=GUEST_HZ)
    listener_page = open_room(UserFactory(), room, mic=None)
    unmute(host_page)

    guest_page.get_by_test_id("raise-hand").click()
    host_page.get_by_test_id(f"hand-request-{guest.pk}").get_by_test_id("approve").click()
    unmute(guest_page)

    for page, freq in (
        (listener_page, HOST_HZ),
        (listener_page, GUEST_HZ),
        (host_page, GUEST_HZ),
        (guest_page, HOST_HZ),
    ):
        wait_heard(page, freq)
    # Both keep talking: for 1.5 s each hears the other and not themself. The other voice in some
    # polls at least (a page starved of CPU misses a moment; a mix that left the other voice out
    # has none); their own voice in few (when a speaker's uplink stalls, the mixer sends them the
    # program's packets, whose first frame still carries the tail of their voice, a known mixer
    # issue; a broken mix-minus gives it to them all along). bench/browser_audio.py measures the
    # share of polls, target 80 %.
    for page in (host_page, guest_page):
        page.evaluate("window.__ears.count = {}; window.__ears.polls = 0")
    listener_page.wait_for_timeout(1500)
    for page, own, other in ((host_page, "440", "880"), (guest_page, "880", "440")):
        heard = ears(page)
        assert heard["polls"] > 0, "the page was not listening"
        other_polls, own_polls = heard["count"].get(other, 0), heard["count"].get(own, 0)
        assert other_polls > 0, f"a speaker does not hear the other voice: {heard}"
        assert own_polls < other_polls and own_polls < 0.25 * heard["polls"], (
            f"a speaker hears themself: {heard}"
        )
    # Both voices at once on the listener's page.
    wait_until(listener_page, "window.__ears.now[440] && window.__ears.now[880]")
    assert "660" not in ears(listener_page)["first"]

    guest_on_host_page = host_page.get_by_test_id(f"stage-member-{guest.pk}")
    guest_on_host_page.get_by_test_id("member-menu").click()
    guest_on_host_page.get_by_test_id("mute").click()
    # The guest falls silent for the listener within a few seconds and stays silent, while the host
    # is still heard. How soon (target: the listener's own delay + 200 ms) is
    # bench/browser_audio.py's to say.
    wait_until(
        listener_page,
        "window.__ears.now[880] === false && Date.now() - window.__ears.last[880] > 1000",
        timeout_ms=6_000,
    )
    wait_heard(listener_page, HOST_HZ)
    # The guest's page released the microphone as soon as the server said it was muted.
    expect(guest_page.get_by_test_id("mic-toggle")).to_have_text("Unmute")
    assert guest_page.evaluate("window.spacesAudio.capture === null")


def test_the_ended_view_shows_the_replay_as_soon_as_it_is_published(open_room):
    """Issue 16: people still on an ended recorded room's page were promised a replay that only a
    reload showed. Here the whole chain is real: the mixer captures the host's voice, ending the
    room finalizes the recording (Celery runs eagerly inside the server) and publishes it."""
    host = UserFactory(display_name="Hana Host")
    room = room_services.room_create(host=host, title="Taped live", is_recorded=True)
    # Room ids come round again in a new test database: no capture left from an earlier run.
    shutil.rmtree(RecordingFiles(room.pk).directory, ignore_errors=True)
    host_page = open_room(host, room, mic=HOST_HZ)
    unmute(host_page)
    listener_page = open_room(UserFactory(display_name="Leo Listener"), room, mic=None)
    wait_heard(listener_page, HOST_HZ)
    listener_page.wait_for_timeout(1000)

    host_page.get_by_test_id("end-room").click()
    host_page.get_by_test_id("confirm-ok").click()
    ended = listener_page.get_by_test_id("room-ended")
    expect(ended).to_contain_text("The replay will appear on this page once it is ready")
    replay_link = listener_page.get_by_test_id("replay-link")
    expect(replay_link).to_be_visible(timeout=60_000)
    assert Recording.objects.get(room=room).status == Recording.Status.READY
    expect(ended).to_contain_text("The replay is ready.")
    expect(host_page.get_by_test_id("replay-link")).to_be_visible()
    replay_link.click()
    expect(listener_page.locator("#replay-title")).to_have_text("Taped live")
    expect(listener_page.locator("audio#replay-audio")).to_be_attached()


def test_a_listener_cannot_inject_audio(open_room):
    host = UserFactory(display_name="Hana Host")
    speaker = UserFactory()
    sneaky = UserFactory()
    room = RoomFactory(host=host)
    Participant.objects.create(room=room, user=speaker, role=Participant.Role.SPEAKER, is_muted=False)
    host_page = open_room(host, room, mic=HOST_HZ)  # on stage but muted: sends nothing
    victim_page = open_room(UserFactory(), room, mic=None)
    sneaky_page = open_room(sneaky, room, mic=None)
    socket_path = f"/ws/rooms/{room.pk}/"

    # The same crafted frames from an unmuted speaker are heard: the injection itself works.
    speaker_page = open_room(speaker, room, mic=GUEST_HZ, path="/")
    result = speaker_page.evaluate(INJECT, {"path": socket_path, "freq": INJECTED_HZ, "seconds": 1.5})
    assert result["sent"] >= 75 and result["open"]
    # Heard at some moment (the pages may still be playing it, or be done with it).
    for page in (victim_page, host_page):
        wait_until(page, "window.__ears.first[660] !== undefined")
    # Over everywhere before the sneaky listener tries.
    for page in (host_page, victim_page, sneaky_page):
        wait_until(
            page, "window.__ears.now[660] !== true && Date.now() - (window.__ears.last[660] || 0) > 500"
        )
        page.evaluate("window.__ears.first = {}")

    result = sneaky_page.evaluate(INJECT, {"path": socket_path, "freq": INJECTED_HZ, "seconds": 1.5})
    assert result["sent"] >= 75 and result["open"]  # dropped silently, not refused
    victim_page.wait_for_timeout(2000)
    for page in (host_page, victim_page, sneaky_page):
        assert "660" not in ears(page)["first"]
        assert ears(page)["polls"] > 100  # the pages were listening all along


def test_a_refused_microphone_is_explained_and_the_speaker_stays_muted(browser, asgi_live_server):
    # No --use-fake-ui-for-media-stream: the permission prompt is answered "no".
    chromium = browser.browser_type.launch(
        executable_path=CHROMIUM,
        headless=True,
        args=[
            *CHROMIUM_ARGS,
            "--use-fake-device-for-media-stream",
            "--autoplay-policy=no-user-gesture-required",
        ],
    )
    try:
        host = UserFactory()
        room = RoomFactory(host=host)
        context = chromium.new_context()
        asgi_live_server.sign_in(context, host)
        page = context.new_page()
        page.goto(f"{asgi_live_server.url}/rooms/{room.pk}/")
        mic = page.get_by_test_id("mic-toggle")
        expect(mic).to_have_text("Unmute")
        mic.click()
        expect(page.get_by_test_id("audio-status")).to_contain_text("Microphone access was refused")
        expect(page.get_by_test_id("mic-error")).to_contain_text("Microphone access was refused")
        page.wait_for_timeout(500)
        expect(mic).to_have_text("Unmute")
        assert Participant.objects.get(room=room, user=host).is_muted
    finally:
        chromium.close()


def test_a_browser_without_webcodecs_says_what_is_missing(browser, asgi_live_server):
    host = UserFactory()
    room = RoomFactory(host=host)
    context = browser.new_context()
    try:
        context.add_init_script("delete window.AudioDecoder; delete window.AudioEncoder;")
        asgi_live_server.sign_in(context, host)
        page = context.new_page()
        page.goto(f"{asgi_live_server.url}/rooms/{room.pk}/")
        status = page.get_by_test_id("audio-status")
        expect(status).to_contain_text("Listening to live audio doesn't work in this browser")
        expect(status).to_contain_text("WebCodecs audio decoding (AudioDecoder)")
        page.get_by_test_id("mic-toggle").click()
        expect(page.get_by_test_id("mic-error")).to_contain_text("WebCodecs audio encoding (AudioEncoder)")
        expect(page.get_by_test_id("mic-toggle")).to_have_text("Unmute")
    finally:
        context.close()


JOINS = 3


def test_a_new_listener_keeps_hearing_the_room_after_joining(open_room):
    """Issue 16: a listener who had just joined heard ~170 ms of silence in 4 joins out of 10.

    Each join is a new person opening the room page while the host talks; the tap on the page's
    play-out (tests/browser/instruments.py) watches the first 3 s after audio starts. Every join
    hears the host, and no join's play-out falls silent for a second or more: a play-out that stops
    or never settles. How often a join hears any gap over 40 ms (target: none in 20 joins, counting
    the joins whose page could not decode in time) is bench/browser_audio.py's figure: a loaded
    machine stalls pages now and then. The figures of every join are printed.
    """
    host = UserFactory(display_name="Hana Host")
    room = RoomFactory(host=host)
    host_page = open_room(host, room, mic=HOST_HZ)
    unmute(host_page)
    expect(host_page.get_by_test_id(f"stage-member-{host.pk}")).to_have_class(SPEAKING)

    for join in range(1, JOINS + 1):
        listener_page = open_room(UserFactory(), room, mic=None, script=TAP)
        wait_until(listener_page, "window.__tap.done === true", timeout_ms=20_000)
        tap = listener_page.evaluate(TAP_FIGURES)
        listener_page.context.close()
        print(
            f"join {join}: longest silence {tap['longest_ms']:6.1f} ms, gaps > 40 ms: {tap['gaps']}, first "
            f"audio {tap['after_snapshot_ms']:4.0f} ms after the snapshot; silent frames in: "
            f"{tap['quiet_frames']}; page {tap['page']}; play-out {tap['playout']}"
        )
        assert tap["longest_ms"] < 1000, tap
