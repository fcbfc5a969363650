"""The page's HLS player and the benchmark's simulated listeners play by one set of rules.

spaces_project/protocol/hls_player.py holds the numbers; static/js/hls-rules.js is generated from it
for the page, and bench/hls_fanout.py hands them to bench/hls_listeners.c. The rules themselves are
code on both sides (JavaScript for the page, C for the simulator, which has to drive 10,000 players
on two cores), so here both run on the same playlist loads, the page's in node and the simulator's
compiled, and must decide the same: which segment to fetch first, where to start playing, and when
each next load is due.
"""

import json
import random
import shutil
import subprocess
from pathlib import Path

import pytest

from spaces_project.protocol import hls_player

ROOT = Path(__file__).resolve().parents[2]
PLAYER = ROOT / "static" / "js" / "hls-player.js"

# The page's rules, driven like the simulator's --rules mode: one command a line.
NODE_DRIVER = """
import { nextLoad, startFrom, startPosition } from %s;
import { readFileSync } from "node:fs";
let due = 0, misses = 0;
const out = [];
for (const line of readFileSync(0, "utf8").split("\\n").filter(Boolean)) {
  const [command, ...args] = line.split(" ");
  const n = args.map(Number);
  if (command === "join") { due = n[0]; misses = 0; }
  else if (command === "load") {
    ({ due, misses } = nextLoad(due, n[0], n[1] === 1, n[2], misses));
    out.push(`${due.toFixed(3)} ${misses}`);
  } else if (command === "from") out.push(String(startFrom(n[0], n[1], n[2])));
  else if (command === "start") out.push((startPosition(n[0], n[1]) ?? -1).toFixed(3));
  else throw new Error(`unknown command ${line}`);
}
process.stdout.write(out.join("\\n") + "\\n");
"""


@pytest.fixture(scope="module")
def simulator(tmp_path_factory):
    if not shutil.which("cc") or not Path("/usr/include/openssl/ssl.h").exists():
        pytest.fail("needs a C compiler and OpenSSL's headers (gcc, libssl-dev): .ci/run installs them")
    binary = tmp_path_factory.mktemp("hls-rules") / "hls_listeners"
    subprocess.run(
        ["cc", "-O2", "-o", str(binary), str(ROOT / "bench" / "hls_listeners.c"), "-lssl", "-lcrypto", "-lm"],
        check=True,
    )
    return binary


def page_answers(commands: list[str]) -> list[str]:
    node = shutil.which("node") or shutil.which("nodejs")
    if node is None:
        pytest.fail("needs node (Debian's nodejs): .ci/run installs it")
    script = NODE_DRIVER % json.dumps(PLAYER.as_uri())
    result = subprocess.run(
        [node, "--input-type=module", "-e", script],
        input="\n".join(commands) + "\n",
        capture_output=True,
        text=True,
        check=True,
    )
    return result.stdout.split()


def simulator_answers(simulator: Path, commands: list[str]) -> list[str]:
    rules = [str(hls_player.START_MARGIN_MS), str(hls_player.RETRY_FIRST_MS), str(hls_player.RETRY_MAX_MS)]
    result = subprocess.run(
        [str(simulator), "--rules", *rules],
        input="\n".join(commands) + "\n",
        capture_output=True,
        text=True,
        check=True,
    )
    return result.stdout.split()


def listener_trace(seed: int) -> list[str]:
    """One listener's playlist loads as a server would answer them: segments appear every
    `segment_ms` (with the mixer's jitter, now and then one late), each load answers after a fetch
    time (now and then more than a segment). When each load happens follows the rule's own answers,
    so the trace is made by following the documented rule here; the two programs then answer it."""
    rng = random.Random(seed)
    segment_ms = rng.choice([1000.0, 2000.0])
    commands = []
    due = 1_800_000_000_000.0 + rng.uniform(0, segment_ms)
    commands.append(f"join {due:.3f}")
    # The listener's phase against the writer: when, after each load is due, the next segment shows.
    appear = due + rng.uniform(-50, segment_ms)
    misses = 0
    for _ in range(60):
        now = due + rng.choice([5, 20, 60, 300]) + (1200 if rng.random() < 0.03 else 0)
        moved = appear <= due
        commands.append(f"load {now:.3f} {int(moved)} {segment_ms:.0f}")
        if moved:
            while appear <= due:
                appear += segment_ms + rng.uniform(-5, 5) + (700 if rng.random() < 0.05 else 0)
            misses = 0
            due += segment_ms
            while due < now:
                due += segment_ms
        else:
            wait = min(hls_player.RETRY_FIRST_MS * 2 ** min(misses, 10), hls_player.RETRY_MAX_MS)
            due = max(now, due + wait)
            misses += 1
    return commands


def test_the_page_and_the_simulator_schedule_the_same_reloads(simulator):
    commands = []
    for seed in range(40):
        commands += listener_trace(seed)
    page = page_answers(commands)
    simulated = simulator_answers(simulator, commands)
    assert len(page) == 2 * sum(c.startswith("load") for c in commands)
    assert page == simulated


def test_the_reload_schedule_keeps_the_listeners_own_phase():
    """Loads that find a new segment come exactly a segment apart from when each was due, however
    late they answered; a miss is tried again after 100 ms, then 200, up to 500; the load that finds
    it sets the phase from then on."""
    commands = [
        "join 1000",
        "load 1040 1 1000",  # found a segment: the next one a segment after it was due
        "load 2300 1 1000",  # answered late (300 ms): still due at 3000, not 3300
        "load 3010 0 1000",  # nothing new: again 100 ms after it was due
        "load 3105 0 1000",  # then 200
        "load 3320 1 1000",  # found at the load due at 3300: the phase is now 300
        "load 5500 1 1000",  # a load that took more than a segment: whole segments skipped
        "load 6300 0 1000",
        "load 6400 0 1000",
        "load 6600 0 1000",
        "load 7000 0 1000",  # 100, 200, 400, then 500 at most
    ]
    assert page_answers(commands) == [
        "2000.000",
        "0",
        "3000.000",
        "0",
        "3100.000",
        "1",
        "3300.000",
        "2",
        "4300.000",
        "0",
        "6300.000",
        "0",
        "6400.000",
        "1",
        "6600.000",
        "2",
        "7000.000",
        "3",
        "7500.000",
        "4",
    ]


def test_the_page_and_the_simulator_start_the_same_way(simulator):
    commands = []
    for segment_ms in (1000, 2000):
        for first, last in ((0, 0), (0, 1), (0, 5), (7, 12), (3, 3)):
            commands.append(f"from {first} {last} {segment_ms}")
        for held in (0, segment_ms, 1.5 * segment_ms, 2 * segment_ms, 3 * segment_ms):
            commands.append(f"start {held} {segment_ms}")
    page = page_answers(commands)
    assert page == simulator_answers(simulator, commands)
    hold = hls_player.hold_ms(1000)
    # 1 s segments: the newest two are fetched; play-out starts the hold behind their end, and a
    # first listener holding one segment waits for the next.
    assert page[:5] == ["0", "0", "4", "11", "3"]
    assert page[5:10] == ["-1.000", "-1.000", "-1.000", f"{hold:.3f}", f"{hold:.3f}"]


def test_the_page_reads_the_numbers_generated_from_the_protocol():
    generated = (ROOT / "static" / "js" / "hls-rules.js").read_text()
    assert generated == hls_player.js_module(), (
        "run: python -m spaces_project.protocol.hls_player > static/js/hls-rules.js"
    )
    assert 'import { HLS_RULES } from "./hls-rules.js";' in PLAYER.read_text()
