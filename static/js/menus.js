// Menus and disclosures made of <details>, on every page (the live room's leave menu and a person's
// actions, the confirmations to end a room or delete a replay, the clip maker): docs/accessibility.md.

// Opened from the keyboard (its summary has the focus), a menu gives the focus to its first control;
// Escape closes the open one and gives the focus back to its summary.
export function installMenus(scope) {
  scope.addEventListener(
    "toggle",
    (event) => {
      const menu = event.target;
      if (!(menu instanceof HTMLDetailsElement) || !menu.open) return;
      const summary = menu.querySelector(":scope > summary");
      if (document.activeElement !== summary) return;
      const controls = ":is(button, a[href], input:not([type=hidden]), select, textarea):not([disabled], [hidden])";
      const first = menu.querySelector(`:scope > ${controls}, :scope > :not(summary) ${controls}`);
      first?.focus();
    },
    true,
  );
  scope.addEventListener("keydown", (event) => {
    if (event.key !== "Escape") return;
    const menu = event.target.closest?.("details[open]");
    if (!menu) return;
    menu.open = false;
    menu.querySelector(":scope > summary").focus();
    event.preventDefault();
  });
}

