// Wait for a recorded room's replay where a page promises it: poll the status the replay page polls
// (recordings/views/replays.py recording_status) and, once the replay is published, put a link to it in
// place of the promise. Used by the room page (room/lifecycle.js) when a room ends under a listener's
// eyes, and by the room page of an ended room whose replay is still being made ([data-replay-wait]).
import { gettext, ngettext, interpolate } from "./i18n.js";

const DEFAULT_POLL_MS = 2000;
const GIVE_UP_MS = 30 * 60 * 1000; // processing takes seconds; a stuck chain is the admin's to retry

export function waitForReplay(holder) {
  const statusUrl = holder.dataset.statusUrl;
  const replayUrl = holder.dataset.replayUrl;
  if (!statusUrl || !replayUrl) return;
  const every = Number(holder.dataset.pollMs) || DEFAULT_POLL_MS;
  const started = Date.now();

  function show(...children) {
    holder.replaceChildren(...children);
  }

  async function poll() {
    try {
      const response = await fetch(statusUrl, { headers: { Accept: "application/json" }, credentials: "same-origin" });
      if (response.ok) {
        const status = await response.json();
        if (status.ready) {
          const link = document.createElement("a");
          link.className = "button button-primary";
          link.href = replayUrl;
          link.dataset.testid = "replay-link";
          link.textContent = gettext("Play the replay");
          const note = document.createElement("p");
          note.textContent = gettext("The replay is ready.");
          show(note, link);
          holder.setAttribute("data-replay-state", "ready");
          return;
        }
        if (status.failed || status.status === "removed") {
          const note = document.createElement("p");
          note.textContent = gettext("The replay of this room could not be made.");
          show(note);
          holder.setAttribute("data-replay-state", "failed");
          return;
        }
      } else if (response.status === 403 || response.status === 404) {
        return; // not for this viewer (any more): leave the page as it is
      }
    } catch {
      // Offline for a moment: try again on the next beat.
    }
    if (Date.now() - started < GIVE_UP_MS) setTimeout(poll, every);
  }
  poll();
}

document.querySelectorAll("[data-replay-wait]").forEach((holder) => waitForReplay(holder));
