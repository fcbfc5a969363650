// The live room for people who do not see it or do not use a mouse (docs/accessibility.md):
// one polite live region that says what changed, throttled; a burst of reactions told as one
// sentence; "speaking" as text; the keyboard shortcuts; focus into a dialog and back (menus:
// static/js/menus.js, on every page).

// The page's JavaScript catalogue (templates/base.html) defines these; the identity stands in where
// a page has no catalogue.
const gettext = window.gettext ?? ((text) => text);
const ngettext = window.ngettext ?? ((one, many, count) => (count === 1 ? one : many));
const interpolate = window.interpolate ?? ((format, values) => values.reduce((text, value) => text.replace("%s", value), format));

// Two announcements at least this far apart, so a screen reader finishes one before the next.
const ANNOUNCE_GAP_MS = 1500;
// At most this many waiting messages are read together; older ones are dropped.
const ANNOUNCE_QUEUE = 3;
// Reactions are counted for this long and then told in one sentence.
export const REACTION_WINDOW_MS = 4000;
// A stage member's "speaking" text changes at most this often.
export const SPEAKING_TEXT_MS = 1000;

// What the page's live region says, never more than one message per ANNOUNCE_GAP_MS. A message with
// a key replaces a waiting one with the same key (the newest "on stage" news, not every step of it).
export class Announcer {
  constructor(region) {
    this.region = region;
    this.queue = [];
    this.timer = null;
    this.lastAt = -Infinity;
  }

  say(text, key = null) {
    if (!this.region || !text) return;
    if (key !== null) this.queue = this.queue.filter((item) => item.key !== key);
    this.queue.push({ text, key });
    if (this.queue.length > ANNOUNCE_QUEUE) this.queue.shift();
    this.schedule();
  }

  schedule() {
    if (this.timer !== null) return;
    const wait = Math.max(0, this.lastAt + ANNOUNCE_GAP_MS - performance.now());
    this.timer = setTimeout(() => this.flush(), wait);
  }

  flush() {
    this.timer = null;
    if (this.queue.length === 0) return;
    const text = this.queue.map((item) => item.text).join(" ");
    this.queue = [];
    this.lastAt = performance.now();
    // A new text node each time, so the same sentence twice is read twice.
    this.region.replaceChildren(document.createTextNode(text));
  }
}

// Reactions as one sentence per REACTION_WINDOW_MS: "12 reactions: Clap 8, Love 4".
export class ReactionTally {
  constructor(announcer, names) {
    this.announcer = announcer;
    this.names = names; // emoji -> its name
    this.counts = new Map();
    this.timer = null;
  }

  add(emoji) {
    this.counts.set(emoji, (this.counts.get(emoji) || 0) + 1);
    if (this.timer === null) this.timer = setTimeout(() => this.tell(), REACTION_WINDOW_MS);
  }

  tell() {
    this.timer = null;
    const counts = [...this.counts].sort((a, b) => b[1] - a[1]);
    this.counts.clear();
    const total = counts.reduce((sum, [, count]) => sum + count, 0);
    if (total === 0) return;
    const parts = counts.map(([emoji, count]) => `${this.names.get(emoji) || emoji} ${count}`).join(", ");
    const head = interpolate(ngettext("%s reaction", "%s reactions", total), [total]);
    this.announcer.say(`${head}: ${parts}.`, "reactions");
  }

  stop() {
    clearTimeout(this.timer);
    this.timer = null;
  }
}

// The live room's shortcuts: a single key, never inside a text field, a select or an editable
// element, never with Ctrl, Alt or Meta, never while a dialog is open. `actions` maps a key ("m",
// "h", "r", "?") to a function; a function that returns false did nothing and lets the key through.
export function installShortcuts(actions) {
  document.addEventListener("keydown", (event) => {
    if (event.defaultPrevented || event.ctrlKey || event.altKey || event.metaKey || event.isComposing) return;
    if (isTyping(event.target) || document.querySelector("dialog[open]")) return;
    const key = event.key.length === 1 ? event.key.toLowerCase() : "";
    // Shift only makes "?" (Shift+/ on most layouts); Shift+M is not M.
    if (event.shiftKey && key !== "?") return;
    const action = actions[key];
    if (action && action() !== false) event.preventDefault();
  });
}

function isTyping(target) {
  if (!(target instanceof Element)) return false;
  if (target.isContentEditable) return true;
  if (target instanceof HTMLTextAreaElement || target instanceof HTMLSelectElement) return true;
  if (!(target instanceof HTMLInputElement)) return false;
  return !["button", "checkbox", "radio", "submit", "reset", "range", "color", "file", "image"].includes(target.type);
}

// A modal <dialog> opened from the focused control gives focus back to it when it closes (or, if
// that control is gone, to `fallback()`).
export function showModalFrom(dialog, fallback = () => null) {
  const opener = document.activeElement;
  dialog.addEventListener(
    "close",
    () => {
      const target = opener?.isConnected ? opener : fallback();
      target?.focus();
    },
    { once: true },
  );
  dialog.showModal();
}

// The words a screen reader says for a stage member's state, after the name.
export function stageStateText(muted, speaking) {
  if (muted) return gettext("mic off");
  return speaking ? gettext("mic on, speaking") : gettext("mic on");
}

// What the live region says for each change (kept here, in one place, for the translators).
export const SAY = {
  onStage: (name) => interpolate(gettext("%s is on stage."), [name]),
  handApproved: () => gettext("Your hand was approved: you're on stage. Your mic is off; press M to unmute."),
  invitedOnStage: () => gettext("You're on stage. Your mic is off; press M to unmute."),
  mutedByHost: () => gettext("A host muted your mic."),
  invited: (by, recorded) =>
    (by ? interpolate(gettext("%s invited you to speak."), [by]) : gettext("You're invited to speak.")) +
    (recorded ? ` ${gettext("This room is being recorded: your voice will be in the recording.")}` : ""),
  answering: (text, asker) => interpolate(gettext("Now answering %s's question: %s"), [asker, text]),
  handRaised: (name) => interpolate(gettext("%s raised their hand."), [name]),
  ended: () => gettext("The host ended the room."),
};
