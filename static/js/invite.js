// The room page's invite form. It posts with fetch, so that inviting from a live room does not
// reload the page (and cut the host's audio), and it suggests people the inviter follows as they
// type. Without script the form posts normally and the page comes back with a message.
import { gettext, ngettext, interpolate } from "./i18n.js";

const form = document.querySelector("[data-invite-form]");

if (form) {
  const input = form.elements.handle;
  const status = form.querySelector("[data-invite-status]");
  const datalist = document.getElementById(input.getAttribute("list"));
  const invitees = document.querySelector("[data-invitees]");
  let suggestTimer = null;
  let asked = "";

  const show = (message, ok) => {
    status.textContent = message;
    status.classList.toggle("field-error", !ok);
  };

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const button = form.querySelector("button[type=submit]");
    button.disabled = true;
    try {
      const response = await fetch(form.action, {
        method: "POST",
        body: new FormData(form),
        headers: { Accept: "application/json", "X-CSRFToken": form.elements.csrfmiddlewaretoken.value },
        credentials: "same-origin",
      });
      const answer = await response.json().catch(() => ({ ok: false, message: gettext("Something went wrong; try again.") }));
      show(answer.message, answer.ok);
      if (answer.ok) {
        if (answer.invited && invitees) {
          const item = document.createElement("li");
          item.className = "pill";
          item.textContent = `@${answer.handle}`;
          invitees.prepend(item);
        }
        input.value = "";
        datalist?.querySelector(`option[value="@${CSS.escape(answer.handle)}"]`)?.remove();
      }
    } catch {
      show(gettext("Could not reach the server; try again."), false);
    } finally {
      button.disabled = false;
      input.focus();
    }
  });

  input.addEventListener("input", () => {
    clearTimeout(suggestTimer);
    suggestTimer = setTimeout(async () => {
      const query = input.value.trim().replace(/^@/, "");
      if (query === asked || !datalist) return;
      asked = query;
      try {
        const response = await fetch(`${form.dataset.suggestionsUrl}?q=${encodeURIComponent(query)}`, {
          headers: { Accept: "application/json" },
          credentials: "same-origin",
        });
        if (!response.ok) return;
        const { people } = await response.json();
        datalist.replaceChildren(
          ...people.map((person) => {
            const option = document.createElement("option");
            option.value = `@${person.handle}`;
            option.textContent = person.name;
            return option;
          }),
        );
      } catch {
        // Suggestions are a convenience; typing the handle still works.
      }
    }, 200);
  });
}
