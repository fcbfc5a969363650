// What this browser can do, and what the page says when it cannot (or when the microphone fails).
import { gettext, interpolate } from "../i18n.js";

export const MESSAGES = {
  micRefused: gettext("Microphone access was refused. Allow the microphone for this site in your browser's settings, then unmute again."),
  micMissing: gettext("No microphone was found. Connect one, then unmute again."),
  micBusy: gettext("Your microphone could not be started: another app may be using it."),
  micFailed: gettext("Your microphone could not be started."),
  micLost: gettext("Your microphone stopped. Unmute again to speak."),
  insecure: gettext("Speaking needs a secure (https) connection to this site."),
};

export function listeningGaps() {
  const missing = [];
  if (!window.AudioContext) missing.push(gettext("Web Audio"));
  else if (!window.AudioWorkletNode) missing.push("AudioWorklet");
  if (!window.AudioDecoder) missing.push(gettext("WebCodecs audio decoding (AudioDecoder)"));
  return missing;
}

export function speakingGaps() {
  const missing = [];
  if (!window.AudioEncoder) missing.push(gettext("WebCodecs audio encoding (AudioEncoder)"));
  if (!window.MediaStreamTrackProcessor && !window.AudioWorkletNode) missing.push("AudioWorklet");
  return missing;
}

export function cannot(what, missing) {
  return interpolate(gettext("%(what)s doesn't work in this browser: it lacks %(missing)s. Try a recent Chrome, Edge, Firefox or Safari."), { what, missing: missing.join(gettext(" and ")) }, true);
}

export function micErrorMessage(error) {
  switch (error?.name) {
    case "NotAllowedError":
    case "SecurityError":
      return MESSAGES.micRefused;
    case "NotFoundError":
    case "OverconstrainedError":
      return MESSAGES.micMissing;
    case "NotReadableError":
    case "AbortError":
      return MESSAGES.micBusy;
    default:
      return MESSAGES.micFailed;
  }
}
