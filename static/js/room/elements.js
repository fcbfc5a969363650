// Building the room page's elements: `h` makes one, `syncList` keeps a list of people in order.
// An interface icon from the page's sprite (templates/_icons.html), as the `icon` template tag
// draws it: decoration beside words that say the same, or, with a label, an image of that name.
const SVG = "http://www.w3.org/2000/svg";
export function icon(name, label = "") {
  const svg = document.createElementNS(SVG, "svg");
  svg.setAttribute("class", `icon icon-${name}`);
  if (label) {
    svg.setAttribute("role", "img");
    svg.setAttribute("aria-label", label);
    const title = document.createElementNS(SVG, "title");
    title.textContent = label;
    svg.append(title);
  } else {
    svg.setAttribute("aria-hidden", "true");
    svg.setAttribute("focusable", "false");
  }
  const use = document.createElementNS(SVG, "use");
  use.setAttribute("href", `#icon-${name}`);
  svg.append(use);
  return svg;
}

export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === false || value === null || value === undefined) continue;
    if (name === "class") el.className = value;
    else if (name === "text") el.textContent = value;
    else if (name.startsWith("on")) el.addEventListener(name.slice(2), value);
    else if (name === "dataset") Object.assign(el.dataset, value);
    else el.setAttribute(name, value === true ? "" : value);
  }
  el.append(...children.flat().filter((c) => c !== null && c !== undefined && c !== false));
  return el;
}

export function button(text, testid, onclick, { cls = "", label = null, icon: name = null, keys = null } = {}) {
  return h("button", { type: "button", class: cls, "data-testid": testid, "aria-label": label, "aria-keyshortcuts": keys, onclick }, name && icon(name), text);
}

export function avatar(p, size) {
  if (p.avatar) return h("img", { class: "avatar", src: p.avatar, width: size, height: size, alt: "" });
  const initial = h("span", { class: "avatar avatar-initial", "aria-hidden": "true", text: (p.name || "?").charAt(0).toUpperCase() });
  initial.style.width = initial.style.height = `${size}px`;
  initial.style.fontSize = `${Math.round(size / 2.4)}px`;
  initial.dataset.hue = `${p.user_id % 6}`;
  return initial;
}

export function updatePerson(el, p, profileUrl) {
  const link = el.querySelector(".member-name");
  link.textContent = p.name;
  if (p.handle) link.href = profileUrl.replace("__handle__", encodeURIComponent(p.handle));
  const handle = el.querySelector(".member-handle");
  if (handle) handle.textContent = p.handle ? `@${p.handle}` : "";
}

// Update `list` to show `items` in order, reusing each person's element so that an open menu,
// focus and a floating reaction survive the update.
export function syncList(list, items, build, update) {
  const existing = new Map();
  for (const child of list.children) existing.set(child.dataset.userId, child);
  items.forEach((item, index) => {
    const key = String(item.user_id);
    let el = existing.get(key);
    existing.delete(key);
    if (!el) el = build(item);
    update(el, item);
    if (list.children[index] !== el) list.insertBefore(el, list.children[index] || null);
  });
  existing.forEach((el) => el.remove());
}
