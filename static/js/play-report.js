// What a host's report counts of replays and clips (docs/analytics.md). On a replay: how long this
// visit's counted play has played, sent when the player pauses or ends and when the page goes away
// (the server keeps the longest, so a report sent twice changes nothing). On a clip: one play.

function post(url, token, fields = {}) {
  const body = new FormData();
  body.append("csrfmiddlewaretoken", token);
  for (const [name, value] of Object.entries(fields)) body.append(name, String(value));
  if (navigator.sendBeacon && navigator.sendBeacon(url, body)) return;
  fetch(url, { method: "POST", body, credentials: "same-origin", keepalive: true }).catch(() => {});
}

function reportListening(section) {
  const audio = section.querySelector("audio");
  const token = section.querySelector("[name=csrfmiddlewaretoken]")?.value || "";
  if (!audio) return;
  let played = 0;
  let last = null;
  let sent = 0;
  audio.addEventListener("timeupdate", () => {
    const now = audio.currentTime;
    // Time actually heard: forward steps of a playing player, not seeks.
    if (last !== null && !audio.paused && now > last && now - last < 2) played += (now - last) * 1000;
    last = now;
  });
  audio.addEventListener("seeking", () => { last = null; });
  const send = () => {
    if (played - sent < 1000) return;
    sent = played;
    post(section.dataset.listenedUrl, token, { ms: Math.round(played) });
  };
  audio.addEventListener("pause", send);
  audio.addEventListener("ended", send);
  window.addEventListener("pagehide", send);
  document.addEventListener("visibilitychange", () => { if (document.visibilityState === "hidden") send(); });
}

function countClipPlay(audio) {
  let counted = false;
  audio.addEventListener("play", () => {
    if (counted) return;
    counted = true;
    post(audio.dataset.playUrl, audio.dataset.csrf || "");
  });
}

document.querySelectorAll("[data-listened-url]").forEach(reportListening);
document.querySelectorAll("audio[data-play-url]").forEach(countClipPlay);
