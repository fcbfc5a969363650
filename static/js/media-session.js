// The live room as the system's "now playing" (the Media Session API): the room's title, the host's
// name and avatar on the lock screen and in the notification, and its buttons. "Pause" and "play"
// mute and unmute the room for this person only (they stay in the room, and come back at the live
// edge); "stop" leaves the room. Nothing happens in a browser without navigator.mediaSession.
//
// The room page (templates/rooms/room_detail.html) gives what to show on #live-room:
// data-media-title, data-media-artist and data-media-artwork (the host's avatar at 64, 128 and
// 256 px, space-separated, or nothing: then the site's icon).
import { gettext, ngettext, interpolate } from "./i18n.js";

const ARTWORK_SIZES = [64, 128, 256];
const FALLBACK_ARTWORK = { src: "/apple-touch-icon.png", sizes: "180x180", type: "image/png" };

export function roomMetadata(root) {
  const urls = (root.dataset.mediaArtwork || "").split(/\s+/).filter(Boolean);
  const artwork = urls.length
    ? urls.map((src, index) => ({
        src: new URL(src, window.location.href).href,
        sizes: `${ARTWORK_SIZES[index]}x${ARTWORK_SIZES[index]}`,
        type: "image/jpeg",
      }))
    : [{ ...FALLBACK_ARTWORK, src: new URL(FALLBACK_ARTWORK.src, window.location.href).href }];
  return { title: root.dataset.mediaTitle || document.title, artist: root.dataset.mediaArtist || "", album: "Spaces", artwork };
}

// audio: the page's RoomAudio; leave(): leave the room as its "Leave" button does.
// Returns a function that takes the session back (the room ended, or this person left).
export function roomMediaSession(root, audio, leave) {
  const session = navigator.mediaSession;
  if (!session || !window.MediaMetadata) return () => {};
  session.metadata = new MediaMetadata(roomMetadata(root));
  const handlers = {
    play: () => audio.play(),
    pause: () => audio.pause(),
    stop: () => leave(),
  };
  for (const [action, handler] of Object.entries(handlers)) {
    try {
      session.setActionHandler(action, handler);
    } catch {
      // An action this browser does not know ("stop" in some): the others still work.
    }
  }
  // Seeking and skipping mean nothing in a live room: no such buttons.
  for (const action of ["seekbackward", "seekforward", "seekto", "previoustrack", "nexttrack"]) {
    try {
      session.setActionHandler(action, null);
    } catch {
      // not supported: nothing to remove
    }
  }
  audio.onPlayingChange = (playing) => {
    session.playbackState = playing ? "playing" : "paused";
  };
  session.playbackState = audio.playing ? "playing" : "paused";
  return () => {
    audio.onPlayingChange = null;
    for (const action of Object.keys(handlers)) {
      try {
        session.setActionHandler(action, null);
      } catch {
        // not supported: nothing to remove
      }
    }
    session.metadata = null;
    session.playbackState = "none";
  };
}
