"""What the live-audio browser tests and bench/browser_audio.py listen with: Chromium with a fake
microphone, tones for it, and scripts installed in a page before its own, that note what the page plays.

The pages are "listened to" through the AnalyserNode that static/js/audio.js keeps on its playback
path, and, for gaps, through an AudioWorklet tapped onto its play-out node. Nothing here imports
Django or pytest.
"""

import json
import shutil
import socket
import subprocess
import time
import urllib.request
import wave

import numpy as np

SAMPLE_RATE = 48_000
TONE_SECONDS = 10  # Chromium loops the file; whole cycles of each tone make the loop seamless
HOST_HZ, GUEST_HZ, INJECTED_HZ = 440, 880, 660

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def launch_with_microphone(browser, wav: str):
    """A Chromium whose fake microphone plays `wav` in a loop, allowed to play audio unprompted."""
    return browser.browser_type.launch(
        executable_path=CHROMIUM,
        headless=True,
        args=[
            *CHROMIUM_ARGS,
            "--use-fake-device-for-media-stream",
            "--use-fake-ui-for-media-stream",
            f"--use-file-for-fake-audio-capture={wav}",
            "--autoplay-policy=no-user-gesture-required",
        ],
    )


def write_tone(
    path,
    freq: float | None,
    *,
    marker_hz: float | None = None,
    marker_every_s: float = 1.0,
    marker_s: float = 0.1,
) -> str:
    """A WAV of TONE_SECONDS of a sine at `freq` (None: silence). With `marker_hz`, a burst of that
    frequency (`marker_s` long) starts every `marker_every_s` on top of it: onsets a far page can
    date."""
    t = np.arange(SAMPLE_RATE * TONE_SECONDS) / SAMPLE_RATE
    signal = 0.5 * np.sin(2 * np.pi * freq * t) if freq else np.zeros_like(t)
    if marker_hz:
        signal *= 0.6
        burst = int(marker_s * SAMPLE_RATE)
        envelope = np.ones(burst)
        ramp = int(0.005 * SAMPLE_RATE)  # no click at either end
        envelope[:ramp] = np.linspace(0, 1, ramp)
        envelope[-ramp:] = np.linspace(1, 0, ramp)
        step = int(marker_every_s * SAMPLE_RATE)
        for start in range(0, len(t) - burst + 1, step):
            signal[start : start + burst] += 0.3 * envelope * np.sin(2 * np.pi * marker_hz * t[:burst])
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(SAMPLE_RATE)
        out.writeframes((signal * 32767).astype("<i2").tobytes())
    return str(path)


def wait_until(page, expression: str, timeout_ms: int = 10_000) -> None:
    """Poll `expression` in the page. Not wait_for_function: Playwright evaluates its predicate with
    eval() inside the page, which the site's Content-Security-Policy rightly refuses."""
    deadline = time.monotonic() + timeout_ms / 1000
    while not page.evaluate(expression):
        if time.monotonic() > deadline:
            raise AssertionError(f"{expression} not true within {timeout_ms} ms")
        page.wait_for_timeout(20)


def ears_script(freqs=(HOST_HZ, INJECTED_HZ, GUEST_HZ)) -> str:
    """Installed in a page before its scripts run: polls the page's playback analyser every 10 ms.

    A frequency counts as heard when, for 3 polls in a row (30 ms), its bin is above -60 dB, 30 dB
    above the spectrum's median and within 15 dB of the loudest bin: a tone that is really playing,
    not the broadband burst of a stream starting, a codec harmonic of another tone (880 Hz is
    440 Hz's second harmonic), or what a speaker's echo canceller leaves of the room in their
    microphone (some 35 dB down). window.__ears keeps, per frequency: first (performance.now()) and
    last (Date.now()) time heard, whether heard now, in how many polls, and every onset (Date.now()
    when it began to be heard again).
    """
    return """
(() => {
  const freqs = FREQS;
  const ears = (window.__ears = { first: {}, last: {}, now: {}, run: {}, count: {}, onsets: {}, polls: 0 });
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
      if (heard && !ears.now[f]) (ears.onsets[f] = ears.onsets[f] || []).push(Date.now());
      ears.now[f] = heard;
      if (heard) {
        ears.count[f] = (ears.count[f] || 0) + 1;
        if (ears.first[f] === undefined) ears.first[f] = performance.now();
        ears.last[f] = Date.now();
      }
    }
  }, 10);
})();
""".replace("FREQS", str(list(freqs)))


EARS = ears_script()


def mouth_script(marker_hz: float) -> str:
    """Installed in a speaker's page: when each marker (write_tone's `marker_hz` bursts) was captured,
    in window.__mouth.onsets (Date.now()), by an analyser on the microphone stream the page gets,
    with the detector of ears_script (same FFT size and smoothing as static/js/audio.js's analyser,
    three clear polls), so both ends date an onset alike."""
    return """
(() => {
  const mouth = (window.__mouth = { onsets: [] });
  const original = navigator.mediaDevices.getUserMedia.bind(navigator.mediaDevices);
  navigator.mediaDevices.getUserMedia = async (constraints) => {
    const stream = await original(constraints);
    const context = new AudioContext();
    const analyser = context.createAnalyser();
    analyser.fftSize = 2048;
    analyser.smoothingTimeConstant = 0.2;
    context.createMediaStreamSource(stream).connect(analyser);
    const data = new Float32Array(analyser.frequencyBinCount);
    let run = 0;
    const timer = setInterval(() => {
      if (stream.getAudioTracks().every((track) => track.readyState === "ended")) {
        clearInterval(timer);
        context.close();
        return;
      }
      analyser.getFloatFrequencyData(data);
      const finite = Array.from(data, (v) => (Number.isFinite(v) ? v : -300));
      const loudest = Math.max(...finite);
      const median = finite.slice().sort((a, b) => a - b)[finite.length >> 1];
      const i = Math.round(MARKER / (context.sampleRate / analyser.fftSize));
      const peak = Math.max(finite[i - 1], finite[i], finite[i + 1]);
      const clear = peak > -60 && peak - median > 30 && loudest - peak < 15;
      run = clear ? run + 1 : 0;
      if (run === 3) mouth.onsets.push(Date.now());
    }, 10);
    return stream;
  };
})();
""".replace("MARKER", str(marker_hz))


# A tap on the play-out path, exact to the sample: an AudioWorklet fed by static/js/audio.js's
# play-out node. From the first audible sample it watches `seconds` of audio and measures the
# longest run of digital silence (|x| < 1e-3, -60 dBFS: a playing tone never stays that quiet for
# more than a sample or two). window.__tap.done is set when the window is over. It also notes when
# a frame of digital silence reached the play-out (quietFramesAt): the room's own audio had a gap
# there, or this page could not decode in time.
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

# What the tap saw in one join, read once window.__tap.done is set.
TAP_FIGURES = """({
    longest_ms: window.__tap.longest_ms,
    gaps: window.__tap.gaps_over_40ms,
    after_snapshot_ms: window.__tap.firstAudioAt - window.spacesAudio.marks.snapshot,
    after_first_bundle_ms: window.__tap.firstAudioAt - window.spacesAudio.marks.firstBundle,
    after_navigation_ms: window.__tap.firstAudioAt,
    playout: window.__tap.playout,
    page: window.__tap.page,
    // Frames heard in the window arrived from shortly before it began until its end.
    quiet_frames: window.__tap.quietFramesAt.filter(
        (t) => t >= window.__tap.firstAudioAt - 500 && t <= window.__tap.doneAt
    ).length,
})"""


class UnemulatedChromium:
    """A Chromium of its own that Playwright drives over CDP without its default overrides.

    Playwright turns on focus emulation (`Emulation.setFocusEmulationEnabled`) in every page it
    makes, and Chromium does that by counting the page as captured, which keeps it "visible": CDP's
    `Page.setWebLifecycleState` then hides and freezes nothing. A page of this browser's default
    context (`connect_over_cdp(no_defaults=True)`) has no such override, so a freeze is a real one.
    Its screen and touch are set through CDP (`phone_page`). Close it with `close()`."""

    def __init__(self, browser_type, profile_dir) -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        self.process = subprocess.Popen(
            [
                CHROMIUM,
                "--headless",
                *CHROMIUM_ARGS,
                "--mute-audio",
                "--disable-background-timer-throttling",
                "--disable-renderer-backgrounding",
                f"--remote-debugging-port={port}",
                f"--user-data-dir={profile_dir}",
                "about:blank",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/version", timeout=2) as answer:
                    endpoint = json.load(answer)["webSocketDebuggerUrl"]
                break
            except OSError:
                if time.monotonic() > deadline or self.process.poll() is not None:
                    self.process.kill()
                    raise RuntimeError("Chromium did not open its debugging port") from None
                time.sleep(0.1)
        self.browser = browser_type.connect_over_cdp(endpoint, no_defaults=True)
        self.context = self.browser.contexts[0]

    def phone_page(self, width: int, height: int):
        """A page on a `width` x `height` touch screen at twice the density, and its CDP session."""
        page = self.context.new_page()
        cdp = self.context.new_cdp_session(page)
        cdp.send(
            "Emulation.setDeviceMetricsOverride",
            {"width": width, "height": height, "deviceScaleFactor": 2, "mobile": True},
        )
        cdp.send("Emulation.setTouchEmulationEnabled", {"enabled": True, "maxTouchPoints": 5})
        return page, cdp

    def close(self) -> None:
        try:
            self.browser.close()
        finally:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def cdp_tap(cdp, locator) -> None:
    """A finger's tap on the middle of `locator`, through CDP (for a page whose context Playwright
    did not make with touch)."""
    box = locator.bounding_box()
    point = {"x": box["x"] + box["width"] / 2, "y": box["y"] + box["height"] / 2}
    cdp.send("Input.dispatchTouchEvent", {"type": "touchStart", "touchPoints": [point]})
    cdp.send("Input.dispatchTouchEvent", {"type": "touchEnd", "touchPoints": []})
