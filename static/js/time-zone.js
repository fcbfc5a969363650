// Sign-up: the browser's IANA time zone goes into the hidden field, so emails and notifications
// write times in the person's own zone from the start (the server checks the name; UTC otherwise).
const zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
if (zone) {
  for (const input of document.querySelectorAll("input[data-browser-time-zone]")) {
    if (!input.value) input.value = zone;
  }
}
