"""The room page and the benchmarks' simulated pages reconnect on one schedule.

static/js/reconnect.js decides when the page tries its socket again; the RoomClient of
deploy/harness/room_client.py (bench/reconnect_storm.py, bench/faults.py, the fault tests) repeats it
in Python. Both run here, the page's in node, on the same cases, and must decide the same; and the
schedule is the one docs/audio.md describes: the stage at once, a listener whose socket had been open
a while within 0.3 s, everyone else 0.5 s doubling to 10 s with +-30 % jitter.
"""

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from deploy import harness

ROOT = Path(__file__).resolve().parents[2]
RECONNECT_JS = ROOT / "static" / "js" / "reconnect.js"

NODE_DRIVER = """
import { reconnectDelay, SETTLED_MS, RETRY_SPREAD_MS, BACKOFF_FIRST_MS, BACKOFF_MAX_MS, BACKOFF_JITTER }
  from %s;
import { readFileSync } from "node:fs";
const cases = JSON.parse(readFileSync(0, "utf8"));
const answers = cases.map(([attempt, onStage, settled, random]) =>
  reconnectDelay({ attempt, onStage, settled }, random));
const numbers = { SETTLED_MS, RETRY_SPREAD_MS, BACKOFF_FIRST_MS, BACKOFF_MAX_MS, BACKOFF_JITTER };
process.stdout.write(JSON.stringify({ answers, numbers }));
"""

CASES = [
    [attempt, on_stage, settled, rand]
    for attempt in (0, 1, 2, 3, 6, 12)
    for on_stage in (False, True)
    for settled in (False, True)
    for rand in (0.0, 0.25, 0.5, 0.999)
]


@pytest.fixture(scope="module")
def page_schedule() -> dict:
    node = shutil.which("node")
    if node is None:
        pytest.fail("needs node (nodejs): .ci/run installs it")
    answer = subprocess.run(
        [node, "--input-type=module", "-e", NODE_DRIVER % json.dumps(RECONNECT_JS.as_uri())],
        input=json.dumps(CASES),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return json.loads(answer.stdout)


def test_page_and_simulated_pages_wait_the_same(page_schedule):
    numbers = page_schedule["numbers"]
    assert numbers == {
        "SETTLED_MS": harness.SETTLED_S * 1000,
        "RETRY_SPREAD_MS": harness.RETRY_SPREAD_S * 1000,
        "BACKOFF_FIRST_MS": harness.BACKOFF_FIRST_S * 1000,
        "BACKOFF_MAX_MS": harness.BACKOFF_MAX_S * 1000,
        "BACKOFF_JITTER": harness.BACKOFF_JITTER,
    }
    for case, page in zip(CASES, page_schedule["answers"], strict=True):
        attempt, on_stage, settled, rand = case
        delay, backoff = harness.reconnect_delay(
            attempt=attempt, on_stage=on_stage, settled=settled, rand=rand
        )
        assert page == {"delay": pytest.approx(delay * 1000), "backoff": backoff}, case


def test_after_a_drop_the_stage_is_back_at_once_and_a_settled_audience_within_a_third_of_a_second():
    first = [c for c in CASES if c[0] == 0]
    for attempt, on_stage, settled, rand in first:
        delay, backoff = harness.reconnect_delay(
            attempt=attempt, on_stage=on_stage, settled=settled, rand=rand
        )
        if on_stage:
            assert (delay, backoff) == (0.0, True)
        elif settled:
            # A process died under them: at once, spread over 0.3 s; a failure after it backs off
            # from the start (the quick try is not a step of the backoff).
            assert 0 <= delay < 0.3 and not backoff
        else:
            # A refused connection, or a socket that dropped soon after it opened: back off.
            assert 0.35 <= delay <= 0.65 and backoff
    later = [c for c in CASES if c[0] > 0]
    for attempt, on_stage, settled, rand in later:
        delay, backoff = harness.reconnect_delay(
            attempt=attempt, on_stage=on_stage, settled=settled, rand=rand
        )
        base = min(10.0, 0.5 * 2**attempt)
        assert base * 0.7 <= delay <= base * 1.3 and backoff
