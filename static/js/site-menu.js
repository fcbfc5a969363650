// The header's menu on a narrow screen (templates/base.html): the search and the secondary links
// fold behind one button with aria-expanded. Without this script the header wraps as it is.

import { installMenus } from "./menus.js";

// Every page's <details> menus: focus into them when opened from the keyboard, Escape closes them.
installMenus(document);

const NARROW = window.matchMedia("(max-width: 600px)");

const header = document.querySelector(".site-header");
const button = header?.querySelector("[data-menu-button]");
const menu = header?.querySelector("[data-site-menu]");

function setOpen(open) {
  button.setAttribute("aria-expanded", String(open));
  menu.classList.toggle("is-open", open);
}

if (header && button && menu) {
  header.classList.add("has-menu");
  button.hidden = false;
  button.addEventListener("click", () => {
    const open = button.getAttribute("aria-expanded") !== "true";
    setOpen(open);
    if (open && NARROW.matches) menu.querySelector("input, a, button")?.focus();
  });
  // Escape closes it and gives focus back to the button; so does a click outside it.
  header.addEventListener("keydown", (event) => {
    if (event.key === "Escape" && menu.classList.contains("is-open")) {
      setOpen(false);
      button.focus();
    }
  });
  document.addEventListener("click", (event) => {
    if (menu.classList.contains("is-open") && !header.contains(event.target)) setOpen(false);
  });
  NARROW.addEventListener("change", () => setOpen(false));
}
