"""Live captions: accuracy, latency and CPU of the recognizer, fed at real-time pace as the live path is.

A fixed set of sentences is spoken by espeak-ng in two voices (alternating), resampled to 16 kHz and
pushed into the same `Captioner` the `run_captioner` process runs, in 100 ms pieces at real-time
pace with a pause after each sentence, exactly as the mixer's voice tap delivers them. Measured:

* word error rate of the final lines against the sentences (case and punctuation ignored);
* final latency: from the end of a sentence's audio (when its last piece was pushed) to its final
  line;
* CPU seconds of this process (the recognizer's one thread, VAD and feeding) over the seconds of
  audio fed, as a percentage of one core for the one speaking speaker. CPU time, not wall time, so a
  busy machine slows it little; the 1-minute load average before and after is printed beside it.

    python bench/captions.py                   # both engines; the last line is the default's
    python bench/captions.py --engine pocketsphinx
    python bench/captions.py --engine whisper --partial-every 1   # the cadence before issue 27
    python bench/captions.py --engine whisper --speakers 4        # four talking at once, staggered

With ``--speakers N`` each speaker says the sentences in its own order and voice, starting
STAGGER_S after the one before, all into one Captioner: what is waiting together goes through the
recognizer in one batch, and the CPU is divided by the speakers' seconds of audio.

Needs espeak-ng (`apt-get install espeak-ng`). Targets: WER <= 0.15, p95 <= 2000 ms, <= 10 % of a core.
"""

import os

# As manage.py starts run_captioner (before numpy is imported): one BLAS thread, not one per core
# spinning beside the recognizer's.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse  # noqa: E402
import io  # noqa: E402
import json  # noqa: E402
import re  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import av  # noqa: E402
import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rooms.audio.captioner import PARTIAL_EVERY_S, Caption, Captioner  # noqa: E402
from rooms.audio.speech import SAMPLE_RATE, make_engine  # noqa: E402

SENTENCES = [
    "The quick brown fox jumps over the lazy dog.",
    "Please remember to bring your umbrella this afternoon.",
    "We will meet at the library after lunch on Tuesday.",
    "The weather today is sunny with a light breeze.",
    "My favorite book is about a journey across the ocean.",
    "Turn off the lights when you leave the room.",
    "She bought fresh bread and cheese at the market.",
    "The train to the city leaves early in the morning.",
    "Our team finished the project two days early.",
    "Can you tell me the way to the nearest station?",
    "The children played in the park until sunset.",
    "He plays the piano every evening after dinner.",
    "I would like a cup of coffee with milk please.",
    "The museum is closed on Mondays and holidays.",
    "They planted tomatoes and beans in the garden.",
    "The new phone has a bigger screen and a better camera.",
    "Thank you all for joining this conversation tonight.",
    "The meeting has been moved to next Thursday.",
    "Birds fly south for the winter every year.",
    "Let us talk about the future of open source software.",
    "Welcome everyone to our weekly book club.",
    "Please raise your hand if you want to speak.",
]
VOICES = ["en-us", "en-gb-x-rp+m2"]
SPEED = 140  # words a minute: a calm speaker
PAUSE_S = 1.5
PIECE_S = 0.1
STAGGER_S = 0.7  # with --speakers N, speaker k starts k x this later


def speak(text: str, voice: str) -> np.ndarray:
    """espeak-ng's speech for ``text`` as 16 kHz mono float, leading and trailing silence trimmed."""
    wav = subprocess.run(
        ["espeak-ng", "-v", voice, "-s", str(SPEED), "--stdout", text], check=True, capture_output=True
    ).stdout
    container = av.open(io.BytesIO(wav))
    resampler = av.AudioResampler(format="flt", layout="mono", rate=SAMPLE_RATE)
    pieces = []
    for frame in container.decode(audio=0):
        pieces += [out.to_ndarray().reshape(-1) for out in resampler.resample(frame)]
    pieces += [out.to_ndarray().reshape(-1) for out in resampler.resample(None)]
    audio = np.concatenate(pieces).astype(np.float32)
    loud = np.flatnonzero(np.abs(audio) > 0.01)
    return audio[loud[0] : loud[-1] + 1] if len(loud) else audio


def words_of(text: str) -> list[str]:
    return re.sub(r"[^a-z0-9' ]", " ", text.lower().replace("-", " ")).split()


def edit_distance(ref: list[str], hyp: list[str]) -> int:
    row = list(range(len(hyp) + 1))
    for i in range(1, len(ref) + 1):
        previous, row[0] = row[:], i
        for j in range(1, len(hyp) + 1):
            row[j] = min(previous[j] + 1, row[j - 1] + 1, previous[j - 1] + (ref[i - 1] != hyp[j - 1]))
    return row[len(hyp)]


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


def run(
    engine_name: str, sentences: list[str], verbose: bool, partial_every_s: float, speakers: int = 1
) -> dict:
    engine = make_engine(engine_name)
    engine.transcribe(np.zeros(SAMPLE_RATE, np.float32))  # warm up (first-call allocations)
    # Speaker k says the sentences from the k-th on, each in the voice after k's, and starts k x
    # STAGGER_S later: what each says differs, and their pauses fall at different moments.
    scripts = [
        [(sentences[(i + k) % len(sentences)], VOICES[(i + k) % len(VOICES)]) for i in range(len(sentences))]
        for k in range(speakers)
    ]
    spoken = {line: speak(*line) for line in {line for script in scripts for line in script}}
    pause = np.zeros(int(PAUSE_S * SAMPLE_RATE), np.float32)
    streams, marks = [], []  # per speaker: its audio; (text, first sample, end of speech) of each sentence
    for k, script in enumerate(scripts):
        parts, here, mine = [np.zeros(int(k * STAGGER_S * SAMPLE_RATE), np.float32)], 0, []
        here = len(parts[0])
        for line in script:
            mine.append((line, here, here + len(spoken[line])))
            parts += [spoken[line], pause]
            here += len(spoken[line]) + len(pause)
        streams.append(np.concatenate(parts))
        marks.append(mine)
    finals: list[tuple[float, Caption]] = []
    lock = threading.Lock()

    def on_caption(caption: Caption) -> None:
        if caption.final:
            with lock:
                finals.append((time.time(), caption))

    captioner = Captioner(engine, on_caption=on_caption, partial_every_s=partial_every_s)
    stop = threading.Event()
    worker = threading.Thread(target=captioner.run_forever, args=(stop,), daemon=True)
    worker.start()
    piece = int(PIECE_S * SAMPLE_RATE)
    ended_ms: dict[tuple[int, int], float] = {}  # (speaker, sentence): wall ms its last piece was pushed
    cpu_start, load_start = time.process_time(), os.getloadavg()[0]
    clock, start_ms = time.monotonic(), time.time() * 1000
    for offset in range(0, max(map(len, streams)), piece):
        for k, stream in enumerate(streams):
            chunk = stream[offset : offset + piece]
            if len(chunk):
                captioner.push(1, 7 + k, start_ms + offset * 1000 / SAMPLE_RATE, chunk)
            for j, (_, _, speech_end) in enumerate(marks[k]):
                if offset < speech_end <= offset + piece:
                    ended_ms[(k, j)] = time.time() * 1000
        clock += piece / SAMPLE_RATE
        time.sleep(max(0.0, clock - time.monotonic()))
    time.sleep(3.0)  # let the last final come
    stop.set()
    worker.join()
    cpu = time.process_time() - cpu_start
    speaker_s = sum(map(len, streams)) / SAMPLE_RATE

    errors = total = 0
    latencies = []
    for k in range(speakers):
        for j, ((text, voice), first, _) in enumerate(marks[k]):
            first_ms = start_ms + first * 1000 / SAMPLE_RATE
            next_ms = (
                start_ms + marks[k][j + 1][1] * 1000 / SAMPLE_RATE if j + 1 < len(marks[k]) else float("inf")
            )
            mine = [
                (at, c)
                for at, c in finals
                if c.user_id == 7 + k and first_ms - 500 <= c.start_ms < next_ms - 500 and not c.skipped
            ]
            heard = " ".join(c.text for _, c in mine)
            ref = words_of(text)
            errors += edit_distance(ref, words_of(heard))
            total += len(ref)
            if mine:
                latencies.append(max(at for at, _ in mine) * 1000 - ended_ms[(k, j)])
            if verbose:
                print(f"  {k} {voice:>14}: {text!r} -> {heard!r}", file=sys.stderr)
    return {
        "engine": engine_name,
        "wer": round(errors / total, 3),
        "final_latency_p50_ms": round(percentile(latencies, 50)),
        "final_latency_p95_ms": round(percentile(latencies, 95)),
        "cpu_pct_per_speaker": round(100 * cpu / speaker_s, 1),
        "speakers": speakers,
        "audio_s": round(speaker_s, 1),
        "partial_every_s": partial_every_s,
        "partials": captioner.stats["partials"],
        "passes": captioner.stats["passes"],
        "sentences": len(sentences) * speakers,
        "finals_missing": len(sentences) * speakers - len(latencies),
        "skipped": captioner.stats["skipped"],
        "voices": VOICES,
        "load_avg_1min": [round(load_start, 2), round(os.getloadavg()[0], 2)],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--engine", choices=["whisper", "pocketsphinx", "both"], default="both")
    parser.add_argument("--sentences", type=int, default=len(SENTENCES))
    parser.add_argument(
        "--partial-every", type=float, default=PARTIAL_EVERY_S, help="seconds of speech between partials"
    )
    parser.add_argument(
        "--speakers",
        type=int,
        default=1,
        help="speakers talking at once (their lines share the recognizer's passes)",
    )
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    sentences = SENTENCES[: args.sentences]
    engines = ["pocketsphinx", "whisper"] if args.engine == "both" else [args.engine]
    for name in engines:
        print(json.dumps(run(name, sentences, args.verbose, args.partial_every, args.speakers)), flush=True)


if __name__ == "__main__":
    main()
