"""Speech made in the tests with espeak-ng, in the voices and sentences the default engine handles."""

import io
import re
import shutil
import subprocess

import av
import numpy as np
import pytest

ESPEAK = shutil.which("espeak-ng")
VOICES = ("en-us", "en-gb-x-rp+m2")
SENTENCES = (
    "We will meet at the library after lunch on Tuesday.",
    "Please remember to bring your umbrella this afternoon.",
    "Turn off the lights when you leave the room.",
    "The train to the city leaves early in the morning.",
)


def espeak(text: str, *, voice: str = VOICES[0], rate: int = 48_000, speed: int = 140) -> np.ndarray:
    """``text`` spoken by espeak-ng as mono float at ``rate``, without leading or trailing silence."""
    if ESPEAK is None:
        pytest.skip("espeak-ng is not installed (.ci/run installs it)")
    wav = subprocess.run(
        [ESPEAK, "-v", voice, "-s", str(speed), "--stdout", text], check=True, capture_output=True
    ).stdout
    resampler = av.AudioResampler(format="flt", layout="mono", rate=rate)
    pieces = []
    with av.open(io.BytesIO(wav)) as container:
        for frame in container.decode(audio=0):
            pieces += [out.to_ndarray().reshape(-1) for out in resampler.resample(frame)]
    pieces += [out.to_ndarray().reshape(-1) for out in resampler.resample(None)]
    audio = np.concatenate(pieces).astype(np.float32)
    loud = np.flatnonzero(np.abs(audio) > 0.01)
    return audio[loud[0] : loud[-1] + 1]


def words(text: str) -> list[str]:
    return re.sub(r"[^a-z0-9' ]", " ", text.lower().replace("-", " ")).split()


def share_heard(said: str, heard: str) -> float:
    """The share of the words of ``said`` that are in ``heard``."""
    expected, got = words(said), set(words(heard))
    return sum(word in got for word in expected) / len(expected)
