// Shows <time data-local-time> in the browser's time zone and tells forms which zone the browser is in.
import { gettext, interpolate, pageLanguage } from "./i18n.js";
const pad = (n) => String(n).padStart(2, "0");
let zone = "";
try {
  zone = Intl.DateTimeFormat().resolvedOptions().timeZone || "";
} catch (e) {
  zone = "";
}
document.querySelectorAll("time[data-local-time]").forEach((el) => {
  const when = new Date(el.getAttribute("datetime"));
  if (isNaN(when.getTime())) return;
  el.textContent = el.dataset.localTime === "time"
    ? when.toLocaleTimeString(pageLanguage, { hour: "2-digit", minute: "2-digit" })
    : when.toLocaleString(pageLanguage, { weekday: "short", day: "numeric", month: "short", hour: "2-digit", minute: "2-digit" });
  if (zone) el.title = zone;
});
if (zone) {
  document.querySelectorAll('input[type="hidden"][name="tz"]').forEach((input) => { input.value = zone; });
  document.querySelectorAll("input[data-utc]").forEach((input) => {
    const when = new Date(input.dataset.utc);
    if (isNaN(when.getTime())) return;
    input.value = `${when.getFullYear()}-${pad(when.getMonth() + 1)}-${pad(when.getDate())}T${pad(when.getHours())}:${pad(when.getMinutes())}`;
  });
  document.querySelectorAll("[data-tz-note]").forEach((el) => { el.textContent = interpolate(gettext("Times are in your time zone (%(zone)s)."), { zone }, true); });
}
