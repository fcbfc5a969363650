"""A host who talks without pause, for the fault tests and bench/faults.py: what a listener hears
around a kill is only ever this host's voice, so any gap between bundles is silence."""

import asyncio
import time

import numpy as np

from deploy import harness
from rooms.audio import codec, wire


async def talk(host: harness.RoomClient, stop: asyncio.Event) -> None:
    """A 440 Hz tone in 20 ms Opus frames, paced like a microphone, sent whenever the host's socket is
    open (a page's capture goes on while it reconnects; what it captures meanwhile is lost)."""
    encoder = codec.make_encoder()
    t = np.arange(wire.FRAME_SAMPLES) / 48_000
    loop = asyncio.get_running_loop()
    started, sequence = loop.time(), 0
    while not stop.is_set():
        pcm = (0.3 * np.sin(2 * np.pi * 440 * (t + sequence * wire.FRAME_MS / 1000))).astype(np.float32)
        packet = encoder.encode(pcm)
        sequence += 1
        if host.ws is not None and host.snapshots:
            try:
                await host.send_bytes(wire.encode_uplink(sequence, time.time() * 1000, packet))
            except Exception:
                pass
        await asyncio.sleep(max(0.0, started + sequence * wire.FRAME_MS / 1000 - loop.time()))
