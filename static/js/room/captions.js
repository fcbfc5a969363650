// The live captions panel: lines refined in place until final, a few shown, hidden on request.
import { gettext } from "../i18n.js";
import { h } from "./elements.js";

const CAPTION_LINES_SHOWN = 4;
export const CAPTIONS_HIDDEN_KEY = "spaces:captions-hidden";

// LiveRoom's methods for captions (static/js/room.js puts them on LiveRoom).
export class RoomCaptions {
  // Live captions: shown while the room has them on, unless this listener hid them.
  renderCaptions() {
    const on = Boolean(this.state.room.captions);
    this.el.captions.hidden = !on;
    this.el.captionLines.hidden = this.captionsHidden;
    this.el.captions.classList.toggle("is-collapsed", this.captionsHidden);
    this.el.captionsVisibility.textContent = this.captionsHidden ? gettext("Show captions") : gettext("Hide captions");
    this.el.captionsVisibility.setAttribute("aria-pressed", String(!this.captionsHidden));
  }

  clearCaptions() {
    this.captionLines.clear();
    this.el.captionLines.replaceChildren();
  }

  // A partial line refines itself in place until its final arrives; old lines scroll away.
  showCaption(event) {
    let line = this.captionLines.get(event.line);
    if (!line) {
      line = h(
        "li",
        { class: "caption-line", "data-testid": "caption-line", dataset: { userId: event.user_id, line: event.line } },
        h("strong", { class: "caption-speaker" }),
        " ",
        h("span", { class: "caption-text" }),
      );
      this.captionLines.set(event.line, line);
      this.el.captionLines.append(line);
      while (this.el.captionLines.children.length > CAPTION_LINES_SHOWN) {
        const oldest = this.el.captionLines.firstElementChild;
        this.captionLines.delete(oldest.dataset.line);
        oldest.remove();
      }
    }
    if (event.final && !event.text && !event.skipped) {
      // Nothing was made of it after all (a cough, a breath).
      this.captionLines.delete(event.line);
      line.remove();
      return;
    }
    line.querySelector(".caption-speaker").textContent = `${event.name}:`;
    line.querySelector(".caption-text").textContent = event.skipped ? "(captions skipped: the recognizer fell behind)" : event.text;
    line.dataset.final = String(Boolean(event.final));
    line.classList.toggle("is-partial", !event.final);
    line.classList.toggle("is-skipped", Boolean(event.skipped));
  }
}

export function readCaptionsHidden() {
  try {
    return localStorage.getItem(CAPTIONS_HIDDEN_KEY) === "1";
  } catch {
    return false;
  }
}
