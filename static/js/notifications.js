// Every signed-in page: one websocket to /ws/me/ (the per-person channel of spaces_project/protocol) keeps
// the unread badge, the notification list and a host's reminder count up to date without a reload.
// The server sends the whole count each time, so a missed or repeated event cannot leave it wrong,
// and after every reconnect it sends the count again (user.snapshot).
import { gettext, ngettext, interpolate } from "./i18n.js";

// Kept in step with spaces_project/protocol (tests/browser/test_notifications_js_in_step.py checks it).
const USER_SOCKET_PATH = "/ws/me/";
const CLOSE_SIGN_IN_REQUIRED = 4001;

const BACKOFF_FIRST_MS = 1000;
const BACKOFF_MAX_MS = 30_000;
const BACKOFF_JITTER = 0.3;

const badge = document.querySelector("[data-unread-badge]");
const bellLink = document.querySelector("[data-unread-link]");
const list = document.querySelector("[data-notification-list]:not([data-static])");

function setUnread(count) {
  if (badge) {
    badge.textContent = String(count);
    badge.hidden = count === 0;
  }
  if (bellLink) bellLink.setAttribute("aria-label", count ? interpolate(ngettext("Notifications, %(counter)s unread", "Notifications, %(counter)s unread", count), { counter: count }, true) : gettext("Notifications"));
  const markRead = document.querySelector("[data-mark-read]");
  if (markRead) markRead.hidden = count === 0;
}

// Only a path on this site becomes a link (the server writes them; never trust a scheme).
const safePath = (url) => typeof url === "string" && url.startsWith("/") && !url.startsWith("//");

function avatarFor(actor) {
  if (actor && actor.avatar && safePath(actor.avatar)) {
    const img = document.createElement("img");
    Object.assign(img, { className: "avatar", src: actor.avatar, width: 40, height: 40, alt: "" });
    return img;
  }
  const span = document.createElement("span");
  if (actor) {
    span.className = "avatar avatar-initial";
    span.style.cssText = "width:40px;height:40px;font-size:20px";
    span.textContent = (actor.name || "?").slice(0, 1).toUpperCase();
  } else {
    span.className = "notification-icon";
    // The bell from the page's icon sprite (templates/_icons.html), not an emoji.
    const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
    svg.setAttribute("class", "icon icon-bell");
    const use = document.createElementNS("http://www.w3.org/2000/svg", "use");
    use.setAttribute("href", "#icon-bell");
    svg.append(use);
    span.append(svg);
  }
  span.setAttribute("aria-hidden", "true");
  return span;
}

function addToList(notification) {
  if (!list || list.querySelector(`[data-notification-id="${Number(notification.id)}"]`)) return;
  const item = document.createElement("li");
  item.className = "card notification notification-unread";
  item.dataset.notificationId = String(Number(notification.id));
  const body = document.createElement("div");
  body.className = "notification-body";
  const unread = document.createElement("span");
  unread.className = "visually-hidden";
  unread.textContent = gettext("Unread: ");
  body.append(unread);
  if (safePath(notification.url)) {
    const link = document.createElement("a");
    link.href = notification.url;
    link.textContent = notification.text;
    body.append(link);
  } else {
    body.append(document.createTextNode(notification.text));
  }
  const when = document.createElement("small");
  const time = document.createElement("time");
  time.dateTime = notification.created_at;
  time.textContent = "just now";
  when.append(" ", time);
  body.append(when);
  const pill = document.createElement("span");
  pill.className = "pill";
  pill.setAttribute("aria-hidden", "true");
  pill.textContent = gettext("New");
  item.append(avatarFor(notification.actor), body, pill);
  list.prepend(item);
  document.querySelector("[data-notifications-empty]")?.remove();
  unseen.add(Number(notification.id));
  markSeen();
}

// The list is open: what arrives on it is seen, as what it showed on opening was (the server marked
// those read). Seen only while the page is visible; the answer comes back as user.unread.
const seenUrl = list?.dataset.seenUrl;
const unseen = new Set();

function markSeen() {
  if (!seenUrl || !unseen.size || document.visibilityState !== "visible") return;
  const token = document.querySelector("[data-mark-read] [name=csrfmiddlewaretoken]")?.value || "";
  const body = new URLSearchParams();
  for (const id of unseen) body.append("id", String(id));
  unseen.clear();
  fetch(seenUrl, {
    method: "POST",
    body,
    credentials: "same-origin",
    headers: { Accept: "application/json", "X-CSRFToken": token },
  }).catch(() => {}); // unseen stays unread: the badge still counts it, nothing is lost
}

if (seenUrl) document.addEventListener("visibilitychange", markSeen);

function setReminderCount(roomId, count) {
  for (const el of document.querySelectorAll(`[data-reminder-count][data-room-id="${Number(roomId)}"]`)) {
    el.textContent = String(count);
    const label = el.parentElement?.querySelector("[data-reminder-label]");
    if (label) label.textContent = count === 1 ? "person has" : "people have";
  }
}

function handle(event) {
  switch (event.type) {
    case "user.snapshot":
      setUnread(event.unread_count);
      for (const { room_id: roomId, count } of event.reminder_counts) setReminderCount(roomId, count);
      document.documentElement.dataset.userChannel = "open"; // (tests wait for this)
      break;
    case "user.unread":
      setUnread(event.unread_count);
      break;
    case "user.notification":
      addToList(event.notification);
      setUnread(event.unread_count);
      break;
    case "user.reminder_count":
      setReminderCount(event.room_id, event.count);
      break;
    default:
      break; // an event this page does not know yet: ignore it
  }
}

let attempt = 0;
let leaving = false;

function connect() {
  const scheme = window.location.protocol === "https:" ? "wss:" : "ws:";
  const socket = new WebSocket(`${scheme}//${window.location.host}${USER_SOCKET_PATH}`);
  socket.addEventListener("open", () => {
    attempt = 0;
  });
  socket.addEventListener("message", (message) => {
    let event;
    try {
      event = JSON.parse(message.data);
    } catch {
      return;
    }
    handle(event);
  });
  socket.addEventListener("close", (close) => {
    delete document.documentElement.dataset.userChannel;
    if (leaving || close.code === CLOSE_SIGN_IN_REQUIRED) return;
    // Jittered backoff: a server restart must not bring every page back in the same instant.
    const base = Math.min(BACKOFF_MAX_MS, BACKOFF_FIRST_MS * 2 ** attempt);
    attempt += 1;
    setTimeout(connect, base * (1 + BACKOFF_JITTER * (2 * Math.random() - 1)));
  });
  window.addEventListener("pagehide", () => {
    leaving = true;
    socket.close(1000);
  }, { once: true });
}

connect();
