// Clips: on a replay page, "Start here" / "End here" take the player's position into the clip form and
// the form is checked before it is sent (at most 60 s); on a live room page, "Last 30 s / 60 s" is sent
// without leaving the room and the clip's link is shown; on a clip's page, the page reloads once the
// clip is cut. Everything also works without this script (plain forms, a <noscript> refresh).
import { gettext, ngettext, interpolate, pageLanguage } from "./i18n.js";

const MAX_CLIP_S = 60;

function csrf(form) {
  const field = form.querySelector("input[name=csrfmiddlewaretoken]");
  return field ? field.value : "";
}

function setUpReplayForm(form) {
  const audio = document.getElementById("replay-audio");
  const start = form.querySelector("[name=start]");
  const end = form.querySelector("[name=end]");
  const error = form.querySelector("[data-clip-error]");
  const maker = form.closest("[data-clip-maker]");
  const position = () => (audio ? Math.round(audio.currentTime * 10) / 10 : 0);
  if (maker) {
    maker.addEventListener("toggle", () => {
      // Opening the form proposes the 30 s before the player's position (or the 30 s after the start).
      if (!maker.open || start.value || end.value) return;
      const at = position();
      const from = Math.max(0, at >= 30 ? at - 30 : at);
      start.value = String(Math.round(from * 10) / 10);
      end.value = String(Math.round((from + 30) * 10) / 10);
    });
  }
  form.querySelectorAll("[data-clip-mark]").forEach((button) => {
    button.addEventListener("click", () => {
      const field = button.dataset.clipMark === "start" ? start : end;
      field.value = String(position());
    });
  });
  form.addEventListener("submit", (event) => {
    const length = Number(end.value) - Number(start.value);
    let message = "";
    if (!(length > 0)) message = gettext("The clip must end after it starts.");
    else if (length > MAX_CLIP_S) message = interpolate(gettext("A clip lasts at most %(max)s seconds; this one would last %(length)s s."), { max: MAX_CLIP_S, length: length.toLocaleString(pageLanguage, { minimumFractionDigits: 1, maximumFractionDigits: 1 }) }, true);
    if (message) {
      event.preventDefault();
      error.textContent = message;
      error.hidden = false;
    }
  });
}

function setUpLiveForm(form) {
  const result = form.parentElement.querySelector("[data-clip-result]");
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const seconds = event.submitter ? event.submitter.value : "30";
    const body = new FormData(form);
    body.set("seconds", seconds);
    result.textContent = gettext("Clipping…");
    try {
      const response = await fetch(form.action, {
        method: "POST",
        body,
        credentials: "same-origin",
        headers: { Accept: "application/json", "X-CSRFToken": csrf(form) },
      });
      const answer = await response.json();
      if (!response.ok) {
        result.textContent = answer.message || gettext("The clip could not be made.");
        return;
      }
      result.replaceChildren(gettext("Your clip: "));
      const link = document.createElement("a");
      link.href = answer.url;
      link.target = "_blank";
      link.rel = "noopener";
      link.textContent = "open it";
      link.dataset.testid = "live-clip-link";
      result.append(link, " (it is ready in a moment).");
    } catch (error) {
      result.textContent = gettext("The clip could not be made: check your connection.");
    }
  });
}

function followClip(section) {
  const url = section.dataset.clipStatusUrl;
  const every = Number(section.dataset.pollMs) || 1000;
  async function poll() {
    try {
      const response = await fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin" });
      if (response.ok) {
        const status = await response.json();
        if (status.ready || status.failed) {
          window.location.reload();
          return;
        }
      }
    } catch (error) {
      // Offline for a moment: try again on the next beat.
    }
    setTimeout(poll, every);
  }
  setTimeout(poll, every);
}

document.querySelectorAll("[data-replay-clip-form]").forEach(setUpReplayForm);
document.querySelectorAll("[data-clip-form]").forEach(setUpLiveForm);
document.querySelectorAll("[data-clip-status-url]").forEach(followClip);
