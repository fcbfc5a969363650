// When the room page opens its socket again after it closed (docs/audio.md, "When a process dies").
// deploy/harness/room_client.py's RoomClient, which the benchmarks and fault tests drive, follows
// the same schedule (tests/browser/test_reconnect_in_step.py runs both).

// A socket that was open this long had a working server behind it: its drop is a process that
// died or restarted, so the page tries again at once, spread over RETRY_SPREAD_MS so that a dead
// process's audience does not arrive at the other in the same instant. (A server that accepts and
// drops sockets sooner gets the backoff: the page does not spin on it.)
export const SETTLED_MS = 2000;
export const RETRY_SPREAD_MS = 300;
// Otherwise (a connection refused, a socket dropped soon after it opened): 0.5 s doubling to 10 s,
// +-30 % jitter.
export const BACKOFF_FIRST_MS = 500;
export const BACKOFF_MAX_MS = 10_000;
export const BACKOFF_JITTER = 0.3;

// How long to wait before the next try, and whether that try counts as a step of the backoff.
// `attempt`: tries since the last snapshot; `onStage`: the person was on stage (the room hears
// nobody while a speaker is away, and the stage is a dozen people, not a storm: at once);
// `settled`: the socket that closed had been open SETTLED_MS or more. `random` is in [0, 1).
export function reconnectDelay({ attempt, onStage, settled }, random) {
  if (attempt === 0 && onStage) return { delay: 0, backoff: true };
  if (attempt === 0 && settled) return { delay: random * RETRY_SPREAD_MS, backoff: false };
  const base = Math.min(BACKOFF_MAX_MS, BACKOFF_FIRST_MS * 2 ** attempt);
  return { delay: base * (1 + BACKOFF_JITTER * (2 * random - 1)), backoff: true };
}
