// The Q&A queue: asking, voting, and the moderators' answer / invite / dismiss / remove.
import { gettext, ngettext, interpolate } from "../i18n.js";
import { button, h } from "./elements.js";
import { MAX_QUESTION_CHARS, isModerator, onStage } from "./protocol.js";

// LiveRoom's methods for the Q&A (static/js/room.js puts them on LiveRoom).
export class RoomQa {
  questionsArrived() {
    const you = this.state.you;
    if (!this.pendingQuestion || !you) return;
    const mine = this.state.questions.some((q) => q.asker_id === you.user_id && q.text === this.pendingQuestion);
    if (mine) {
      this.pendingQuestion = null;
      this.el.qaForm.reset();
      this.el.qaChars.textContent = interpolate(ngettext("%(count)s character left", "%(count)s characters left", MAX_QUESTION_CHARS), { count: MAX_QUESTION_CHARS }, true);
    }
  }

  // The Q&A queue: most votes first, then the oldest (the server's order); the one being answered
  // is listed first, and shown under the stage ("Now answering").
  renderQuestions() {
    const s = this.state;
    const you = s.you;
    const live = s.room.state === "live" && !s.room.backstage;
    const on = Boolean(s.room.qa);
    this.el.qa.hidden = !live || (!on && s.questions.length === 0 && !s.answering);
    this.el.qaOff.hidden = on;
    this.el.qaForm.hidden = !on || !you || onStage(you);
    const answering = s.answering;
    this.el.answering.hidden = !live || !answering;
    if (answering) {
      this.el.answering.querySelector("[data-answering-text]").textContent = answering.text;
      this.el.answering.querySelector("[data-answering-asker]").textContent = interpolate(gettext("asked by %(name)s"), { name: answering.asker_name }, true);
    }
    const moderator = isModerator(you);
    const key = JSON.stringify([s.questions, answering, s.my_votes, you?.user_id, moderator, on]);
    if (key === this.questionsKey) return;
    this.questionsKey = key;
    // The list has the question being answered first, then the open ones; its count and its empty
    // state say the same as the list.
    const items = [...(answering ? [answering] : []), ...s.questions];
    this.el.questionCount.textContent = `${items.length}`;
    this.el.questionsEmpty.hidden = items.length > 0;
    const voted = new Set(s.my_votes);
    const reportBase = this.el.qa.dataset.reportUrl;
    this.el.questionList.replaceChildren(
      ...items.map((q) => {
        const mine = you && q.asker_id === you.user_id;
        const isVoted = voted.has(q.id);
        const actions = [];
        if (moderator && q.state === "answering") {
          actions.push(button(gettext("Answered"), "question-done", () => this.send("question.done", { question_id: q.id }), { cls: "button-small button-primary" }));
        } else if (moderator) {
          actions.push(button(gettext("Answer now"), "question-answer", () => this.send("question.answer", { question_id: q.id }), { cls: "button-small button-primary" }));
          actions.push(button(gettext("Invite to speak"), "question-invite", () => this.send("question.invite", { question_id: q.id }), { cls: "button-small", label: interpolate(gettext("Invite %(name)s to speak"), { name: q.asker_name }, true) }));
          actions.push(button(gettext("Dismiss"), "question-dismiss", () => this.send("question.dismiss", { question_id: q.id }), { cls: "button-small" }));
        }
        if (moderator) {
          actions.push(button(gettext("Remove"), "question-remove", () => this.send("question.remove", { question_id: q.id }), { cls: "button-small button-danger" }));
        }
        if (mine && q.state === "open") {
          actions.push(button(gettext("Withdraw"), "question-withdraw", () => this.send("question.withdraw", { question_id: q.id }), { cls: "button-small" }));
        }
        if (you && !mine) {
          actions.push(h("a", { class: "button button-small button-ghost", href: reportBase.replace(/\/0\/$/, `/${q.id}/`), target: "_blank", rel: "noopener", "data-testid": "question-report", text: gettext("Report") }));
        }
        const vote = h("button", {
          type: "button",
          class: isVoted ? "button-small vote-button is-voted" : "button-small vote-button",
          "data-testid": "question-vote",
          "aria-pressed": String(isVoted),
          "aria-label": isVoted ? interpolate(gettext("Take back your upvote (%(count)s)"), { count: q.votes }, true) : interpolate(gettext("Upvote (%(count)s)"), { count: q.votes }, true),
          disabled: !you || mine || !on || q.state !== "open",
          text: `▲ ${q.votes}`,
          onclick: () => this.send(isVoted ? "question.unvote" : "question.vote", { question_id: q.id }),
        });
        return h(
          "li",
          {
            class: q.state === "answering" ? "question is-answering" : "question",
            "data-testid": `question-${q.id}`,
            dataset: { questionId: q.id, votes: q.votes },
          },
          vote,
          h(
            "div",
            {},
            h("p", { class: "question-text", "data-testid": "question-text", text: q.text }),
            h("small", { text: `${q.asker_name} @${q.asker_handle}${q.state === "answering" ? gettext(" · being answered") : ""}` }),
            actions.length ? h("div", { class: "question-actions" }, ...actions) : null,
          ),
        );
      }),
    );
  }
}
