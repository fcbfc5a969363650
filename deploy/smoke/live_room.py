"""The live room through nginx: the host's socket and a listener's, a 440 Hz tone the host speaks
and the listener hears, and the end of the room."""

from __future__ import annotations

import asyncio
import time

import numpy as np

from deploy import harness
from deploy.smoke.common import Timer, check
from rooms.audio import codec, wire

TONE_HZ = 440.0


def tone_uplinks(seconds: float) -> list[bytes]:
    frames = int(seconds * 1000 / wire.FRAME_MS)
    t = np.arange(frames * wire.FRAME_SAMPLES) / wire.SAMPLE_RATE
    pcm = (0.3 * np.sin(2 * np.pi * TONE_HZ * t)).astype(np.float32)
    encoder = codec.make_encoder()
    return [encoder.encode(pcm[i * wire.FRAME_SAMPLES : (i + 1) * wire.FRAME_SAMPLES]) for i in range(frames)]


def heard_tone(bundles: list[bytes]) -> float:
    """The amplitude at TONE_HZ in what a listener received (its program mix, decoded)."""
    decoder = codec.make_decoder()
    pcm = []
    for data in bundles:
        for packet in wire.decode_bundle(data).packets:
            pcm.append(decoder.decode(packet) if packet else np.zeros(wire.FRAME_SAMPLES, dtype=np.float32))
    if not pcm:
        return 0.0
    signal = np.concatenate(pcm)
    window = np.hanning(len(signal))
    spectrum = np.abs(np.fft.rfft(signal * window)) * 2 / window.sum()
    bins = np.fft.rfftfreq(len(signal), 1 / wire.SAMPLE_RATE)
    return float(spectrum[(bins > TONE_HZ - 15) & (bins < TONE_HZ + 15)].max())


async def live_room(origin: str, browser: harness.Browser, room_id: int, timer: Timer) -> None:
    ws_url = origin.replace("https://", "wss://") + f"/ws/rooms/{room_id}/"
    host = harness.RoomClient(
        ws_url, origin=origin, cookie=browser.cookie_header(), ssl_context=browser.ssl_context, name="host"
    )
    listener = harness.RoomClient(
        ws_url, origin=origin, ssl_context=browser.ssl_context, name="listener", keep_audio=True
    )
    host.start()
    listener.start()
    try:
        await host.wait(lambda: host.snapshots, 20, "the host's snapshot")
        await listener.wait(lambda: listener.snapshots, 20, "the listener's snapshot")
        check(host.last_snapshot["you"]["role"] == "host", "the host is not the host in the snapshot")
        check(host.last_snapshot["room"]["is_recorded"], "the room is not recorded")
        host_id = host.last_snapshot["you"]["user_id"]
        timer.step("both sockets joined through nginx")
        await host.send("mic.unmute")
        await host.wait(
            lambda: any(
                e.get("type") == "room.participant_updated"
                and e["participant"]["user_id"] == host_id
                and not e["participant"]["muted"]
                for _, e in host.events
            ),
            10,
            "the host to be unmuted",
        )
        # Speak in real time, as a microphone does, until the listener has heard a second of it.
        packets = tone_uplinks(6.0)
        started = time.time() * 1000
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        for sequence, packet in enumerate(packets):
            await asyncio.sleep(max(0.0, t0 + sequence * wire.FRAME_MS / 1000 - loop.time()))
            await host.send_bytes(wire.encode_uplink(sequence, started + sequence * wire.FRAME_MS, packet))
        await listener.wait(lambda: len(listener.audio) >= 5, 10, "the listener to hear the host")
        amplitude = heard_tone([data for _, data in listener.audio])
        check(amplitude > 0.05, f"the listener heard no {TONE_HZ:.0f} Hz tone (amplitude {amplitude:.3f})")
        timer.step(f"the listener heard the host's tone (amplitude {amplitude:.2f})")
        await asyncio.sleep(1.5)  # the mixer flushes the recording every second
        # "Yes, end the room and recording": the room page's form posts to its action.
        answer = await asyncio.to_thread(
            browser.post_form, f"/rooms/{room_id}/end/", {}, form_path=f"/rooms/{room_id}/"
        )
        check(answer.status == 302, f"ending the room answered {answer.status}")
        await listener.wait(lambda: listener.finished, 15, "the listener's socket to close")
        await host.wait(lambda: host.finished, 15, "the host's socket to close")
        check(listener.closes[-1][1] == 4010, f"the listener's socket closed with {listener.closes[-1][1]}")
        timer.step("the host ended the room; both sockets closed with 4010")
    finally:
        await host.stop()
        await listener.stop()
