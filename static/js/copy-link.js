// "Copy" buttons: <button data-copy-target="field-id" data-copy-done="Link copied.">, the status in
// [data-copy-status] (a link, or a clip's embed code).
import { gettext, ngettext, interpolate } from "./i18n.js";
document.querySelectorAll("[data-copy-target]").forEach((button) => {
  button.addEventListener("click", () => {
    const input = document.getElementById(button.dataset.copyTarget);
    const status = document.querySelector("[data-copy-status]");
    const done = () => { if (status) status.textContent = button.dataset.copyDone || gettext("Link copied."); };
    input.select();
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(input.value).then(done, () => { document.execCommand("copy"); done(); });
    } else {
      document.execCommand("copy");
      done();
    }
  });
});
