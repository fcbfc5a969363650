"""A mixer's warm standby (rooms/live/runner.py, standby=True): it mixes what it hears and nothing
leaves it, no bundle, no level, no recording, until it is promoted; then it sends at once what it
has mixed and the host is heard with no jitter buffer to fill."""

import asyncio

from rooms.audio import wire
from rooms.audio.mixer import RoomMixer
from rooms.live.runner import RoomAudioRunner

from .test_backstage import Capture, Sink, _feed, _heard

HOST = 11


async def test_a_standby_mixes_without_effect_and_once_promoted_is_heard_within_a_bundle():
    sink = Sink()
    captures: list[Capture] = []

    async def load_stage():
        return {HOST}, {HOST}

    async def open_capture():
        captures.append(Capture())
        return captures[-1]

    runner = RoomAudioRunner(
        1,
        load_stage=load_stage,
        send_bundle=sink.bundle,
        send_levels=sink.send_levels,
        mixer=RoomMixer(bundle_frames=10),
        open_capture=open_capture,
        standby=True,
    )
    running = asyncio.create_task(runner.run())
    talking = asyncio.create_task(_feed(runner, HOST, 440, 3.0, first_seq=100))
    await asyncio.sleep(1.5)
    assert runner.mixer.stats["ticks"] > 50, "the standby does not mix"
    assert sink.bundles == [] and sink.levels == [] and captures == []

    runner.promote()
    promoted = asyncio.get_running_loop().time()
    while not sink.bundles:
        await asyncio.sleep(0.005)
    first = asyncio.get_running_loop().time() - promoted
    assert first < 0.1, f"the first bundle went {first * 1000:.0f} ms after the promotion"
    assert wire.decode_bundle(sink.bundles[0][1]).packets, "an empty bundle"
    await talking
    runner.stop()
    await running
    assert _heard(sink.bundles, wire.PROGRAM, 440) > 0.02
    assert len(captures) == 1 and captures[0].packets and captures[0].closed  # recorded once promoted
