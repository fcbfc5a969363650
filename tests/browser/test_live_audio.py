"""Live audio end to end in real browsers: Chromium's fake microphone plays a tone made here, the room
page encodes it with WebCodecs, the server mixes it, and the other pages play it.

Each microphone is a launch argument, so each tone gets a browser of its own. The pages are "listened
to" through the AnalyserNode that static/js/audio.js keeps on its playback path: an init script polls
it every 10 ms and records, per test frequency, when it was first and last clearly there.

Without Redis daphne mixes in-process; with Redis (CI) a `manage.py run_mixer` process does
(`room_audio_mixer`).
"""

import re
import shutil
import time
import wave

import numpy as np
import pytest
from playwright.sync_api import expect

from recordings.models import Recording
from recordings.services import RecordingFiles
from rooms import services as room_services
from rooms.models import Participant
from tests.conftest import CHROMIUM, CHROMIUM_ARGS, launch_with_microphone
from tests.factories import RoomFactory, UserFactory

# Real audio through several Chromiums on two cores: a run starved of CPU is tried again.
pytestmark = [pytest.mark.browser, pytest.mark.live_audio, pytest.mark.flaky(reruns=2)]

SAMPLE_RATE = 48_000
TONE_SECONDS = 10  # Chromium loops the file; whole cycles of each tone make the loop seamless
HOST_HZ, GUEST_HZ, INJECTED_HZ = 440, 880, 660
SPEAKING = re.compile(r"\bis-speaking\b")

# Installed in every page before its scripts run. A frequency counts as heard when, for 3 polls in
# a row (30 ms), its bin is above -60 dB, 30 dB above the spectrum's median and within 15 dB of the
# loudest bin: a tone that is really playing, not the broadband burst of a stream starting, a codec
# harmonic of another tone (880 Hz is 440 Hz's second harmonic), or what a speaker's echo canceller
# leaves of the room in their microphone (some 35 dB down).
EARS = """
(() => {
  const freqs = [440, 660, 880];
  const ears = (window.__ears = { first: {}, last: {}, now: {}, run: {}, count: {}, polls: 0 });
  let data = null;
  setInterval(() => {
    const analyser = window.spacesAudio && window.spacesAudio.analyser;
    if (!analyser) return;
    if (!data || data.length !== analyser.frequencyBinCount) data = new Float32Array(analyser.frequencyBinCount);
    analyser.getFloatFrequencyData(data);
    const finite = Array.from(data, (v) => (Number.isFinite(v) ? v : -300));
    const loudest = Math.max(...finite);
    const median = finite.slice().sort((a, b) => a - b)[finite.length >> 1];
    const binHz = analyser.context.sampleRate / analyser.fftSize;
    ears.polls += 1;
    for (const f of freqs) {
      const i = Math.round(f / binHz);
      const peak = Math.max(finite[i - 1], finite[i], finite[i + 1]);
      const clear = peak > -60 && peak - median > 30 && loudest - peak < 15;
      ears.run[f] = clear ? (ears.run[f] || 0) + 1 : 0;
      const heard = ears.run[f] >= 3;
      ears.now[f] = heard;
      if (heard) {
        ears.count[f] = (ears.count[f] || 0) + 1;
        if (ears.first[f] === undefined) ears.first[f] = performance.now();
        ears.last[f] = Date.now();
      }
    }
  }, 10);
})();
"""

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


def write_tone(path, freq: float | None) -> str:
    t = np.arange(SAMPLE_RATE * TONE_SECONDS) / SAMPLE_RATE
    signal = 0.5 * np.sin(2 * np.pi * freq * t) if freq else np.zeros_like(t)
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(SAMPLE_RATE)
        out.writeframes((signal * 32767).astype("<i2").tobytes())
    return str(path)


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


def wait_until(page, expression: str, timeout_ms: int = 10_000) -> None:
    """Poll `expression` in the page. Not wait_for_function: Playwright evaluates its predicate with
    eval() inside the page, which the site's Content-Security-Policy rightly refuses."""
    deadline = time.monotonic() + timeout_ms / 1000
    while not page.evaluate(expression):
        if time.monotonic() > deadline:
            raise AssertionError(f"{expression} not true within {timeout_ms} ms")
        page.wait_for_timeout(20)


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


def test_a_listener_hears_the_host_within_a_second_of_joining(open_room, record_property):
    host = UserFactory(display_name="Hana Host")
    room = RoomFactory(host=host)
    host_page = open_room(host, room, mic=HOST_HZ)
    unmute(host_page)
    expect(host_page.get_by_test_id("headphones-hint")).to_be_visible()
    # The mixer hears the host: the room's speaking indicator lights up from the real audio.
    expect(host_page.get_by_test_id(f"stage-member-{host.pk}")).to_have_class(SPEAKING)

    listener_page = open_room(UserFactory(), room, mic=None)
    wait_heard(listener_page, HOST_HZ, timeout_ms=5_000)
    first_audio_ms = listener_page.evaluate("window.__ears.first[440] - window.spacesAudio.marks.snapshot")
    record_property("first_audio_ms", round(first_audio_ms))
    print(f"time to first audio on the listener page: {first_audio_ms:.0f} ms")
    assert first_audio_ms < 1000
    expect(listener_page.get_by_test_id(f"stage-member-{host.pk}")).to_have_class(SPEAKING)
    expect(listener_page.get_by_test_id("tap-to-listen")).to_be_hidden()
    expect(listener_page.get_by_test_id("headphones-hint")).to_be_hidden()
    # Music mode is the speaker's choice, shown on stage only, and applies to the microphone.
    expect(listener_page.get_by_test_id("music-mode")).to_be_hidden()
    expect(host_page.get_by_test_id("music-mode-toggle")).to_be_checked()
    assert host_page.evaluate("window.spacesAudio.capture.track.getSettings().noiseSuppression") is False
    expect(listener_page.get_by_test_id("audio-status")).to_be_hidden()


def test_a_second_speaker_is_heard_by_everyone_else_and_silenced_by_a_host_mute(open_room, record_property):
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
    # Both keep talking: for 1.5 s neither hears their own voice. Not "never a single frame": when
    # a speaker's uplink stalls, the mixer sends them the program's packets, whose first frame still
    # carries the tail of their voice (a known mixer issue); a broken mix-minus would be heard
    # all along.
    for page in (host_page, guest_page):
        page.evaluate("window.__ears.count = {}; window.__ears.polls = 0")
    listener_page.wait_for_timeout(1500)
    for page, own, other in ((host_page, "440", "880"), (guest_page, "880", "440")):
        heard = ears(page)
        # Mostly heard: three Chromiums on two cores drop a moment now and then; a mix that left
        # the other voice out (or gave a speaker their own) shows at once.
        assert heard["count"].get(other, 0) > 0.6 * heard["polls"]
        assert heard["count"].get(own, 0) < 0.1 * heard["polls"], "a speaker hears their own voice"
    # Both voices at once on the listener's page (a moment of silence in a poll is not the point).
    wait_until(listener_page, "window.__ears.now[440] && window.__ears.now[880]", timeout_ms=3_000)
    assert ears(listener_page)["now"]["660"] is False

    # When the host's click lands (the clock is the machine's, shared by every page).
    host_page.evaluate(
        """document.addEventListener("click", (e) => {
             if (e.target.closest("[data-testid=mute]")) window.__mutedAt = Date.now();
           }, true)"""
    )
    guest_on_host_page = host_page.get_by_test_id(f"stage-member-{guest.pk}")
    guest_on_host_page.get_by_test_id("member-menu").click()
    guest_on_host_page.get_by_test_id("mute").click()
    muted_at_ms = host_page.evaluate("window.__mutedAt")

    # How far behind the room the listener plays at this moment: capture to page, plus what the
    # page holds buffered (it adapts to the arrival jitter it sees, so it differs from run to run).
    behind_ms = listener_page.evaluate(
        "window.spacesAudio.stats.last_bundle_delay_ms + window.spacesAudio.playoutStats.depth_ms"
    )
    wait_until(listener_page, "window.__ears.now[880] === false")
    listener_page.wait_for_timeout(1000)
    heard = ears(listener_page)
    mute_to_silence_ms = heard["last"]["880"] - muted_at_ms
    record_property("mute_to_silence_ms", round(mute_to_silence_ms))
    print(
        f"mute to silence on the listener page: {mute_to_silence_ms:.0f} ms ({behind_ms:.0f} ms behind the room)"
    )
    # The mute takes effect on the mixer's next frame: the listener hears no more than the audio
    # that was already on its way, and the click's own trip to the mixer (a socket message, a
    # database write, the bus event to the mixer process). 600 ms are allowed for that trip: with
    # three Chromiums, daphne and the mixer on two cores it took 200-400 ms more than the 200 ms
    # of a quiet machine (make test, 2026-11-29). How fast it is, is bench/audio_latency.py's to say.
    assert mute_to_silence_ms < behind_ms + 600
    assert heard["now"]["880"] is False and heard["last"]["880"] < time.time() * 1000 - 900
    assert heard["now"]["440"] is True, "the host is still heard"
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
    wait_heard(victim_page, INJECTED_HZ, timeout_ms=2_000)
    wait_heard(host_page, INJECTED_HZ, timeout_ms=2_000)
    wait_until(victim_page, "window.__ears.now[660] === false")
    for page in (host_page, victim_page, sneaky_page):
        page.evaluate("window.__ears.first = {}")

    result = sneaky_page.evaluate(INJECT, {"path": socket_path, "freq": INJECTED_HZ, "seconds": 1.5})
    assert result["sent"] >= 75 and result["open"]  # dropped silently, not refused
    victim_page.wait_for_timeout(1000)
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


# A tap on the play-out path, exact to the sample: an AudioWorklet fed by static/js/audio.js's
# play-out node. From the first audible sample it watches `seconds` of audio and measures the
# longest run of digital silence (|x| < 1e-3, -60 dBFS: a playing tone never stays that quiet for
# more than a sample or two). window.__tap.done is set when the window is over.
TAP = """
(() => {
  const tap = (window.__tap = { done: false, firstAudioAt: null });
  const code = `
    class Tap extends AudioWorkletProcessor {
      constructor(options) {
        super();
        this.window = Math.round(options.processorOptions.seconds * sampleRate);
        this.started = false; this.seen = 0; this.run = 0; this.longest = 0; this.gaps = 0;
        this.finished = false;
      }
      process(inputs) {
        const input = inputs[0] && inputs[0][0];
        if (this.finished || !input) return true;
        for (let i = 0; i < input.length; i += 1) {
          const quiet = Math.abs(input[i]) < 1e-3;
          if (!this.started) {
            if (quiet) continue;
            this.started = true;
            this.port.postMessage({ first: true });
          }
          if (quiet) this.run += 1;
          else {
            if (this.run > 0.04 * sampleRate) this.gaps += 1;
            this.run = 0;
          }
          this.longest = Math.max(this.longest, this.run);
          this.seen += 1;
          if (this.seen >= this.window) {
            if (this.run > 0.04 * sampleRate) this.gaps += 1;
            this.finished = true;
            this.port.postMessage({ longest_ms: (this.longest / sampleRate) * 1000, gaps_over_40ms: this.gaps });
            break;
          }
        }
        return true;
      }
    }
    registerProcessor("test-tap", Tap);
  `;
  // Load the tap's module as soon as the page makes its audio context, and connect the tap the
  // moment the page makes its play-out node, before any audio can reach it.
  const url = URL.createObjectURL(new Blob([code], { type: "application/javascript" }));
  const NativeContext = window.AudioContext;
  window.AudioContext = class extends NativeContext {
    constructor(...args) {
      super(...args);
      this.tapLoaded = false;
      this.tapModule = this.audioWorklet.addModule(url).then(() => { this.tapLoaded = true; });
    }
  };
  const attach = (context, playout) => {
    const node = new AudioWorkletNode(context, "test-tap", { numberOfOutputs: 1, processorOptions: { seconds: 3 } });
    const sink = context.createGain();
    sink.gain.value = 0;
    playout.connect(node);
    node.connect(sink).connect(context.destination);
    node.port.onmessage = (event) => {
      if (event.data.first) tap.firstAudioAt = performance.now();
      else {
        const { silent_frames, dropped_decodes, decode_errors, jitter_ms } = window.spacesAudio.stats;
        const page = { silent_frames, dropped_decodes, decode_errors, jitter_ms: Math.round(jitter_ms) };
        const done = { done: true, doneAt: performance.now(), playout: window.spacesAudio.playoutStats, page };
        Object.assign(tap, event.data, done);
      }
    };
    tap.attached = true;
  };
  // What reaches the play-out: when a frame of digital silence arrives (the room's own audio had a
  // gap there, or this page could not decode in time), to tell those gaps from the play-out's.
  tap.quietFramesAt = [];
  const watchInput = (playout) => {
    const port = playout.port;
    const post = port.postMessage.bind(port);
    port.postMessage = (message, transfer) => {
      if (message && message.pcm) {
        let peak = 0;
        for (const x of message.pcm) peak = Math.max(peak, Math.abs(x));
        if (peak < 1e-3) tap.quietFramesAt.push(performance.now());
      }
      return post(message, transfer);
    };
  };
  const NativeNode = window.AudioWorkletNode;
  window.AudioWorkletNode = class extends NativeNode {
    constructor(context, name, options) {
      super(context, name, options);
      if (name !== "spaces-playout") return;
      watchInput(this);
      if (context.tapLoaded) attach(context, this);
      else context.tapModule.then(() => attach(context, this));
    }
  };
})();
"""
JOINS = 10
MAX_ATTEMPTS = 25


def test_a_new_listener_hears_no_gap_in_the_first_seconds(open_room, record_property):
    """Issue 16: a listener who had just joined heard ~170 ms of silence in 4 joins out of 10.

    Each join is a new person opening the room page while the host talks; the tap on the page's
    play-out measures the first 3 s after audio starts. A join counts when the audio handed to the
    play-out was continuous meanwhile (no frame of silence reached it): a host whose page stalls on
    a busy machine is heard as a gap by everyone, and is not what this test is about.
    Ten joins must count, and in none may the page play a silence longer than 40 ms. The figures
    of every join are printed and recorded.
    """
    host = UserFactory(display_name="Hana Host")
    room = RoomFactory(host=host)
    host_page = open_room(host, room, mic=HOST_HZ)
    unmute(host_page)
    expect(host_page.get_by_test_id(f"stage-member-{host.pk}")).to_have_class(SPEAKING)

    counted, skipped = [], 0
    host_stats = (
        "(({ sent, unsent, capture_skipped }) => ({ sent, unsent, capture_skipped }))(spacesAudio.stats)"
    )
    for attempt in range(1, MAX_ATTEMPTS + 1):
        host_before = host_page.evaluate(host_stats)
        listener_page = open_room(UserFactory(), room, mic=None, script=TAP)
        wait_until(listener_page, "window.__tap.done === true", timeout_ms=20_000)
        tap = listener_page.evaluate(
            """({
                longest_ms: window.__tap.longest_ms,
                gaps: window.__tap.gaps_over_40ms,
                after_snapshot_ms: window.__tap.firstAudioAt - window.spacesAudio.marks.snapshot,
                after_first_bundle_ms: window.__tap.firstAudioAt - window.spacesAudio.marks.firstBundle,
                playout: window.__tap.playout,
                page: window.__tap.page,
                // Frames heard in the window arrived from shortly before it began until its end.
                quiet_frames: window.__tap.quietFramesAt.filter(
                    (t) => t >= window.__tap.firstAudioAt - 500 && t <= window.__tap.doneAt
                ).length,
            })"""
        )
        listener_page.context.close()
        host_after = host_page.evaluate(host_stats)
        uplink = {key: host_after[key] - host_before[key] for key in host_after}
        # Silence that reached the play-out while the window was heard: the host's page lagged and
        # dropped what it captured (the mixer conceals, then falls silent), or this page could not
        # decode in time. The play-out plays that silence, whatever it does.
        source_gaps = tap["quiet_frames"]
        print(
            f"join {attempt:2d}{' (the room audio itself had gaps: not counted)' if source_gaps else ''}: "
            f"longest silence {tap['longest_ms']:6.1f} ms, gaps > 40 ms: {tap['gaps']}, first audio "
            f"{tap['after_snapshot_ms']:4.0f} ms after the snapshot, {tap['after_first_bundle_ms']:4.0f} ms "
            f"after the first bundle; silent frames in: {source_gaps}; page {tap['page']}; "
            f"play-out {tap['playout']}; host's uplink {uplink}"
        )
        if source_gaps:
            skipped += 1
            continue
        counted.append(tap)
        if len(counted) == JOINS:
            break
    longest = [round(f["longest_ms"], 1) for f in counted]
    firsts = [round(f["after_snapshot_ms"]) for f in counted]
    record_property("longest_silence_ms_per_join", longest)
    record_property("first_audio_after_snapshot_ms_per_join", firsts)
    record_property("joins_not_counted", skipped)
    print(
        f"{len(counted)} joins counted ({skipped} not: the room audio had gaps); longest silence per join (ms): "
        f"{longest}; first audio after the snapshot (ms): {firsts}"
    )
    assert len(counted) == JOINS, f"the host's own audio had gaps in {skipped} of {attempt} joins"
    assert all(f["longest_ms"] <= 40 for f in counted), longest
