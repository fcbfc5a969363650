// Play a live room's HLS playlist (rooms/audio/hls.py) in an <audio> element, for the mass audience.
//
// Media Source Extensions where the browser plays Opus in MP4 (Chromium, Firefox, Safari 17+): fetch
// the playlist, start HOLD_BACK segments from its live edge, append each segment's init (EXT-X-MAP)
// and the segments in order to one SourceBuffer in "sequence" mode (so a mixer's takeover, a new
// init and an EXT-X-DISCONTINUITY, plays on without a gap in the timeline), and reload the playlist
// just after each next segment is due (nextReload). Elsewhere the browser's own HLS, when it has one. No third-party code.
//
// A private room's signed URL lives 90 s; the page gets a fresh one about every 30 s over its socket
// and calls setUrl(): the next reload fetches the playlist from it, and the segments with it (their
// names are relative), with no gap. A playlist answering 403 or 410 (a URL that expired: the page
// slept, or its socket was away) calls onExpired(); the page asks for a fresh URL and calls setUrl().
// A player that fell out of the window jumps back to the live edge.

export const HLS_MIME = 'audio/mp4; codecs="opus"';
// Segments fetched when starting: the newest and the one before it.
const HOLD_BACK = 2;
// Where play-out starts (and resumes after a catch-up): one segment plus START_MARGIN_S before the
// end of the newest segment, so the next segment, due a segment later, has START_MARGIN_S to arrive.
// bench/hls_fanout.py chose it: 0.8 s stalled ~0.3 % of segments at 1,000 listeners (a segment now
// and then comes a second late from the mixer); 1.5 s stalled none at 1,000 or 10,000.
const START_MARGIN_S = 1.5;
// Play back no further than this many segments behind the buffered end: catch up after a stall.
const MAX_BEHIND_SEGMENTS = HOLD_BACK + 1.5;
const KEEP_BEHIND_S = 20;
// Reload this much later than the phase says (see nextReload): the server's writing varies.
const RELOAD_MARGIN_MS = 100;

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
      segments.push({ number, url: new URL(line, base).href, map, mapName, discontinuity, endMs });
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
    this.map = null; // the name of the init segment appended last
    this.timer = null;
    this.target = 2; // seconds per segment, from the playlist
    // generationStartS: where on the media timeline the latest init segment's audio begins (after
    // a takeover, the new mixer's first segment).
    this.stats = { segments: 0, playlists: 0, errors: 0, jumps: 0, generations: 0, generationStartS: 0, firstSegmentAt: null, urls: 1 };
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
    this.media.addEventListener(
      "sourceopen",
      () => {
        this.buffer = this.media.addSourceBuffer(HLS_MIME);
        this.buffer.mode = "sequence";
        this.poll();
      },
      { once: true },
    );
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

  // When to reload the playlist. Segments appear once a target duration, each as its audio ends
  // (EXT-X-PROGRAM-DATE-TIME + EXTINF, on the server's clock). A page keeps the phase it joined
  // with: `phase` is how long after the newest segment's end it first saw the playlist (clock skew,
  // the server's writing and the moment it happened to join), and it reloads that long after each
  // next segment's end. Its lag behind the room then never drifts (RFC 8216's "a target duration
  // after a playlist that moved on" lets it wander by up to a segment, and the player's buffer with
  // it), and listeners' reloads stay spread over the segment as their joins were, instead of all
  // arriving just after each segment appears. Nothing new yet: again in 250 ms, 500 ms, then half a
  // target duration. bench/hls_listeners.c reloads the same way.
  nextReload(playlist, moved, seenAt) {
    const target = playlist.target * 1000;
    const newest = playlist.segments[playlist.segments.length - 1];
    if (!moved || !newest || newest.endMs === null) {
      this.misses = (this.misses || 0) + 1;
      return Math.min(125 * 2 ** this.misses, target / 2);
    }
    this.misses = 0;
    if (this.phase === undefined) this.phase = (((seenAt - newest.endMs) % target) + target) % target;
    // The next moment at this page's phase after a segment's end: segments end every target.
    let due = newest.endMs + this.phase + RELOAD_MARGIN_MS;
    const now = Date.now();
    while (due < now + 50) due += target;
    return due - now;
  }

  async poll() {
    if (this.closed) return;
    let wait = 1000;
    try {
      const text = await this.fetchOk(this.url, "playlist");
      const seenAt = Date.now();
      const playlist = parsePlaylist(text, new URL(this.url, location.href).href);
      this.stats.playlists += 1;
      this.target = playlist.target;
      const newest = playlist.segments.length ? playlist.segments[playlist.segments.length - 1].number : null;
      const moved = newest !== this.newest;
      this.newest = newest;
      await this.appendNew(playlist);
      wait = this.nextReload(playlist, moved, seenAt);
    } catch (error) {
      this.stats.errors += 1;
      this.stats.lastError = String(error);
      if (error.expired) this.onExpired();
      else if (this.next !== null) this.onError(error);
      // Not there yet (the mixer starts writing a second or two after the first HLS listener
      // arrives) or a network blip: try again shortly.
    }
    if (!this.closed) this.timer = setTimeout(() => this.poll(), wait);
  }

  async appendNew(playlist) {
    const { segments } = playlist;
    if (!segments.length) return;
    const first = segments[0].number;
    const last = segments[segments.length - 1].number;
    if (this.next === null || this.next < first || this.next > last + 1) {
      // Starting, or out of the window (asleep, offline): from near the live edge.
      if (this.next !== null) this.stats.jumps += 1;
      this.next = Math.max(first, last - HOLD_BACK + 1);
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
    if (this.native || !this.buffer || this.closed) return;
    const ranges = this.buffer.buffered;
    if (!ranges.length) return;
    const edge = ranges.end(ranges.length - 1) - this.target - START_MARGIN_S;
    if (this.audio.currentTime < edge - 0.5) this.audio.currentTime = Math.max(ranges.start(0), edge);
  }

  // Start playing once there is audio, skip ahead after a stall, drop what was played long ago.
  keepUp() {
    const ranges = this.buffer.buffered;
    if (!ranges.length) return;
    const end = ranges.end(ranges.length - 1);
    const audio = this.audio;
    if (audio.currentTime < ranges.start(0) || end - audio.currentTime > MAX_BEHIND_SEGMENTS * this.target) {
      audio.currentTime = Math.max(ranges.start(0), end - this.target - START_MARGIN_S);
    }
    if (audio.paused) audio.play().catch(() => {});
    if (!this.buffer.updating && audio.currentTime - ranges.start(0) > KEEP_BEHIND_S * 2) {
      this.buffer.remove(0, audio.currentTime - KEEP_BEHIND_S);
    }
  }
}
