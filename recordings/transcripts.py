"""Transcripts of recordings: placing live captions in the replay, recognizing a recording, WebVTT.
No Django here: the services pass plain values in and store what comes out.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np

from rooms.audio.speech import SAMPLE_RATE, Engine, words_text

# A recognized stretch is at most this long: a caption line someone can read in one go.
MAX_LINE_S = 12.0


@dataclass
class Line:
    start_ms: int
    end_ms: int
    text: str
    speaker_id: int | None = None
    speaker_name: str = ""


def place_live_line(
    wall_start_ms: float, wall_end_ms: float, segment_times: list, duration_ms: int
) -> tuple[int, int]:
    """Turn a live caption's wall-clock times into replay times, within the replay.

    ``segment_times`` is [[wall-clock start ms, replay offset ms, length ms], ...] of the capture's
    segments (a mixer that took the room over after a crash started a new one). A time between two
    segments goes to the start of the next one.
    """

    def place(wall_ms: float) -> int:
        at = 0.0
        for started_ms, offset_ms, length_ms in segment_times:
            if wall_ms < started_ms:
                at = offset_ms
                break
            at = offset_ms + min(wall_ms - started_ms, length_ms)
        return int(max(0, min(duration_ms, round(at))))

    start = place(wall_start_ms)
    return start, max(start, place(wall_end_ms))


def decode_16k(path: Path) -> np.ndarray:
    """The whole recording (any format FFmpeg reads) as 16 kHz mono float."""
    pieces = []
    with av.open(str(path)) as container:
        resampler = av.AudioResampler(format="flt", layout="mono", rate=SAMPLE_RATE)
        for frame in container.decode(audio=0):
            pieces += [out.to_ndarray().reshape(-1) for out in resampler.resample(frame)]
        pieces += [out.to_ndarray().reshape(-1) for out in resampler.resample(None)]
    return np.concatenate(pieces).astype(np.float32) if pieces else np.zeros(0, np.float32)


def speech_stretches(audio: np.ndarray) -> list[tuple[int, int]]:
    """Where there is speech, as (start, end) sample indexes, cut at pauses and at MAX_LINE_S."""
    # Imported here, not at the top: faster_whisper loads its inference libraries (about 0.8 s), which
    # only the worker that recognizes a recording needs, not every web process that imports this module.
    from faster_whisper.vad import VadOptions, get_speech_timestamps  # noqa: PLC0415 (see above)

    options = VadOptions(min_silence_duration_ms=500, max_speech_duration_s=MAX_LINE_S, speech_pad_ms=200)
    return [(s["start"], s["end"]) for s in get_speech_timestamps(audio, options)]


def speaker_at(turns: list, start_ms: int, end_ms: int) -> int | None:
    """The voice heard most between ``start_ms`` and ``end_ms`` (turns: [[user, start, end], ...])."""
    overlap: dict[int, int] = {}
    for user, turn_start, turn_end in turns:
        shared = min(end_ms, turn_end) - max(start_ms, turn_start)
        if shared > 0:
            overlap[user] = overlap.get(user, 0) + shared
    return max(overlap, key=overlap.get) if overlap else None


def recognize(audio: np.ndarray, engine: Engine, turns: list, progress=None) -> list[Line]:
    """Recognize a whole recording (16 kHz), line by line, each line given to the voice heard most."""
    lines = []
    stretches = speech_stretches(audio)
    for number, (start, end) in enumerate(stretches):
        words = engine.transcribe(audio[start:end])
        if words:
            start_ms = int(start * 1000 / SAMPLE_RATE + words[0].start * 1000)
            end_ms = max(start_ms, int(start * 1000 / SAMPLE_RATE + words[-1].end * 1000))
            lines.append(Line(start_ms, end_ms, words_text(words), speaker_at(turns, start_ms, end_ms)))
        if progress is not None:
            progress(number + 1, len(stretches))
    return lines


def vtt_time(ms: int) -> str:
    hours, rest = divmod(int(ms), 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    seconds, millis = divmod(rest, 1000)
    return f"{hours:02d}:{minutes:02d}:{seconds:02d}.{millis:03d}"


def _vtt_escape(text: str) -> str:
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    # "-->" may not appear in a cue's text; blank lines would end the cue.
    return re.sub(r"\s+", " ", text.replace("-->", "->")).strip()


def build_vtt(lines: list[Line], duration_ms: int) -> str:
    """A WebVTT file of ``lines``, each a cue with the speaker's voice tag, within the replay."""
    out = ["WEBVTT", ""]
    for number, line in enumerate(lines, start=1):
        start = max(0, min(line.start_ms, duration_ms))
        end = (
            max(start + 1, min(max(line.end_ms, start + 500), duration_ms)) if duration_ms > start else start
        )
        if end <= start:
            continue
        voice = _vtt_escape(line.speaker_name or "Someone")
        out += [
            str(number),
            f"{vtt_time(start)} --> {vtt_time(end)}",
            f"<v {voice}>{_vtt_escape(line.text)}",
            "",
        ]
    return "\n".join(out)


@dataclass
class Chapter:
    start_ms: int
    speaker_name: str
    preview: str


def chapters(lines: list[Line]) -> list[Chapter]:
    """One chapter each time the speaker changes, opening with their first words."""
    out: list[Chapter] = []
    previous = object()
    for line in lines:
        who = line.speaker_id if line.speaker_id is not None else line.speaker_name
        if who != previous:
            words = line.text.split()
            preview = " ".join(words[:8]) + ("…" if len(words) > 8 else "")
            out.append(Chapter(line.start_ms, line.speaker_name or "Someone", preview))
            previous = who
    return out


def build_chapters_vtt(items: list[Chapter], duration_ms: int) -> str:
    out = ["WEBVTT", ""]
    for number, chapter in enumerate(items):
        end = items[number + 1].start_ms if number + 1 < len(items) else duration_ms
        if end <= chapter.start_ms:
            continue
        out += [
            str(number + 1),
            f"{vtt_time(chapter.start_ms)} --> {vtt_time(end)}",
            _vtt_escape(chapter.speaker_name),
            "",
        ]
    return "\n".join(out)
