"""Live audio as people hear it, in real pages: Chromium with fake microphones against daphne and
`manage.py run_mixer`, measured at each page's play-out, over many trials.

    python bench/browser_audio.py                     # 20 joins, 10 mutes
    python bench/browser_audio.py --joins 40 --mutes 20

All on 127.0.0.1, bounded by --timeout. It drops and recreates its own PostgreSQL database
(--db-name, next to the one DATABASE_URL names), seeds a live room (a host, a guest on stage, muted,
and listeners; bench/harness/), collects the static files, and starts daphne (settings
`spaces_project.settings.bench`) and one mixer process on Redis, the production layout. Debian's
Chromium runs three times, each with its own fake microphone (tests/conftest.py's launcher): the
host's plays a 440 Hz tone, the guest's an 880 Hz tone with a 100 ms 1,000 Hz marker every second,
the listeners' silence. Each page is listened to with the browser tests' instruments
(tests/browser/instruments.py): its playback analyser polled every 10 ms (a tone is heard after
three clear polls in a row), and, for joins, an AudioWorklet on its play-out node.

1. Joins. The host talks; the guest is on stage, muted. --joins times a new listener (alternately
   signed in and not) opens the room page. first audio = the first audible sample at the play-out -
   the room snapshot. dropout = a silence over 40 ms in the first 3 s after it. Every join counts:
   those whose page could not decode in time (frames dropped before decoding, decoder errors) and
   those whose play-out was handed silence are counted and reported, never left out.
2. Both speak. The guest unmutes; a listener's page stays open. --mutes rounds of: both talk for
   --talk seconds, then the host mutes the guest from the member menu, and the guest unmutes again.
   guest -> host = when the host's page first hears each marker - when the guest's page captured it
   (an analyser on the microphone stream, the same detector), mouth to ear. other voice = the share
   of the host's polls in which the guest was heard and of the guest's in which the host was
   (mix-minus), while both talk; own voice = the same for their own voice (should be 0).
   mute -> silence = the last moment the listener's page heard the guest - the host's click, minus
   how far behind the room that page played at the click (its last bundle's capture-to-page delay +
   what its play-out held). The click comes once the listener's page hears the guest; a round in
   which it fell quiet between that look and the click measures nothing, and is counted apart.

The last line printed is one JSON object.
"""

import argparse
import json
import os
import sys
import tempfile
import time
import types
from pathlib import Path

from django.conf import settings
from django.core.management import call_command
from django.db import connections
from playwright.sync_api import expect, sync_playwright

sys.path.insert(0, str(Path(__file__).resolve().parent))

import harness  # noqa: E402

from tests.browser.instruments import (  # noqa: E402
    GUEST_HZ,
    HOST_HZ,
    TAP,
    TAP_FIGURES,
    ears_script,
    launch_with_microphone,
    mouth_script,
    wait_until,
    write_tone,
)

MARKER_HZ = 1000  # no harmonic of 440 or 880
TARGETS = {
    "first_audio_p95_ms": ("<=", 1000),
    "guest_to_host_p95_ms": ("<=", 400),
    "mute_to_silence_over_delay_p95_ms": ("<=", 200),
    "other_voice_share": (">=", 0.8),
    "dropouts": ("<=", 0),
}
EARS = ears_script((HOST_HZ, GUEST_HZ, MARKER_HZ))

MOUTH = mouth_script(MARKER_HZ)

# When the host's click on "mute" lands (the clock is the machine's, shared by every page).
CLICKS = """document.addEventListener("click", (e) => {
  if (e.target.closest("[data-testid=mute]")) window.__mutedAt = Date.now();
}, true)"""


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--joins", type=int, default=20, help="new listeners, each watched 3 s")
    parser.add_argument("--mutes", type=int, default=10, help="rounds of talking and a host mute")
    parser.add_argument("--talk", type=float, default=4.0, help="seconds both talk in each round")
    parser.add_argument("--timeout", type=float, default=900.0)
    parser.add_argument("--db-name", default="bench_browser_audio")
    parser.add_argument("--redis-url", default=os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/0")
    parser.add_argument("--keep-db", action="store_true")
    args = parser.parse_args()
    if not args.redis_url.startswith(("redis://127.", "redis://localhost")):
        parser.error("--redis-url must be on this machine")
    return args


def pct(values: list[float], p: float) -> float | None:
    value = harness.percentile(values, p)
    return None if value is None else round(value, 1)


class Room:
    """The pages of one bench run, in three Chromiums with fake microphones."""

    def __init__(self, playwright, url: str, seeded: dict, folder: Path, deadline: float) -> None:
        self.url = url
        self.seeded = seeded
        self.deadline = deadline
        launcher = types.SimpleNamespace(browser_type=playwright.chromium)
        self.chromiums = {
            "host": launch_with_microphone(launcher, write_tone(folder / "host.wav", HOST_HZ)),
            "guest": launch_with_microphone(
                launcher, write_tone(folder / "guest.wav", GUEST_HZ, marker_hz=MARKER_HZ)
            ),
            "listeners": launch_with_microphone(launcher, write_tone(folder / "silence.wav", None)),
        }
        self.figures: dict = {"joins": [], "markers": [], "rounds": [], "mutes": []}

    def open(self, who: str, cookie: str | None, *, music: bool = False, scripts=(), bypass_csp=False):
        context = self.chromiums[who].new_context(
            viewport={"width": 1200, "height": 900}, bypass_csp=bypass_csp
        )
        context.add_init_script(EARS)
        if music:
            # A steady tone is what noise suppression learns as noise: speakers use music mode.
            context.add_init_script("localStorage.setItem('spaces:music-mode', 'on')")
        for script in scripts:
            context.add_init_script(script)
        if cookie:
            name, value = cookie.split("=", 1)
            context.add_cookies([{"name": name, "value": value, "url": self.url}])
        page = context.new_page()
        page.set_default_timeout(30_000)
        page.goto(f"{self.url}/rooms/{self.seeded['room_id']}/")
        return page

    def check_time(self) -> None:
        if time.monotonic() > self.deadline:
            raise TimeoutError("the benchmark ran out of time (--timeout)")

    @staticmethod
    def unmute(page) -> None:
        mic = page.get_by_test_id("mic-toggle")
        expect(mic).to_have_text("Unmute", timeout=30_000)
        mic.click()
        expect(mic).to_have_text("Mute", timeout=30_000)

    def run(self, args: argparse.Namespace) -> None:
        host = self.open("host", self.seeded["host"][1], music=True, scripts=[CLICKS])
        self.unmute(host)
        listener = self.open("listeners", self.seeded["listeners"][0])
        wait_until(listener, f"window.__ears.now[{HOST_HZ}] === true", 30_000)

        harness.progress(f"{args.joins} joins while the host talks")
        for n in range(args.joins):
            self.check_time()
            cookie = self.seeded["listeners"][1 + n // 2] if n % 2 == 0 else None
            page = self.open("listeners", cookie, scripts=[TAP], bypass_csp=True)
            try:
                wait_until(page, "window.__tap.done === true", 30_000)
                join = page.evaluate(TAP_FIGURES)
            except AssertionError:
                join = {"failed": "no audio within 30 s"}
            page.context.close()
            self.figures["joins"].append(join)
            time.sleep(0.5)

        harness.progress(f"{args.mutes} rounds of both talking, then a host mute")
        guest_id, guest_cookie = self.seeded["speakers"][0]
        guest = self.open("guest", guest_cookie, music=True, scripts=[MOUTH])
        self.unmute(guest)
        for _ in range(args.mutes):
            self.check_time()
            wait_until(host, f"window.__ears.now[{GUEST_HZ}] === true", 30_000)
            wait_until(guest, f"window.__ears.now[{HOST_HZ}] === true", 30_000)
            wait_until(listener, f"window.__ears.now[{GUEST_HZ}] === true", 30_000)
            for page in (host, guest):
                page.evaluate("window.__ears.count = {}; window.__ears.polls = 0")
            began = time.time() * 1000
            host.wait_for_timeout(args.talk * 1000)
            ended = time.time() * 1000
            heard = {"host": host.evaluate("window.__ears"), "guest": guest.evaluate("window.__ears")}
            self.figures["rounds"].append(
                {
                    "host_polls": heard["host"]["polls"],
                    "host_hears_guest": heard["host"]["count"].get(str(GUEST_HZ), 0),
                    "host_hears_self": heard["host"]["count"].get(str(HOST_HZ), 0),
                    "guest_polls": heard["guest"]["polls"],
                    "guest_hears_host": heard["guest"]["count"].get(str(HOST_HZ), 0),
                    "guest_hears_self": heard["guest"]["count"].get(str(GUEST_HZ), 0),
                }
            )
            # Markers captured while both talked, early enough to be heard before the round ends.
            mouths = [m for m in guest.evaluate("window.__mouth.onsets") if began <= m <= ended - 900]
            ear_onsets = heard["host"]["onsets"].get(str(MARKER_HZ), [])
            for mouth in mouths:
                later = [e for e in ear_onsets if mouth <= e < mouth + 900]
                self.figures["markers"].append(later[0] - mouth if later else None)

            # The listener hears the guest at the click (a page on a busy machine misses a moment).
            wait_until(listener, f"window.__ears.now[{GUEST_HZ}] === true", 30_000)
            behind = listener.evaluate(
                "window.spacesAudio.stats.last_bundle_delay_ms + window.spacesAudio.playoutStats.depth_ms"
            )
            member = host.get_by_test_id(f"stage-member-{guest_id}")
            member.get_by_test_id("member-menu").click()
            member.get_by_test_id("mute").click()
            muted_at = host.evaluate("window.__mutedAt")
            try:
                wait_until(
                    listener,
                    f"window.__ears.now[{GUEST_HZ}] === false && Date.now() - window.__ears.last[{GUEST_HZ}] > 1000",
                    15_000,
                )
                last = listener.evaluate(f"window.__ears.last[{GUEST_HZ}]")
                mute = {
                    "mute_to_silence_ms": last - muted_at,
                    "behind_ms": behind,
                    "over_ms": last - muted_at - behind,
                }
                if last < muted_at:
                    # It fell quiet between the look and the click: this round measured nothing.
                    mute["not_heard_at_click"] = True
                self.figures["mutes"].append(mute)
            except AssertionError:
                self.figures["mutes"].append({"failed": "the guest was still heard 15 s after the mute"})
            self.unmute(guest)

    def close(self) -> None:
        for chromium in self.chromiums.values():
            chromium.close()


def summary(figures: dict) -> dict:
    joins = figures.get("joins", [])
    played = [j for j in joins if "failed" not in j]
    firsts = [j["after_snapshot_ms"] for j in played]
    not_decoded = [j for j in played if j["page"]["dropped_decodes"] or j["page"]["decode_errors"]]
    dropouts = [j for j in played if j["longest_ms"] > 40]
    markers = figures.get("markers", [])
    heard_markers = [m for m in markers if m is not None]
    rounds = figures.get("rounds", [])
    host_polls = sum(r["host_polls"] for r in rounds)
    guest_polls = sum(r["guest_polls"] for r in rounds)
    mutes = figures.get("mutes", [])
    measured = [m for m in mutes if "failed" not in m and "not_heard_at_click" not in m]
    over = [m["over_ms"] for m in measured]

    def share(count: str, polls: int) -> float | None:
        return round(sum(r[count] for r in rounds) / polls, 3) if polls else None

    other = [share("host_hears_guest", host_polls), share("guest_hears_host", guest_polls)]
    own = [share("host_hears_self", host_polls), share("guest_hears_self", guest_polls)]
    return {
        "joins": len(joins),
        "first_audio_p50_ms": pct(firsts, 50),
        "first_audio_p95_ms": pct(firsts, 95),
        "first_audio_max_ms": round(max(firsts), 1) if firsts else None,
        # A join that never played counts as a dropout too.
        "dropouts": len(dropouts) + (len(joins) - len(played)),
        "joins_not_decoded_in_time": len(not_decoded),
        "joins_handed_silence": sum(1 for j in played if j["quiet_frames"]),
        "longest_silence_p95_ms": pct([j["longest_ms"] for j in played], 95),
        "guest_to_host_p50_ms": pct(heard_markers, 50),
        "guest_to_host_p95_ms": pct(heard_markers, 95),
        "markers_heard": f"{len(heard_markers)}/{len(markers)}",
        "mutes": len(mutes),
        "mutes_never_silent": sum(1 for m in mutes if "failed" in m),
        "mutes_not_heard_at_click": sum(1 for m in mutes if "not_heard_at_click" in m),
        "mute_to_silence_over_delay_p50_ms": pct(over, 50),
        "mute_to_silence_over_delay_p95_ms": pct(over, 95),
        "listener_delay_p50_ms": pct([m["behind_ms"] for m in measured], 50),
        "other_voice_share": min(other) if None not in other else None,
        "host_hears_guest_share": other[0],
        "guest_hears_host_share": other[1],
        "own_voice_share": max(own) if None not in own else None,
    }


def report(line: dict, figures: dict, mode: str) -> None:
    print(f"server: {mode}")
    print(f"machine: {os.cpu_count()} cores, load average {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    for n, join in enumerate(figures.get("joins", []), 1):
        if "failed" in join:
            print(f"join {n:2d}: {join['failed']}")
            continue
        print(
            f"join {n:2d}: first audio {join['after_snapshot_ms']:5.0f} ms after the snapshot "
            f"({join['after_navigation_ms']:5.0f} ms after navigation), longest silence "
            f"{join['longest_ms']:6.1f} ms, gaps > 40 ms {join['gaps']}, silent frames handed to the play-out "
            f"{join['quiet_frames']}, page {join['page']}"
        )
    for n, mute in enumerate(figures.get("mutes", []), 1):
        if "failed" in mute:
            print(f"mute {n:2d}: {mute['failed']}")
        else:
            print(
                f"mute {n:2d}: silent {mute['mute_to_silence_ms']:5.0f} ms after the click, the listener "
                f"{mute['behind_ms']:5.0f} ms behind the room: {mute['over_ms']:+5.0f} ms over its delay"
                + (
                    " (it had fallen quiet before the click: not counted)"
                    if "not_heard_at_click" in mute
                    else ""
                )
            )
    misses = []
    for key, (op, limit) in TARGETS.items():
        value = line.get(key)
        if value is None or (value > limit if op == "<=" else value < limit):
            misses.append(f"{key} {value} (target {op} {limit})")
    print(
        "targets: first audio p95 <= 1 s; guest -> host p95 <= 400 ms; mute -> silence <= the listener's "
        "delay + 200 ms at p95; the other voice in >= 80 % of polls; 0 dropouts in the joins, "
        "counting those the page could not decode in time"
    )
    print("targets: " + ("all met" if not misses else "MISSED: " + "; ".join(misses)))


def main() -> int:
    args = parse_args()
    began = time.monotonic()
    admin_url, bench_url = harness.database_urls(args.db_name)
    processes = []
    failed = None
    room = None
    mode = "not started"
    static_root = tempfile.TemporaryDirectory(prefix="bench-static-")
    os.environ["STATIC_ROOT"] = static_root.name  # WhiteNoise serves the pages' scripts from here
    try:
        harness.progress(f"creating database {args.db_name}")
        harness.recreate_database(admin_url, args.db_name)
        harness.setup_django(bench_url, args.redis_url)
        seeded = harness.seed(
            argparse.Namespace(speakers=1, reactors=0, hand_raisers=0, signed_in=args.joins // 2 + 2),
            migrate=True,
        )
        call_command("collectstatic", interactive=False, verbosity=0)
        harness.clear_room_keys(args.redis_url, seeded["room_id"])
        logs = harness.ROOT / "test-artifacts"
        logs.mkdir(exist_ok=True)
        port, daphnes = harness.start_daphnes(
            1, bench_url, args.redis_url, logs / "bench-browser-audio-daphne.log"
        )
        processes += daphnes
        mixer = harness.start_mixer(bench_url, args.redis_url, logs / "bench-browser-audio-mixer.log")
        processes.append(mixer)
        harness.wait_for_lease(args.redis_url, seeded["room_id"])
        mode = (
            f"daphne pid {daphnes[0].pid} + run_mixer pid {mixer.pid} on Redis {args.redis_url}; Chromium 3x"
        )
        with sync_playwright() as playwright, tempfile.TemporaryDirectory(prefix="bench-tones-") as folder:
            room = Room(
                playwright, f"http://127.0.0.1:{port}", seeded, Path(folder), began + args.timeout - 30
            )
            try:
                room.run(args)
            finally:
                room.close()
    except BaseException as error:
        failed = error
    finally:
        for process in processes:
            harness.stop_process(process)
        if settings.configured:  # Django was set up
            connections.close_all()
        if not args.keep_db:
            harness.recreate_database(admin_url, args.db_name, drop_only=True)
        static_root.cleanup()
    if failed is not None:
        print(f"benchmark did not finish: {type(failed).__name__}: {failed}", file=sys.stderr)
    figures = room.figures if room else {}
    line = summary(figures)
    report(line, figures, mode)
    print(json.dumps(line))
    return 1 if failed is not None else 0


if __name__ == "__main__":
    sys.exit(main())
