"""Test signals and helpers for the audio tests: tones, uplink frames, decoding and spectra."""

import numpy as np

from rooms.audio import codec, wire

RATE = wire.SAMPLE_RATE
FRAME = wire.FRAME_SAMPLES
T0 = 1_700_000_000_000.0


def tone(freq: float, frames: int, amplitude: float = 0.3) -> np.ndarray:
    t = np.arange(frames * FRAME) / RATE
    return (amplitude * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def packets(pcm: np.ndarray, **settings) -> list[bytes]:
    encoder = codec.make_encoder(**settings)
    return [encoder.encode(pcm[i * FRAME : (i + 1) * FRAME]) for i in range(len(pcm) // FRAME)]


def uplinks(pcm: np.ndarray, *, first_seq: int = 0, t0: float = T0) -> list[bytes]:
    return [
        wire.encode_uplink(first_seq + i, t0 + i * wire.FRAME_MS, packet)
        for i, packet in enumerate(packets(pcm))
    ]


def decode(stream: list[bytes]) -> np.ndarray:
    decoder = codec.make_decoder()
    return np.concatenate(
        [decoder.decode(p) if p else np.zeros(FRAME, dtype=np.float32) for p in stream]
        or [np.zeros(0, dtype=np.float32)]
    )


def amplitude_at(pcm: np.ndarray, freq: float) -> float:
    """Return the amplitude of the sine at ``freq`` in ``pcm`` (Hann-windowed FFT peak)."""
    window = np.hanning(len(pcm))
    spectrum = np.abs(np.fft.rfft(pcm * window)) * 2 / window.sum()
    bins = np.fft.rfftfreq(len(pcm), 1 / RATE)
    return float(spectrum[(bins > freq - 15) & (bins < freq + 15)].max())


def rms(pcm: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(pcm, dtype=np.float64)))) if len(pcm) else 0.0
