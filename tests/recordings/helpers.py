"""Make captures the way a live room does: a RoomMixer's program packets into a CaptureWriter."""

from pathlib import Path

import av
import numpy as np

from rooms.audio.capture import CaptureWriter
from rooms.audio.mixer import RoomMixer
from tests.audio.signals import FRAME, T0, tone, uplinks


def capture_tone(
    directory: Path,
    *,
    speaker_id: int,
    seconds: float,
    freq: float = 440.0,
    silent_tail_s: float = 0.0,
    close: bool = True,
) -> CaptureWriter:
    """Drive a mixer for `seconds` of a speaker's tone (then `silent_tail_s` of nobody) and capture
    its program mix; return the writer (closed unless `close` is False). The mixer ticks faster
    than real time: it takes its clock from the caller."""
    frames = int(seconds * 50)
    writer = CaptureWriter(directory, started_ms=T0)
    mixer = RoomMixer(on_program_packet=writer.write)
    mixer.set_allowed({speaker_id})
    mixer.set_stage({speaker_id})
    voice = uplinks(tone(freq, frames))
    for k in range(frames + int(silent_tail_s * 50)):
        now = T0 + 20 * k
        if k < frames:
            mixer.push(speaker_id, voice[k], now + 5)
        mixer.tick(now + 20)
    if close:
        writer.close()
    else:
        writer.flush()
    return writer


def capture_voice(
    directory: Path, *, speaker_id: int, pcm: np.ndarray, silent_tail_s: float = 0.5
) -> CaptureWriter:
    """Like `capture_tone`, with the speaker saying `pcm` (48 kHz) instead of a tone."""
    frames = -(-len(pcm) // FRAME)
    pcm = np.pad(pcm.astype(np.float32), (0, frames * FRAME - len(pcm)))
    writer = CaptureWriter(directory, started_ms=T0)
    mixer = RoomMixer(on_program_packet=writer.write)
    mixer.set_allowed({speaker_id})
    mixer.set_stage({speaker_id})
    voice = uplinks(pcm)
    for k in range(frames + int(silent_tail_s * 50)):
        now = T0 + 20 * k
        if k < frames:
            mixer.push(speaker_id, voice[k], now + 5)
        mixer.tick(now + 20)
    writer.close()
    return writer


def decode_m4a(path: Path) -> tuple[np.ndarray, int]:
    """Decode an M4A to mono float samples; return them and the sample rate."""
    with av.open(str(path)) as container:
        stream = container.streams.audio[0]
        chunks = [frame.to_ndarray().reshape(-1) for frame in container.decode(stream)]
        rate = stream.codec_context.sample_rate
    return np.concatenate(chunks).astype(np.float32), rate


def amplitude_at(pcm: np.ndarray, freq: float, rate: int) -> float:
    window = np.hanning(len(pcm))
    spectrum = np.abs(np.fft.rfft(pcm * window)) * 2 / window.sum()
    bins = np.fft.rfftfreq(len(pcm), 1 / rate)
    return float(spectrum[(bins > freq - 15) & (bins < freq + 15)].max())


__all__ = ["FRAME", "amplitude_at", "capture_tone", "capture_voice", "decode_m4a"]
