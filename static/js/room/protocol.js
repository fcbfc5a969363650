// What the room page repeats of spaces_project/protocol: the close codes and what each says, the
// limit on a question, and the roles (tests/browser/test_room_js_in_step.py checks them against the
// server; docs/protocol.md). The reactions are in reactions.js.
import { gettext } from "../i18n.js";

export const CLOSE_SIGN_IN_REQUIRED = 4001;
const CLOSE_TICKET_REQUIRED = 4002;
const CLOSE_REMOVED = 4003;
const CLOSE_NOT_FOUND = 4004;
const CLOSE_SUSPENDED = 4005;
export const CLOSE_NOT_LIVE = 4009;
export const CLOSE_ENDED = 4010;
export const CLOSE_REASONS = {
  [CLOSE_SIGN_IN_REQUIRED]: gettext("Sign in to listen to this room."),
  [CLOSE_TICKET_REQUIRED]: gettext("This room is for ticket holders."),
  [CLOSE_REMOVED]: gettext("You were removed from this room."),
  [CLOSE_NOT_FOUND]: gettext("This room does not exist."),
  [CLOSE_SUSPENDED]: gettext("Your account is suspended."),
};
// Reconnecting cannot help after these: the answer would be the same.
export const FINAL_CLOSE_CODES = new Set([
  CLOSE_SIGN_IN_REQUIRED, CLOSE_TICKET_REQUIRED, CLOSE_REMOVED, CLOSE_NOT_FOUND, CLOSE_SUSPENDED, CLOSE_NOT_LIVE,
  CLOSE_ENDED,
]);

// The Q&A queue's limit on a question (spaces_project/protocol MAX_QUESTION_CHARS).
export const MAX_QUESTION_CHARS = 280;

export const ROLE_LABELS = { host: gettext("Host"), cohost: gettext("Co-host"), speaker: gettext("Speaker"), listener: gettext("Listener") };
// Who is on stage, in the order the stage shows them, and who runs it (spaces_project/protocol).
const STAGE_ROLES = ["host", "cohost", "speaker"];
const MODERATOR_ROLES = ["host", "cohost"];
export const ROLE_ORDER = Object.fromEntries(STAGE_ROLES.map((role, index) => [role, index]));
export const onStage = (p) => STAGE_ROLES.includes(p.role);
export const isModerator = (p) => Boolean(p) && MODERATOR_ROLES.includes(p.role);
