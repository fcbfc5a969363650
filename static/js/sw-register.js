// Every page: the service worker (/sw.js, scope /) shows pushes, opens the room a notification names
// and shows the offline page when there is no network; it also makes the site installable.
if ("serviceWorker" in navigator) {
  navigator.serviceWorker.register("/sw.js", { scope: "/" }).catch(() => {
    // Not a secure context, or storage is off: the site works as before, without it.
  });
}

// Signing out turns push off in this browser (docs/push.md): the browser's subscription is dropped
// before the form goes, so that whoever signs in here next is not subscribed with it (the settings
// page sends an existing subscription again on each visit). The server forgets the device too.
// At most a second is spent on it: signing out never waits on the push service.
const UNSUBSCRIBE_WAIT_MS = 1000;

async function unsubscribeThisBrowser() {
  const registration = await navigator.serviceWorker.getRegistration("/");
  const subscription = await registration?.pushManager?.getSubscription();
  if (subscription) await subscription.unsubscribe();
}

for (const form of document.querySelectorAll("form[data-sign-out]")) {
  form.addEventListener("submit", (event) => {
    if (!("serviceWorker" in navigator) || form.dataset.unsubscribed) return;
    event.preventDefault();
    form.dataset.unsubscribed = "1";
    const wait = new Promise((resolve) => setTimeout(resolve, UNSUBSCRIBE_WAIT_MS));
    Promise.race([unsubscribeThisBrowser().catch(() => {}), wait]).then(() => form.submit());
  });
}
