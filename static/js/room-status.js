// Where a room is in its life, as its page shows it: one function puts every part of the page in step
// with the room's status ("scheduled", "backstage", "live", "ended", "cancelled"; spaces_project/protocol
// ROOM_STATUSES). Each part that belongs to some statuses only says which with data-show-in="scheduled
// backstage"; the room page (room/lifecycle.js) calls showStatus with the status of each room.status
// event and of each snapshot, so every open page, the host's and the listeners', shows that status's
// parts and only those.
import { gettext, ngettext, interpolate, pageLanguage } from "./i18n.js";

const PILLS = {
  scheduled: [gettext("Scheduled"), "pill pill-muted"],
  backstage: [gettext("Starting soon"), "pill pill-muted"],
  live: ["LIVE", "pill pill-live"],
  ended: [gettext("Ended"), "pill pill-muted"],
  cancelled: [gettext("Cancelled"), "pill pill-muted"],
};

export function showStatus(status, { startedAt = null } = {}) {
  const page = document.querySelector("[data-room-status]");
  if (!page || !(status in PILLS)) return;
  const changed = page.dataset.roomStatus !== status;
  page.dataset.roomStatus = status;
  for (const part of document.querySelectorAll("[data-show-in]")) {
    part.hidden = !part.dataset.showIn.split(" ").includes(status);
  }
  const pill = page.querySelector("[data-status-pill]");
  if (pill) [pill.textContent, pill.className] = PILLS[status];
  const since = page.querySelector("[data-live-since] time");
  if (startedAt && since && since.getAttribute("datetime") !== startedAt) {
    since.setAttribute("datetime", startedAt);
    since.textContent = new Date(startedAt).toLocaleString(pageLanguage, {
      weekday: "short",
      day: "numeric",
      month: "short",
      hour: "2-digit",
      minute: "2-digit",
    });
  }
  // A notice of the last action ("The backstage is open…") speaks of a moment that has passed.
  if (changed) document.querySelector(".messages")?.remove();
}
