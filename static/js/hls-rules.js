// Generated from spaces_project/protocol/hls_player.py (python -m spaces_project.protocol.hls_player
// > static/js/hls-rules.js): the HLS player's start rule and reload schedule, which
// bench/hls_listeners.c follows too. Do not edit here.
export const HLS_RULES = Object.freeze({
  "startMarginMs": 600,
  "retryFirstMs": 100,
  "retryMaxMs": 500,
  "catchUpSegments": 2
});
