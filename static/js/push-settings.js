// The notification settings page's "Push on this device" (templates/accounts/notification_settings.html).
// The switches belong to this browser's subscription: the page asks the service worker's push manager
// for it, sends its toJSON() to the server (which answers with the kinds it takes), and sends it again
// with the kinds chosen. A new device starts with every kind on (accounts/services/push.py).
import { gettext, ngettext, interpolate } from "./i18n.js";

const section = document.querySelector("[data-push-settings]");

function keyBytes(base64url) {
  const base64 = base64url.replace(/-/g, "+").replace(/_/g, "/") + "=".repeat((4 - (base64url.length % 4)) % 4);
  return Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
}

function sameKey(subscription, key) {
  const current = subscription.options && subscription.options.applicationServerKey;
  if (!current) return true;
  const a = new Uint8Array(current);
  return a.length === key.length && a.every((byte, i) => byte === key[i]);
}

async function start() {
  const toggle = section.querySelector("[data-push-toggle]");
  const kinds = section.querySelector("[data-push-kinds]");
  const status = section.querySelector("[data-push-status]");
  const token = section.querySelector("[name=csrfmiddlewaretoken]").value;
  const serverKey = keyBytes(section.dataset.publicKey);
  const say = (text) => {
    status.textContent = text;
  };

  async function post(url, body) {
    const response = await fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", Accept: "application/json", "X-CSRFToken": token },
      body: JSON.stringify(body),
    });
    const data = await response.json().catch(() => ({}));
    if (!response.ok) throw new Error(data.message || gettext("The server did not take it; try again."));
    return data;
  }

  function show(kindsOn) {
    toggle.checked = Boolean(kindsOn);
    kinds.disabled = !kindsOn;
    if (kindsOn) for (const box of kinds.querySelectorAll("input")) box.checked = kindsOn.includes(box.value);
  }

  section.hidden = false;
  const registration = await navigator.serviceWorker.register("/sw.js", { scope: "/" });
  await navigator.serviceWorker.ready;
  let subscription = await registration.pushManager.getSubscription();
  if (subscription && !sameKey(subscription, serverKey)) {
    // The site's VAPID key changed: this subscription can no longer be pushed to.
    await subscription.unsubscribe();
    subscription = null;
  }
  show(null);
  if (subscription && Notification.permission === "granted") {
    try {
      // Sent again on every visit: the server learns renewed keys, and answers with this device's kinds.
      show((await post(section.dataset.subscribeUrl, subscription.toJSON())).kinds);
    } catch (error) {
      say(error.message);
    }
  }

  toggle.addEventListener("change", async () => {
    toggle.disabled = true;
    try {
      if (toggle.checked) {
        const permission = await Notification.requestPermission();
        if (permission !== "granted") {
          throw new Error("Notifications are blocked for this site: allow them in the browser's settings.");
        }
        subscription =
          (await registration.pushManager.getSubscription()) ||
          (await registration.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: serverKey }));
        show((await post(section.dataset.subscribeUrl, subscription.toJSON())).kinds);
        say(gettext("Push is on for this device."));
      } else {
        if (subscription) {
          await post(section.dataset.unsubscribeUrl, { endpoint: subscription.endpoint });
          await subscription.unsubscribe();
          subscription = null;
        }
        show(null);
        say(gettext("Push is off for this device."));
      }
    } catch (error) {
      toggle.checked = !toggle.checked;
      kinds.disabled = !toggle.checked;
      say(error.message);
    } finally {
      toggle.disabled = false;
    }
  });

  kinds.addEventListener("change", async () => {
    if (!subscription) return;
    const chosen = [...kinds.querySelectorAll("input:checked")].map((box) => box.value);
    try {
      show((await post(section.dataset.subscribeUrl, { ...subscription.toJSON(), kinds: chosen })).kinds);
      say(gettext("Saved for this device."));
    } catch (error) {
      say(error.message);
    }
  });
}

if (section && "serviceWorker" in navigator && "PushManager" in window && "Notification" in window) {
  start().catch((error) => {
    section.querySelector("[data-push-status]").textContent = interpolate(gettext("Push is not available here: %(reason)s"), { reason: error.message }, true);
  });
}
