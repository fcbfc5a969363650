// The replay page: progress while the recording is processed, then the player (play, speed, waveform
// seek, who-spoke-when timeline) and the play count. The page works without this script too: the
// <audio> element keeps the browser's controls, and a <noscript> refresh follows the progress.
import { gettext, ngettext, interpolate } from "./i18n.js";

function clock(seconds) {
  const s = Math.max(0, Math.floor(seconds));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const rest = String(s % 60).padStart(2, "0");
  return h ? `${h}:${String(m).padStart(2, "0")}:${rest}` : `${m}:${rest}`;
}

function followProgress(section) {
  const url = section.dataset.statusUrl;
  const every = Number(section.dataset.pollMs) || 2000;
  const list = section.querySelector(".progress-steps");
  async function poll() {
    try {
      const response = await fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin" });
      if (response.ok) {
        const status = await response.json();
        if (status.ready || status.failed) {
          window.location.reload();
          return;
        }
        list.replaceChildren(
          ...status.steps.map((step) => {
            const item = document.createElement("li");
            item.className = step.done ? "is-done" : step.active ? "is-active" : "";
            item.textContent = step.label;
            const note = document.createElement("span");
            note.className = "visually-hidden";
            note.textContent = step.done ? " (done)" : step.active ? " (in progress)" : "";
            item.append(note);
            return item;
          }),
        );
      }
    } catch (error) {
      // Offline for a moment: try again on the next beat.
    }
    setTimeout(poll, every);
  }
  setTimeout(poll, every);
}

function setUpPlayer(section) {
  const audio = section.querySelector("audio");
  // One player: the waveform with its own controls takes the place of the browser's.
  const ui = section.querySelector("[data-player-ui]");
  audio.controls = false;
  audio.hidden = true;
  ui.hidden = false;
  const play = ui.querySelector("[data-play]");
  const showPlaying = () => {
    const playing = !audio.paused;
    play.querySelector("use").setAttribute("href", playing ? "#icon-pause" : "#icon-play");
    play.querySelector("[data-play-label]").textContent = playing ? gettext("Pause") : gettext("Play");
  };
  play.addEventListener("click", () => (audio.paused ? audio.play().catch(() => {}) : audio.pause()));
  audio.addEventListener("play", showPlaying);
  audio.addEventListener("pause", showPlaying);
  audio.addEventListener("ended", showPlaying);
  const wave = section.querySelector("#replay-waveform");
  const progress = wave.querySelector(".waveform-progress");
  const current = section.querySelector("[data-current]");
  const durationMs = Number(wave.dataset.durationMs) || 0;
  const duration = () => (Number.isFinite(audio.duration) && audio.duration > 0 ? audio.duration : durationMs / 1000);

  function seek(seconds) {
    audio.currentTime = Math.min(Math.max(0, seconds), duration());
    render();
  }
  function render() {
    const fraction = duration() ? audio.currentTime / duration() : 0;
    progress.style.width = `${(fraction * 100).toFixed(2)}%`;
    current.textContent = clock(audio.currentTime);
    wave.setAttribute("aria-valuenow", String(Math.round(audio.currentTime * 1000)));
    wave.setAttribute("aria-valuetext", clock(audio.currentTime));
  }
  audio.addEventListener("timeupdate", render);
  // The total stays the server's figure (the captured length): the browser's may round a frame down.
  audio.addEventListener("loadedmetadata", render);

  wave.addEventListener("click", (event) => {
    const box = wave.getBoundingClientRect();
    seek(((event.clientX - box.left) / box.width) * duration());
  });
  wave.addEventListener("keydown", (event) => {
    const steps = { ArrowLeft: -5, ArrowDown: -5, ArrowRight: 5, ArrowUp: 5, PageDown: -30, PageUp: 30 };
    if (event.key in steps) seek(audio.currentTime + steps[event.key]);
    else if (event.key === "Home") seek(0);
    else if (event.key === "End") seek(duration());
    else if (event.key === " " || event.key === "Enter") audio.paused ? audio.play() : audio.pause();
    else return;
    event.preventDefault();
  });

  section.querySelectorAll("[data-speed]").forEach((button) => {
    button.addEventListener("click", () => {
      audio.playbackRate = Number(button.dataset.speed);
      section.querySelectorAll("[data-speed]").forEach((other) => other.setAttribute("aria-pressed", String(other === button)));
    });
  });

  document.querySelectorAll("[data-seek-ms]").forEach((button) => {
    button.addEventListener("click", () => {
      seek(Number(button.dataset.seekMs) / 1000);
      audio.play().catch(() => {});
    });
  });

  // One play per viewer session is counted by the server; the page asks once, at the first start.
  let counted = false;
  audio.addEventListener("play", async () => {
    if (counted) return;
    counted = true;
    const token = section.querySelector("[name=csrfmiddlewaretoken]")?.value || "";
    try {
      const response = await fetch(section.dataset.playUrl, {
        method: "POST",
        credentials: "same-origin",
        headers: { "X-CSRFToken": token, Accept: "application/json" },
      });
      if (response.ok) {
        const result = await response.json();
        const count = document.querySelector("[data-play-count]");
        if (count) count.textContent = String(result.play_count);
      }
    } catch (error) {
      counted = false;
    }
  });
  showCaptions(audio, section.querySelector("[data-replay-caption]"));
  followTranscript(audio, document.querySelector("[data-transcript]"));
  // A search result links to the moment a line was said: ?t=<seconds>.
  const start = Number(new URLSearchParams(window.location.search).get("t"));
  if (start > 0) {
    const jump = () => seek(start);
    if (audio.readyState >= 1) jump();
    else audio.addEventListener("loadedmetadata", jump, { once: true });
  }
  render();
}

// An <audio> element draws no captions itself: read its captions track's cues and show the current
// one under the player, speaker first (the cue's WebVTT voice tag).
function showCaptions(audio, box) {
  if (!box) return;
  const track = Array.from(audio.textTracks).find((t) => t.kind === "captions");
  if (!track) return;
  track.mode = "hidden";
  track.addEventListener("cuechange", () => {
    const cue = track.activeCues && track.activeCues[0];
    box.replaceChildren();
    if (!cue) return;
    const voice = /^<v(?:\.[^ >]*)? ([^>]*)>/.exec(cue.text);
    const text = cue.text.replace(/<[^>]*>/g, "");
    const decode = (value) => new DOMParser().parseFromString(value, "text/html").documentElement.textContent;
    if (voice) {
      const who = document.createElement("strong");
      who.textContent = `${decode(voice[1])}: `;
      box.append(who);
    }
    box.append(decode(text));
  });
}

// Mark the transcript line being played.
function followTranscript(audio, list) {
  if (!list) return;
  const lines = Array.from(list.querySelectorAll("[data-start-ms]"));
  let current = null;
  audio.addEventListener("timeupdate", () => {
    const ms = audio.currentTime * 1000;
    const line = lines.find((el) => ms >= Number(el.dataset.startMs) && ms <= Number(el.dataset.endMs) + 300) || null;
    if (line === current) return;
    current?.classList.remove("is-current");
    line?.classList.add("is-current");
    current = line;
  });
}

const progress = document.querySelector(".replay-progress[data-status-url]");
if (progress) followProgress(progress);
const player = document.querySelector(".replay-player");
if (player) setUpPlayer(player);
