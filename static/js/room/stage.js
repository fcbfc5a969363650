// The stage, the audience, raised hands, pinned links and the moderators' tools: rendered from the
// state, each person's element kept across updates (syncList) so an open menu or focus survives.
// Who is speaking: a ring on the stage's avatars.
import { SPEAKING_TEXT_MS, stageStateText } from "../room-a11y.js";
import { gettext, ngettext, interpolate } from "../i18n.js";
import { avatar, h, icon, syncList, updatePerson } from "./elements.js";
import { ROLE_LABELS, isModerator, onStage } from "./protocol.js";

// LiveRoom's methods for the roster (static/js/room.js puts them on LiveRoom).
export class RoomStage {
  renderAll() {
    this.renderBackstage();
    this.renderQuestions();
    this.renderStage();
    this.renderHands();
    this.renderListeners();
    this.renderLinks();
    this.renderTools();
    this.renderControls();
  }

  renderStage() {
    const stage = this.state.stage;
    syncList(this.el.stage, stage, (p) => this.buildStageMember(p), (el, p) => this.updateStageMember(el, p));
    this.el.stageCount.textContent = `${stage.length}`;
  }

  renderListeners() {
    const s = this.state;
    syncList(this.el.listeners, s.listeners, (p) => this.buildListener(p), (el, p) => this.updateListener(el, p));
    this.el.listenerCount.textContent = `${s.listener_count}`;
    this.el.waitingCount.textContent = `${s.listener_count}`;
    this.el.waitingLabel.textContent = ngettext("person is", "people are", s.listener_count);
    const hidden = s.listener_count - s.listeners.length;
    this.el.listenersEmpty.hidden = s.listener_count > 0;
    this.el.listeners.dataset.more = hidden > 0 ? interpolate(gettext("and %(count)s more"), { count: hidden }, true) : "";
  }

  renderHands() {
    const you = this.state.you;
    // Only the hosts see raised hands, and only when there are some.
    this.el.hands.hidden = !isModerator(you) || this.state.hands.length === 0;
    if (!isModerator(you)) return;
    const requests = this.state.hands.map((id) => this.people.get(id) || { user_id: id, name: "Someone", handle: "", avatar: "" });
    syncList(this.el.handList, requests, (p) => this.buildHandRequest(p), (el, p) => updatePerson(el, p, this.profileUrl));
    this.el.handCount.textContent = `${requests.length}`;
  }

  renderLinks() {
    const links = this.state.links;
    const moderator = isModerator(this.state.you);
    const key = JSON.stringify([links, moderator]);
    if (key === this.linksKey) return;
    this.linksKey = key;
    this.el.links.hidden = links.length === 0;
    this.el.linkList.replaceChildren(
      ...links.map((link) => {
        let host = "";
        try {
          host = new URL(link.url).host;
        } catch {
          host = "";
        }
        return h(
          "li",
          { class: "pinned-link", "data-testid": `link-${link.id}` },
          h("span", { class: "pin" }, icon("pin")),
          h(
            "a",
            { href: link.url, target: "_blank", rel: "noopener noreferrer nofollow ugc" },
            h("span", { class: "link-title", text: link.title }),
            h("small", { class: "link-host", text: host }),
          ),
          moderator &&
            h("button", {
              type: "button",
              class: "button-small button-ghost",
              text: gettext("Unpin"),
              "aria-label": interpolate(gettext("Unpin %(title)s"), { title: link.title }, true),
              onclick: () => this.send("link.unpin", { link_id: link.id }),
            }),
        );
      }),
    );
  }

  renderTools() {
    const moderator = isModerator(this.state.you);
    this.el.tools.hidden = !moderator || this.state.room.backstage;
    if (moderator) {
      this.el.policy.value = this.state.room.speaker_policy;
      this.el.captionsToggle.checked = Boolean(this.state.room.captions);
      this.el.qaToggle.checked = Boolean(this.state.room.qa);
    }
    this.el.qaSwitch.hidden = this.state.you?.role !== "host";
  }

  // Backstage: the stage sees a banner (and the host "Go live"); everyone else waits, with a count.
  renderBackstage() {
    const s = this.state;
    const backstage = Boolean(s.room.backstage);
    const staged = Boolean(s.you && onStage(s.you));
    this.el.backstage.hidden = !(backstage && staged);
    this.el.goLive.hidden = !(backstage && s.you?.role === "host");
    this.el.startingSoon.hidden = !(backstage && !staged);
    this.el.stageCard.hidden = backstage && !staged;
  }

  buildStageMember(p) {
    return h(
      "li",
      { class: "stage-member", dataset: { userId: p.user_id }, "data-testid": `stage-member-${p.user_id}` },
      h("div", { class: "avatar-wrap" }, avatar(p, 72), h("span", { class: "mic-badge" })),
      h("a", { class: "member-name", href: "#" }),
      h("span", { class: "role-badge" }),
      h("span", { class: "mic-state visually-hidden" }),
      h("div", { class: "member-actions" }),
    );
  }

  updateStageMember(el, p) {
    updatePerson(el, p, this.profileUrl);
    const badge = el.querySelector(".role-badge");
    badge.textContent = ROLE_LABELS[p.role];
    badge.className = `role-badge role-${p.role}`;
    const mic = el.querySelector(".mic-badge");
    mic.replaceChildren(icon(p.muted ? "micOff" : "mic"));
    mic.className = p.muted ? "mic-badge is-muted" : "mic-badge is-live";
    el.classList.toggle("is-muted", p.muted);
    el.querySelector(".mic-state").textContent = stageStateText(p.muted, el.classList.contains("is-speaking"));
    this.renderMemberMenu(el, p, this.stageActions(p));
  }

  buildListener(p) {
    return h(
      "li",
      { class: "person-row listener", dataset: { userId: p.user_id }, "data-testid": `listener-${p.user_id}` },
      h("div", { class: "avatar-wrap" }, avatar(p, 36)),
      h("span", { class: "who" }, h("a", { class: "member-name", href: "#" }), h("small", { class: "member-handle" })),
      h("span", { class: "listener-flags" }),
      h("div", { class: "member-actions" }),
    );
  }

  updateListener(el, p) {
    updatePerson(el, p, this.profileUrl);
    const you = this.state.you;
    const flags = [];
    // Raised hands are for the hosts to see (and for the person themself).
    if (p.hand_raised && (isModerator(you) || you?.user_id === p.user_id)) {
      flags.push(h("span", { class: "flag", title: gettext("Hand raised") }, icon("hand", gettext("Hand raised"))));
    }
    if (p.invited && isModerator(you)) flags.push(h("span", { class: "pill", text: gettext("Invited") }));
    if (you?.user_id === p.user_id) flags.push(h("span", { class: "pill", text: gettext("You") }));
    el.querySelector(".listener-flags").replaceChildren(...flags);
    this.renderMemberMenu(el, p, this.listenerActions(p));
  }

  buildHandRequest(p) {
    return h(
      "li",
      { class: "person-row hand-request", dataset: { userId: p.user_id }, "data-testid": `hand-request-${p.user_id}` },
      h("div", { class: "avatar-wrap" }, avatar(p, 36)),
      h("span", { class: "who" }, h("a", { class: "member-name", href: "#" }), h("small", { text: "wants to speak" })),
      h(
        "span",
        { class: "request-actions" },
        h("button", {
          type: "button",
          class: "button-small button-primary",
          "data-testid": "approve",
          text: gettext("Approve"),
          "aria-label": interpolate(gettext("Approve %(name)s's request to speak"), { name: p.name }, true),
          onclick: () => this.send("request.approve", { user_id: p.user_id }),
        }),
        h("button", {
          type: "button",
          class: "button-small",
          "data-testid": "decline",
          text: gettext("Decline"),
          "aria-label": interpolate(gettext("Decline %(name)s's request to speak"), { name: p.name }, true),
          onclick: () => this.send("request.decline", { user_id: p.user_id }),
        }),
      ),
    );
  }

  // What the viewer may do to a person; the server checks again (services.py holds the rules).
  stageActions(p) {
    const you = this.state.you;
    if (!isModerator(you) || p.user_id === you.user_id || p.role === "host") return [];
    if (p.role === "cohost" && you.role !== "host") return [];
    const actions = [];
    if (!p.muted) actions.push([gettext("Mute"), "mute", () => this.send("speaker.mute", { user_id: p.user_id })]);
    actions.push([gettext("Move to audience"), "to-audience", () => this.send("speaker.to_audience", { user_id: p.user_id })]);
    if (you.role === "host") {
      if (p.role === "cohost") actions.push([gettext("Remove co-host"), "cohost-remove", () => this.send("cohost.remove", { user_id: p.user_id })]);
      else actions.push([gettext("Make co-host"), "cohost-add", () => this.send("cohost.add", { user_id: p.user_id })]);
    }
    actions.push([gettext("Remove from room…"), "remove", () => this.confirmRemove(p), "danger"]);
    return actions;
  }

  listenerActions(p) {
    const you = this.state.you;
    if (!isModerator(you) || p.user_id === you.user_id) return [];
    const actions = [];
    if (!p.invited) actions.push([gettext("Invite to speak"), "invite", () => this.send("speaker.invite", { user_id: p.user_id })]);
    if (you.role === "host") actions.push([gettext("Make co-host"), "cohost-add", () => this.send("cohost.add", { user_id: p.user_id })]);
    actions.push([gettext("Remove from room…"), "remove", () => this.confirmRemove(p), "danger"]);
    return actions;
  }

  renderMemberMenu(el, p, actions) {
    const holder = el.querySelector(".member-actions");
    if (actions.length === 0) {
      holder.replaceChildren();
      return;
    }
    let menu = holder.querySelector("details");
    if (!menu) {
      menu = h(
        "details",
        { class: "member-menu" },
        h("summary", { "data-testid": "member-menu" }, icon("more"), h("span", { class: "visually-hidden" })),
        h("div", { class: "menu-body", role: "group" }),
      );
      holder.replaceChildren(menu);
    }
    menu.querySelector("summary .visually-hidden").textContent = interpolate(gettext("Actions for %(name)s"), { name: p.name }, true);
    menu.querySelector(".menu-body").setAttribute("aria-label", interpolate(gettext("Actions for %(name)s"), { name: p.name }, true));
    menu.querySelector(".menu-body").replaceChildren(
      ...actions.map(([label, testid, run, kind]) =>
        h("button", {
          type: "button",
          class: kind === "danger" ? "button-small button-danger" : "button-small",
          "data-testid": testid,
          text: label,
          onclick: () => {
            menu.open = false;
            run();
          },
        }),
      ),
    );
  }

  // Who is speaking: a ring on the avatar that grows with the voice. People absent from the
  // list are quiet (the server leaves out levels below 0.05 and sends only changes).
  showLevels(levels) {
    const loud = new Map(levels.map(([userId, level]) => [String(userId), level]));
    for (const member of this.el.stage.children) {
      const level = loud.get(member.dataset.userId) || 0;
      member.classList.toggle("is-speaking", level > 0);
      member.style.setProperty("--level", level.toFixed(2));
    }
    // The ring's words ("mic on, speaking"), at most once a second, not at every level.
    if (this.speakingTimer === null) this.speakingTimer = setTimeout(() => this.tellSpeaking(), SPEAKING_TEXT_MS);
  }

  tellSpeaking() {
    this.speakingTimer = null;
    for (const member of this.el.stage.children) {
      const state = member.querySelector(".mic-state");
      const text = stageStateText(member.classList.contains("is-muted"), member.classList.contains("is-speaking"));
      if (state && state.textContent !== text) state.textContent = text;
    }
  }
}
