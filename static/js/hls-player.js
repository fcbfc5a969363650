// Play a live room's HLS playlist (rooms/audio/hls.py) in an <audio> element, for the mass audience.
//
// Media Source Extensions where the browser plays Opus in MP4 (Chromium, Firefox, Safari 17+): fetch
// the playlist, append each segment's init (EXT-X-MAP) and the segments in order to one SourceBuffer
// in "sequence" mode (so a mixer's takeover, a new init and an EXT-X-DISCONTINUITY, plays on without a
// gap in the timeline). Where play-out starts and when the playlist is reloaded are the rules of
// spaces_project/protocol/hls_player.py (startFrom, startPosition, nextLoad below, with the numbers of
// hls-rules.js), which bench/hls_listeners.c follows too. Elsewhere the browser's own HLS, when it has
// one. No third-party code.
//
// A private room's signed URL lives 90 s; the page gets a fresh one about every 30 s over its socket
// and calls setUrl(): the next reload fetches the playlist from it, and the segments with it (their
// names are relative), with no gap. A playlist answering 403 or 410 (a URL that expired: the page
// slept, or its socket was away) calls onExpired(); the page asks for a fresh URL and calls setUrl().
// A player that fell out of the window jumps back to the live edge.

import { HLS_RULES } from "./hls-rules.js";

export const HLS_MIME = 'audio/mp4; codecs="opus"';
const KEEP_BEHIND_S = 20;

// -- the rules (spaces_project/protocol/hls_player.py; bench/hls_listeners.c has the same) ----------

// How far behind the end of the newest segment held play-out starts: one segment plus the margin.
export function holdMs(segmentMs) {
  return segmentMs + HLS_RULES.startMarginMs;
}

// The first segment to fetch when starting, from a playlist listing `first`..`last`: the newest
// ones that cover the hold (two of 1 s).
export function startFrom(first, last, segmentMs) {
  return Math.max(first, last - Math.ceil(holdMs(segmentMs) / segmentMs) + 1);
}

// Where to start playing, in ms behind the end of what is held, once `heldMs` of audio is in; null
// while there is less (a first listener waits for the next segment rather than stall).
export function startPosition(heldMs, segmentMs) {
  const hold = holdMs(segmentMs);
  return heldMs >= hold ? hold : null;
}

// When the next playlist load is due (ms), after a load that was due at `due` and was dealt with
// (its new segments fetched) at `now`: one segment after `due` when it found a newer segment
// (`moved`), skipping whole segments already past, so the listener keeps the phase it joined with;
// else a retry, RETRY_FIRST_MS after `due`, doubling with each miss in a row up to RETRY_MAX_MS.
// `misses`: misses in a row before this load. Returns { due, misses }.
export function nextLoad(due, now, moved, segmentMs, misses) {
  if (moved) {
    let next = due + segmentMs;
    while (next < now) next += segmentMs;
    return { due: next, misses: 0 };
  }
  const wait = Math.min(HLS_RULES.retryFirstMs * 2 ** Math.min(misses, 10), HLS_RULES.retryMaxMs);
  return { due: Math.max(now, due + wait), misses: misses + 1 };
}

// When a signed URL stops working (Unix seconds), from its path (rooms/audio/signing.py:
// s/<expires>/<md5>/<listener>/<room>/<file>); null for a plain URL.
export function urlExpires(url) {
  const match = /\/s\/([0-9]{1,12})\/[A-Za-z0-9_-]{22}\//.exec(url);
  return match ? Number(match[1]) : null;
}

export function parsePlaylist(text, base) {
  const lines = text.split(/\r?\n/).map((line) => line.trim()).filter(Boolean);
  if (lines[0] !== "#EXTM3U") throw new Error("not a playlist");
  let sequence = 0;
  let target = 1;
  let map = null;
  let mapName = null; // the init segment's name as the playlist writes it: the same whatever the URL
  let discontinuity = false;
  let ended = false;
  let programDate = null;
  let duration = 0;
  const segments = [];
  for (const line of lines.slice(1)) {
    if (line.startsWith("#EXT-X-MEDIA-SEQUENCE:")) sequence = Number(line.split(":")[1]);
    else if (line.startsWith("#EXT-X-TARGETDURATION:")) target = Number(line.split(":")[1]);
    else if (line.startsWith("#EXT-X-MAP:")) {
      mapName = /URI="([^"]+)"/.exec(line)[1];
      map = new URL(mapName, base).href;
    }
    else if (line === "#EXT-X-DISCONTINUITY") discontinuity = true;
    else if (line === "#EXT-X-ENDLIST") ended = true;
    else if (line.startsWith("#EXT-X-PROGRAM-DATE-TIME:")) programDate = Date.parse(line.slice(25));
    else if (line.startsWith("#EXTINF:")) duration = parseFloat(line.slice(8));
    else if (!line.startsWith("#")) {
      const number = sequence + segments.length;
      // endMs: when the segment's last audio was mixed, on the server's clock.
      const endMs = programDate === null ? null : programDate + duration * 1000;
      const durationMs = duration * 1000;
      segments.push({ number, url: new URL(line, base).href, map, mapName, discontinuity, endMs, durationMs });
      discontinuity = false;
      programDate = null;
    }
  }
  return { target, segments, ended };
}

export function canPlayHls(audio) {
  const mse = window.MediaSource && MediaSource.isTypeSupported(HLS_MIME);
  return Boolean(mse || audio.canPlayType("application/vnd.apple.mpegurl"));
}

export class HlsPlayer {
  // audio: an <audio> element; url: the playlist; onExpired(): the URL stopped working.
  constructor(audio, url, { onExpired = () => {}, onError = () => {} } = {}) {
    this.audio = audio;
    this.url = url;
    this.onExpired = onExpired;
    this.onError = onError;
    this.closed = false;
    this.next = null; // the media sequence number to append next
    this.newest = null; // the newest segment the last playlist listed
    this.map = null; // the name of the init segment appended last
    this.timer = null;
    this.segmentMs = 1000; // the newest segment's duration, from the playlist
    this.due = null; // when the current playlist load was due (Date.now() ms): the listener's phase
    this.misses = 0;
    this.started = false; // play-out started (the start rule was met)
    // generationStartS: where on the media timeline the latest init segment's audio begins (after
    // a takeover, the new mixer's first segment). startedAt: Date.now() when play-out started, at
    // startS on the media timeline, startBehindMs behind the end of the newest segment held.
    this.stats = {
      segments: 0, playlists: 0, misses: 0, errors: 0, jumps: 0, generations: 0, generationStartS: 0,
      firstSegmentAt: null, urls: 1, startedAt: null, startS: null, startBehindMs: null,
      loadsBeforeStart: 0, stalls: 0, stallsAt: [], // stallsAt: where on the timeline (s)
    };
    this.native = !(window.MediaSource && MediaSource.isTypeSupported(HLS_MIME));
  }

  start() {
    if (this.native) {
      this.audio.src = this.url;
      this.nativeExpires = urlExpires(this.url);
      this.audio.play().catch(() => {});
      return;
    }
    this.media = new MediaSource();
    this.audio.src = URL.createObjectURL(this.media);
    // Play-out ran out of audio after it started: what the start rule's margin is there to prevent.
    // (A media element also says "waiting" while it decodes where it was told to start: not a stall.)
    this.audio.addEventListener("waiting", () => {
      const ranges = this.buffer?.buffered;
      const end = ranges?.length ? ranges.end(ranges.length - 1) : 0;
      if (!this.started || this.closed || end - this.audio.currentTime > 0.25) return;
      this.stats.stalls += 1;
      this.stats.lastStall = { at: Date.now(), position: this.audio.currentTime, end };
      if (this.stats.stallsAt.length < 50) this.stats.stallsAt.push(this.audio.currentTime);
    });
    this.media.addEventListener(
      "sourceopen",
      () => {
        this.buffer = this.media.addSourceBuffer(HLS_MIME);
        this.buffer.mode = "sequence";
        this.due = Date.now();
        this.poll();
      },
      { once: true },
    );
  }

  // Play (after a gesture the browser wanted) once the start rule has been met: never before it, or
  // a first listener would play the one segment there is and stall.
  resume() {
    if (this.closed) return;
    if ((this.native || this.started) && this.audio.paused) this.audio.play().catch(() => {});
  }

  // A fresh URL of the same stream; `expires` (Unix seconds) when it stops working.
  setUrl(url, expires = urlExpires(url)) {
    if (url === this.url) return;
    this.url = url;
    this.stats.urls += 1;
    if (!this.native || this.closed) return; // Media Source: the next reload uses it
    // The browser's own player restarts when its source changes (about a second of silence): change
    // it only when the URL it plays has less than half this one's life left, about once a minute.
    const now = Date.now() / 1000;
    if (this.nativeExpires != null && expires != null && this.nativeExpires - now > (expires - now) / 2) return;
    this.nativeExpires = expires;
    this.audio.src = url;
    this.audio.play().catch(() => {});
  }

  close() {
    this.closed = true;
    clearTimeout(this.timer);
    this.audio.pause();
    this.audio.removeAttribute("src");
    this.audio.load();
  }

  async fetchOk(url, kind) {
    const response = await fetch(url, { cache: kind === "playlist" ? "no-cache" : "default" });
    if (response.status === 403 || response.status === 410) {
      const error = new Error("expired");
      error.expired = true;
      throw error;
    }
    if (!response.ok) throw new Error(`${kind} answered ${response.status}`);
    return kind === "playlist" ? response.text() : response.arrayBuffer();
  }

  // One playlist load, due at this.due, then the next at nextLoad's time. A playlist with no
  // segments yet (nginx answers one for a room whose mixer has not written any) or one with nothing
  // new is a miss: tried again shortly, silently.
  async poll() {
    if (this.closed) return;
    const due = this.due;
    let moved = false;
    try {
      const text = await this.fetchOk(this.url, "playlist");
      const playlist = parsePlaylist(text, new URL(this.url, location.href).href);
      this.stats.playlists += 1;
      const { segments } = playlist;
      const newest = segments.length ? segments[segments.length - 1] : null;
      if (newest) this.segmentMs = newest.durationMs;
      moved = newest !== null && (this.newest === null || newest.number > this.newest);
      if (newest) this.newest = newest.number;
      await this.appendNew(playlist);
    } catch (error) {
      moved = false; // a failed load or segment is tried again shortly, like a miss
      this.stats.errors += 1;
      this.stats.lastError = String(error);
      if (error.expired) this.onExpired();
      else if (this.next !== null) this.onError(error);
    }
    if (!moved) this.stats.misses += 1;
    if (!this.started) this.stats.loadsBeforeStart += 1;
    if (this.closed) return;
    const next = nextLoad(due, Date.now(), moved, this.segmentMs, this.misses);
    this.due = next.due;
    this.misses = next.misses;
    this.timer = setTimeout(() => this.poll(), Math.max(0, this.due - Date.now()));
  }

  async appendNew(playlist) {
    const { segments } = playlist;
    if (!segments.length) return;
    const first = segments[0].number;
    const last = segments[segments.length - 1].number;
    if (this.next === null || this.next < first || this.next > last + 1) {
      // Starting, or out of the window (asleep, offline): from near the live edge, by the start rule.
      if (this.next !== null) {
        this.stats.jumps += 1;
        this.started = false;
        this.heldMs = 0;
      }
      this.next = startFrom(first, last, this.segmentMs);
    }
    for (const segment of segments) {
      if (this.closed || segment.number < this.next) continue;
      if (segment.mapName !== this.map) {
        const ranges = this.buffer.buffered;
        this.stats.generationStartS = ranges.length ? ranges.end(ranges.length - 1) : 0;
        await this.append(await this.fetchOk(segment.map, "init"));
        this.map = segment.mapName;
        this.stats.generations += 1;
      }
      await this.append(await this.fetchOk(segment.url, "segment"));
      this.next = segment.number + 1;
      this.heldMs = (this.heldMs || 0) + segment.durationMs;
      this.stats.segments += 1;
      this.stats.firstSegmentAt ??= performance.now();
    }
    this.keepUp();
  }

  append(data) {
    return new Promise((resolve, reject) => {
      const done = () => {
        this.buffer.removeEventListener("updateend", done);
        this.buffer.removeEventListener("error", failed);
        resolve();
      };
      const failed = () => {
        this.buffer.removeEventListener("updateend", done);
        this.buffer.removeEventListener("error", failed);
        reject(new Error("the browser refused a segment"));
      };
      this.buffer.addEventListener("updateend", done);
      this.buffer.addEventListener("error", failed);
      this.buffer.appendBuffer(data);
    });
  }

  // Back to where a listener who never stopped would be (after a pause or a freeze).
  toLiveEdge() {
    if (this.native || !this.buffer || this.closed || !this.started) return;
    const ranges = this.buffer.buffered;
    if (!ranges.length) return;
    const edge = ranges.end(ranges.length - 1) - holdMs(this.segmentMs) / 1000;
    if (this.audio.currentTime < edge - 0.5) this.audio.currentTime = Math.max(ranges.start(0), edge);
  }

  // Start playing by the start rule once enough is held, skip ahead after falling behind, drop what
  // was played long ago.
  keepUp() {
    const ranges = this.buffer.buffered;
    if (!ranges.length) return;
    const end = ranges.end(ranges.length - 1);
    const audio = this.audio;
    if (!this.started) {
      const behindMs = startPosition(this.heldMs || 0, this.segmentMs);
      if (behindMs === null) return; // a first listener: not enough yet, wait for the next segment
      audio.currentTime = Math.max(ranges.start(0), end - behindMs / 1000);
      this.started = true;
      Object.assign(this.stats, { startedAt: Date.now(), startS: audio.currentTime, startBehindMs: behindMs });
    } else {
      const hold = holdMs(this.segmentMs) / 1000;
      const behind = end - audio.currentTime;
      if (audio.currentTime < ranges.start(0) || behind > hold + (HLS_RULES.catchUpSegments * this.segmentMs) / 1000) {
        audio.currentTime = Math.max(ranges.start(0), end - hold);
        this.stats.jumps += 1;
      }
    }
    if (audio.paused) audio.play().catch(() => {});
    if (!this.buffer.updating && audio.currentTime - ranges.start(0) > KEEP_BEHIND_S * 2) {
      this.buffer.remove(0, audio.currentTime - KEEP_BEHIND_S);
    }
  }
}
