// Every page: the service worker (/sw.js, scope /) shows pushes, opens the room a notification names
// and shows the offline page when there is no network; it also makes the site installable.
if ("serviceWorker" in navigator) {
  navigator.serviceWorker.register("/sw.js", { scope: "/" }).catch(() => {
    // Not a secure context, or storage is off: the site works as before, without it.
  });
}
