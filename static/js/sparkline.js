// The host's sparkline of listeners over the last 10 minutes (templates/rooms/_room_analytics.html).
// The server draws it from the room's analytics; this keeps it going from the live listener count the
// room page already shows (room.js updates it on every `room.listeners` event): the current minute's
// point is the most listeners seen at once in it, and a new point starts each minute.

import { gettext, ngettext, interpolate } from "./i18n.js";
const MINUTES = 10;
const WIDTH = 160;
const HEIGHT = 36;

function draw(root, values) {
  const line = root.querySelector("[data-sparkline-line]");
  const label = root.querySelector("[data-sparkline-label]");
  const top = Math.max(1, ...values);
  const step = values.length > 1 ? (WIDTH - 2) / (values.length - 1) : 0;
  const points = values.map((v, i) => `${(1 + i * step).toFixed(1)},${(HEIGHT - 2 - (v / top) * (HEIGHT - 4)).toFixed(1)}`);
  line.setAttribute("points", points.join(" "));
  label.textContent = interpolate(gettext("Listeners over the last %(minutes)s minutes: %(values)s"), { minutes: MINUTES, values: values.join(", ") }, true);
  root.dataset.values = values.join(",");
}

function setUp(root) {
  const count = document.querySelector("[data-testid=listener-count]");
  if (!count) return;
  const values = (root.dataset.values || "").split(",").filter((v) => v !== "").map(Number);
  if (!values.length) values.push(0);
  let minute = Math.floor(Date.now() / 60000);
  const current = () => Number(count.textContent.trim()) || 0;

  const update = () => {
    const now = Math.floor(Date.now() / 60000);
    while (minute < now) {
      minute += 1;
      values.push(current());
    }
    values[values.length - 1] = Math.max(values[values.length - 1], current());
    values.splice(0, Math.max(0, values.length - MINUTES));
    draw(root, values);
  };
  new MutationObserver(update).observe(count, { childList: true, characterData: true, subtree: true });
  setInterval(update, 15000);
  update();
}

document.querySelectorAll("[data-sparkline]").forEach(setUp);
