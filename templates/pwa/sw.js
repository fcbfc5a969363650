{% autoescape off %}// Spaces' service worker (spaces_project/pwa.py serves it at /sw.js, scope /; docs/push.md).
// It shows the pushes the server sends (accounts/services/push.py), opens or focuses the room a click
// names, and shows the offline page when a page cannot be loaded. It keeps no page but that one:
// every other page may need the person's session, so it always comes from the network.
"use strict";

const VERSION = "{{ version }}";
const CACHE = `spaces-offline-${VERSION}`;
const OFFLINE_URL = {{ offline_url }};
const PRECACHE = {{ precache }};
const ICON_URL = {{ icon_url }};

self.addEventListener("install", (event) => {
  event.waitUntil(
    caches
      .open(CACHE)
      .then((cache) => cache.addAll(PRECACHE.map((url) => new Request(url, { credentials: "omit" }))))
      .then(() => self.skipWaiting()),
  );
});

self.addEventListener("activate", (event) => {
  event.waitUntil(
    caches
      .keys()
      .then((keys) => Promise.all(keys.filter((key) => key.startsWith("spaces-offline-") && key !== CACHE).map((key) => caches.delete(key))))
      .then(() => self.clients.claim()),
  );
});

self.addEventListener("fetch", (event) => {
  const request = event.request;
  if (request.method !== "GET") return;
  if (request.mode === "navigate") {
    // Pages always from the network; the offline page only when there is none.
    event.respondWith(fetch(request).catch(() => caches.match(OFFLINE_URL).then((page) => page || Response.error())));
    return;
  }
  const url = new URL(request.url);
  if (url.origin === self.location.origin && PRECACHE.includes(url.pathname)) {
    // The offline page's own stylesheet and icon, from the network when there is one.
    event.respondWith(fetch(request).catch(() => caches.match(url.pathname).then((file) => file || Response.error())));
  }
});

// Only a path of this site is opened: whatever the payload says, a click never leaves it.
function sitePath(url) {
  try {
    const parsed = new URL(url || "/", self.location.origin);
    return parsed.pathname + parsed.search + parsed.hash;
  } catch {
    return "/";
  }
}

self.addEventListener("push", (event) => {
  let data = {};
  try {
    data = event.data ? event.data.json() : {};
  } catch {
    data = { body: event.data ? event.data.text() : "" };
  }
  const options = {
    body: data.body || "",
    icon: data.icon || ICON_URL,
    badge: ICON_URL,
    data: { url: sitePath(data.url) },
  };
  if (data.tag) Object.assign(options, { tag: String(data.tag), renotify: true });
  event.waitUntil(self.registration.showNotification(data.title || "Spaces", options));
});

self.addEventListener("notificationclick", (event) => {
  event.notification.close();
  const target = new URL(sitePath(event.notification.data && event.notification.data.url), self.location.origin);
  event.waitUntil(
    (async () => {
      const windows = await self.clients.matchAll({ type: "window", includeUncontrolled: true });
      // A tab already on the room is brought forward rather than opening it twice.
      const open = windows.find((client) => {
        const url = new URL(client.url);
        return url.origin === target.origin && url.pathname === target.pathname;
      });
      if (open && "focus" in open) return open.focus();
      return self.clients.openWindow(target.href);
    })(),
  );
});
{% endautoescape %}
