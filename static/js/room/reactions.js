// Reactions: the bar that sends them and the bubbles that show them, on the sender's avatar.
import { gettext } from "../i18n.js";
import { h } from "./elements.js";

// Kept in step with spaces_project/protocol (tests/browser/test_room_js_in_step.py checks it; docs/protocol.md).
export const REACTIONS = ["😂", "😲", "😢", "💜", "💯", "👏", "✊", "👍", "👎", "👋"];
export const REACTION_NAMES = [gettext("Laugh"), gettext("Wow"), gettext("Sad"), gettext("Love"), "100", gettext("Clap"), gettext("Solidarity"), gettext("Thumbs up"), gettext("Thumbs down"), gettext("Wave")];
// Reactions are drawn from images shipped with the site (Twemoji, CC-BY 4.0: static/emoji/LICENSE.md),
// so they look the same on every system, with or without an emoji font.
const REACTION_IMAGES = new Map(
  REACTIONS.map((emoji) => [emoji, new URL(`../../emoji/${emoji.codePointAt(0).toString(16)}.svg`, import.meta.url).href]),
);
const REACTION_SHOWN_MS = 2400;

// LiveRoom's methods for reactions (static/js/room.js puts them on LiveRoom).
export class RoomReactions {
  buildReactionBar() {
    this.el.reactions.replaceChildren(
      ...REACTIONS.map((emoji, index) =>
        h("button", {
          type: "button",
          class: "reaction-button",
          "data-testid": `reaction-${index}`,
          "aria-label": `React: ${REACTION_NAMES[index]}`,
          title: REACTION_NAMES[index],
          onclick: () => this.send("reaction.send", { emoji }),
        }, reactionImage(emoji)),
      ),
    );
  }

  showReaction(userId, emoji) {
    const anchor = this.shell.querySelector(
      `[data-roster] [data-user-id="${CSS.escape(String(userId))}"] .avatar-wrap`,
    );
    const bubble = h("span", { class: "reaction-bubble", "data-testid": "reaction-bubble", "data-emoji": emoji, "aria-hidden": "true" }, reactionImage(emoji));
    if (anchor) {
      anchor.append(bubble);
    } else {
      const person = this.people.get(userId);
      if (person) bubble.append(h("small", { text: person.name }));
      bubble.style.left = `${10 + Math.random() * 70}%`;
      this.el.floatArea.append(bubble);
    }
    setTimeout(() => bubble.remove(), REACTION_SHOWN_MS);
    this.reactionTally.add(emoji);
  }
}

function reactionImage(emoji) {
  const src = REACTION_IMAGES.get(emoji);
  return src ? h("img", { class: "emoji", src, alt: "", width: 28, height: 28, draggable: "false" }) : emoji;
}
