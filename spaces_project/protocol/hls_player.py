"""The page's HLS player: where it starts playing and when it reloads the playlist, as numbers defined
once. No Django.

Two programs follow these rules: the page's player (static/js/hls-player.js, which imports
static/js/hls-rules.js, generated from this module: ``python -m spaces_project.protocol.hls_player >
static/js/hls-rules.js``; a test checks it is current) and the benchmark's simulated listeners
(bench/hls_listeners.c, to which bench/hls_fanout.py hands these numbers as arguments).
tests/browser/test_hls_rules_in_step.py runs both rules, the page's in node and the simulator's in C,
on the same playlist loads and compares what they decide. docs/hls.md ("The player") has the
arithmetic behind the numbers.

**Start.** Play-out starts one segment plus ``START_MARGIN_MS`` behind the end of the newest segment
the player holds (the "hold"), and only once it holds that much audio: at the first load it fetches
the newest segments that cover the hold (two of 1 s); a first listener, who finds fewer, waits for the
next segment before it plays, so it does not stall. The next segment, due a segment later, then has
``START_MARGIN_MS`` to spare.

**Reloads, from the listener's own phase.** A load that found a newer segment than the last one is
followed by the next load exactly one segment's duration after the moment it was *due* (not when it
answered, so timers firing late do not add up; not from the segment's stamped end, so the server's
clock and how late it writes do not matter): one load per segment, at the phase the listener joined
with, so listeners stay spread over the segment as their joins were. A load that found nothing new
is tried again ``RETRY_FIRST_MS`` after it was due, then twice that, up to ``RETRY_MAX_MS``; the load
that finds the segment sets the phase from then on (it moves later by at most a retry, once).
"""

from __future__ import annotations

import json

# The buffer play-out starts with beyond one whole segment: what the next segment's fetch, nginx
# under load and the mixer's writing may take beyond a segment's duration (docs/hls.md).
START_MARGIN_MS = 600
# Reloads that found nothing new: again this long after the load was due, doubling each time...
RETRY_FIRST_MS = 100
# ...up to this.
RETRY_MAX_MS = 500
# A player that fell behind (a stall, a page that could not play yet) jumps back to the start
# point once the buffer holds more than the hold plus this many segments.
CATCH_UP_SEGMENTS = 2

RULES = {
    "startMarginMs": START_MARGIN_MS,
    "retryFirstMs": RETRY_FIRST_MS,
    "retryMaxMs": RETRY_MAX_MS,
    "catchUpSegments": CATCH_UP_SEGMENTS,
}


def hold_ms(segment_ms: float) -> float:
    """How far behind the end of the newest segment held play-out starts."""
    return segment_ms + START_MARGIN_MS


def js_module() -> str:
    """static/js/hls-rules.js: the same numbers for the page."""
    return (
        "// Generated from spaces_project/protocol/hls_player.py (python -m spaces_project.protocol.hls_player\n"
        "// > static/js/hls-rules.js): the HLS player's start rule and reload schedule, which\n"
        "// bench/hls_listeners.c follows too. Do not edit here.\n"
        f"export const HLS_RULES = Object.freeze({json.dumps(RULES, indent=2)});\n"
    )


if __name__ == "__main__":
    print(js_module(), end="")
