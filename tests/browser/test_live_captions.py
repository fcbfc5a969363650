"""Live captions in real browsers: two speakers' fake microphones play sentences spoken by espeak-ng,
their room pages send the audio, the mixer hands each voice to the recognizer, and a listener's page
shows who said what.

Each speaker page taps its own microphone (an AnalyserNode on the stream getUserMedia returns) to
note when each sentence ends; the listener's page notes when each final caption line appears. Both
clocks are this machine's.
"""

import subprocess
import sys
import time
import wave

import numpy as np
import pytest
import redis
from playwright.sync_api import expect

from rooms.models import Participant
from tests.captions.speech import SENTENCES, VOICES, espeak, share_heard
from tests.factories import RoomFactory, UserFactory

from .conftest import BASE_DIR
from .instruments import launch_with_microphone

pytestmark = [pytest.mark.browser, pytest.mark.live_audio]

RATE = 48_000
LOOP_S = 10.0

# Speaker pages: when did the microphone start speaking, and go quiet after it (ms, Date.now())?
MOUTH = """
(() => {
  const mouth = (window.__mouth = { starts: [], ends: [], loud: false, lastLoud: 0 });
  const original = navigator.mediaDevices.getUserMedia.bind(navigator.mediaDevices);
  navigator.mediaDevices.getUserMedia = async (constraints) => {
    const stream = await original(constraints);
    const context = new AudioContext();
    const analyser = context.createAnalyser();
    analyser.fftSize = 1024;
    context.createMediaStreamSource(stream).connect(analyser);
    const data = new Float32Array(analyser.fftSize);
    setInterval(() => {
      analyser.getFloatTimeDomainData(data);
      let sum = 0;
      for (const v of data) sum += v * v;
      const now = Date.now();
      if (Math.sqrt(sum / data.length) > 0.01) {
        if (!mouth.loud) mouth.starts.push(now);
        mouth.loud = true;
        mouth.lastLoud = now;
      } else if (mouth.loud && now - mouth.lastLoud > 400) {
        mouth.loud = false;
        mouth.ends.push(mouth.lastLoud);
      }
    }, 10);
    return stream;
  };
})();
"""

# The listener's page: every caption line as it was shown, partial or final, with when.
EYES = """
(() => {
  const seen = (window.__captions = []);
  const last = new WeakMap();
  new MutationObserver(() => {
    for (const line of document.querySelectorAll("[data-testid=caption-line]")) {
      const text = line.querySelector(".caption-text").textContent;
      const final = line.dataset.final === "true";
      const key = `${final}|${text}`;
      if (!text || last.get(line) === key) continue;
      last.set(line, key);
      seen.push({
        at: Date.now(),
        line: line.dataset.line,
        final,
        user: Number(line.dataset.userId),
        speaker: line.querySelector(".caption-speaker").textContent,
        text,
      });
    }
  }).observe(document, { subtree: true, childList: true, attributes: true, characterData: true });
})();
"""


def write_speech(path, text: str, voice: str, lead_s: float) -> str:
    """A WAV that says ``text`` after ``lead_s`` of silence, then is quiet until LOOP_S (it loops)."""
    speech = espeak(text, voice=voice, rate=RATE)
    signal = np.zeros(int(LOOP_S * RATE), np.float32)
    start = int(lead_s * RATE)
    signal[start : start + len(speech)] = speech * 0.9
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(RATE)
        out.writeframes((signal * 32767).astype("<i2").tobytes())
    return str(path)


@pytest.fixture(scope="module")
def speaking_browsers(browser, tmp_path_factory):
    folder = tmp_path_factory.mktemp("speech")
    browsers = {}
    for name, text, voice, lead in (
        ("host", SENTENCES[0], VOICES[0], 0.5),
        ("guest", SENTENCES[1], VOICES[1], 5.5),
    ):
        wav = write_speech(folder / f"{name}.wav", text, voice, lead)
        browsers[name] = launch_with_microphone(browser, wav)
    yield browsers
    for chromium in browsers.values():
        chromium.close()


@pytest.fixture
def captioner(asgi_live_server):
    """With Redis (CI) a `run_captioner` process recognizes the rooms, as in production; without,
    daphne starts its own recognizer child process. Stopped before the test database is emptied (it
    reads the rooms every second)."""
    _daphne = asgi_live_server
    if not _daphne.env.get("REDIS_URL"):
        yield None
        return
    log = _daphne.log_dir / "captioner.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            [sys.executable, "manage.py", "run_captioner", "--name", "browser-tests"],
            cwd=BASE_DIR,
            # This test is about what the captions say and how soon; at the default nice level a
            # recognizer on a machine this busy (three Chromiums, the server, the mixer) waits
            # its turn behind all of them, by design (tests/captions checks the audio never waits).
            env={**_daphne.env, "CAPTIONS_NICE": "0"},
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    # Loading the model takes a second on an idle machine, far longer on a busy one.
    deadline = time.monotonic() + 180
    while "running" not in log.read_text() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.2)
    assert "running" in log.read_text(), log.read_text()
    yield process
    process.terminate()
    try:
        process.wait(10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def wait_for_captioner(redis_url: str, room_id: int, timeout: float = 60) -> None:
    client = redis.Redis.from_url(redis_url)
    try:
        deadline = time.monotonic() + timeout
        while not client.get(f"spaces:captioner:lease:{room_id}"):
            assert time.monotonic() < deadline, "no captioner took the room"
            time.sleep(0.1)
    finally:
        client.close()


def open_page(chromium, server, user, room, script):
    context = chromium.new_context(viewport={"width": 1000, "height": 900})
    context.add_init_script(script)
    server.sign_in(context, user)
    page = context.new_page()
    page.set_default_timeout(15_000)
    page.goto(f"{server.url}/rooms/{room.pk}/")
    return context, page


def unmute(page) -> None:
    mic = page.get_by_test_id("mic-toggle")
    expect(mic).to_have_text("Unmute")
    mic.click()
    expect(mic).to_have_text("Mute")


# The measure: captions with half the sentence's words or more, attributed to the speaker,
# on the listener's page within 3 s of the sentence's end. A partial line counts (it is what the
# listener reads); the final line, at the pause, is recorded too, and bench/captions.py measures its
# latency at real-time pace (p95 target 2 s).
def test_a_listener_reads_who_said_what_within_three_seconds(
    browser, speaking_browsers, asgi_live_server, room_audio_mixer, captioner, record_property
):
    host = UserFactory(display_name="Hana Host")
    guest = UserFactory(display_name="Gus Guest")
    room = RoomFactory(host=host, captions_enabled=True)
    Participant.objects.create(room=room, user=guest, role=Participant.Role.SPEAKER, is_muted=True)
    contexts = []
    try:
        for chromium, user, script in (
            (browser, UserFactory(), EYES),
            (speaking_browsers["host"], host, MOUTH),
            (speaking_browsers["guest"], guest, MOUTH),
        ):
            context, page = open_page(chromium, asgi_live_server, user, room, script)
            contexts.append((context, page))
        listener, host_page, guest_page = (page for _, page in contexts)
        expect(listener.get_by_test_id("captions-panel")).to_be_visible()
        if captioner is not None:
            wait_for_captioner(asgi_live_server.env["REDIS_URL"], room.pk)
        unmute(host_page)
        unmute(guest_page)
        said = {
            host.pk: (SENTENCES[0], host_page, "Hana Host"),
            guest.pk: (SENTENCES[1], guest_page, "Gus Guest"),
        }

        def heard(line) -> bool:
            sentence, _, name = said.get(line["user"], ("", None, ""))
            return (
                bool(sentence)
                and line["speaker"] == f"{name}:"
                and share_heard(sentence, line["text"]) >= 0.5
            )

        def first_shown(final: bool) -> dict[int, dict]:
            """Per speaker, the first caption (a final line if `final`, else any line, partial
            included) that showed half their words or more, attributed to them."""
            found = {}
            for line in listener.evaluate("window.__captions"):
                if heard(line) and (line["final"] or not final):
                    found.setdefault(line["user"], line)
            return found

        # The first sentence, plus the recognizer's start. Polled: wait_for_function evaluates its
        # predicate with eval(), which the site's Content-Security-Policy refuses.
        polls = 0
        while not listener.evaluate("window.__captions.length > 0"):
            assert polls < 300, "no caption within 30 s"
            listener.wait_for_timeout(100)
            polls += 1
        deadline_polls = 0
        while len(first_shown(final=True)) < 2 and deadline_polls < 150:
            listener.wait_for_timeout(200)
            deadline_polls += 1
        shown = [(c["speaker"], c["text"], c["final"]) for c in listener.evaluate("window.__captions")]
        assert set(first_shown(final=True)) == {host.pk, guest.pk}, shown
        captions = listener.evaluate("window.__captions")
        for user_id, line in first_shown(final=False).items():
            _, page, name = said[user_id]
            mouth = page.evaluate("window.__mouth")
            # The sentence this line is of: the last one begun before the line first appeared.
            line_began = min(c["at"] for c in captions if c["line"] == line["line"])
            starts = [start for start in mouth["starts"] if start <= line_began]
            assert starts, f"{name}'s caption came before they spoke"
            ends = [end for end in mouth["ends"] if end >= starts[-1]]
            assert ends, f"{name}'s sentence never ended"
            delay_ms = line["at"] - ends[0]
            record_property(f"caption_delay_ms_{name.split()[0].lower()}", delay_ms)
            final = first_shown(final=True)[user_id]
            final_ends = [end for end in mouth["ends"] if end <= final["at"]]
            final_ms = final["at"] - final_ends[-1] if final_ends else None
            record_property(f"caption_final_delay_ms_{name.split()[0].lower()}", final_ms)
            print(
                f"{name}: {line['text']!r} shown {delay_ms} ms after the sentence ended "
                f"({'final' if line['final'] else 'partial'}); final line {final['text']!r} after {final_ms} ms"
            )
            assert delay_ms <= 3000
        # Each listener may hide the captions for themself; the room keeps them on.
        first_line = listener.get_by_test_id("caption-line").first
        listener.get_by_test_id("captions-visibility").click()
        expect(first_line).to_be_hidden()
        expect(listener.get_by_test_id("captions-visibility")).to_have_text("Show captions")
        listener.get_by_test_id("captions-visibility").click()
        expect(first_line).to_be_visible()
        # The host turns them off for everyone.
        host_page.get_by_test_id("captions-toggle").uncheck()
        expect(listener.get_by_test_id("captions-panel")).to_be_hidden()
    finally:
        for context, _ in contexts:
            context.close()
