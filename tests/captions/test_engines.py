"""The speech engines on speech made here with espeak-ng, the pinned model check, and the captioner's
partial and final lines."""

import itertools
import shutil

import numpy as np
import pytest
from django.core.management import CommandError, call_command

from rooms.audio.captioner import Captioner
from rooms.audio.speech import (
    SAMPLE_RATE,
    WHISPER_MODEL_FILES,
    EngineError,
    PocketSphinxEngine,
    Resampler16k,
    WhisperEngine,
    make_engine,
    shared_engine,
    whisper_model_dir,
    words_text,
)

from .speech import SENTENCES, VOICES, espeak, share_heard


@pytest.fixture(scope="module")
def whisper():
    return shared_engine("whisper")


@pytest.mark.parametrize("voice", VOICES)
def test_whisper_hears_what_espeak_says_with_word_times(whisper, voice):
    sentence = SENTENCES[1]
    audio = espeak(sentence, voice=voice, rate=SAMPLE_RATE)
    words = whisper.transcribe(audio)
    assert share_heard(sentence, words_text(words)) >= 0.8, words_text(words)
    starts = [w.start for w in words]
    assert starts == sorted(starts) and all(w.end >= w.start for w in words)
    assert 0 <= words[0].start < 0.6 and abs(words[-1].end - len(audio) / SAMPLE_RATE) < 0.8


def test_whisper_finds_no_words_in_silence(whisper):
    assert whisper.transcribe(np.zeros(2 * SAMPLE_RATE, np.float32)) == []


def test_one_batch_hears_each_speaker_as_alone_and_times_only_the_finals(whisper):
    """Several speakers' stretches in one pass (the captioner's batch): each answer is the one that
    stretch gets alone, in order, silence stays empty, and a stretch asked without timings (a partial)
    gets its text only."""
    first, second = (
        espeak(text, voice=voice, rate=SAMPLE_RATE) for text, voice in zip(SENTENCES[:2], VOICES, strict=True)
    )
    silence = np.zeros(SAMPLE_RATE, np.float32)
    answers = whisper.transcribe_many([first, silence, second], timings=[True, True, False])
    assert [words_text(a) for a in answers] == [
        words_text(whisper.transcribe(first)),
        "",
        words_text(whisper.transcribe(second, timings=False)),
    ]
    assert share_heard(SENTENCES[0], words_text(answers[0])) >= 0.8
    assert share_heard(SENTENCES[1], words_text(answers[2])) >= 0.8
    assert len({w.start for w in answers[0]}) > 1, "a final's words have their own times"
    assert {(w.start, w.end) for w in answers[2]} == {(0.0, round(len(second) / SAMPLE_RATE, 2))}


def test_pocketsphinx_is_offered_behind_the_same_interface():
    engine = make_engine("pocketsphinx")
    assert isinstance(engine, PocketSphinxEngine) and "low accuracy" in engine.label
    sentence = SENTENCES[2]
    words = engine.transcribe(espeak(sentence, rate=SAMPLE_RATE))
    assert words and share_heard(sentence, words_text(words)) >= 0.3, words_text(words)
    assert all(w.end >= w.start for w in words)


@pytest.fixture
def tampered_model(tmp_path):
    """A copy of the model directory in which one file is not what was pinned."""
    source = whisper_model_dir()
    for name in WHISPER_MODEL_FILES:
        (tmp_path / name).symlink_to(source / name)
    (tmp_path / "config.json").unlink()
    text = (source / "config.json").read_text()
    (tmp_path / "config.json").write_text(text.replace('"suppress_ids"', '"suppress_ids" ', 1) + " ")
    return tmp_path


def test_a_model_that_is_not_the_pinned_one_is_refused(tampered_model):
    with pytest.raises(EngineError, match="Refusing to load the captions model") as refused:
        WhisperEngine(tampered_model)
    assert "config.json" in str(refused.value) and "SHA-256" in str(refused.value)


def test_run_captioner_refuses_to_start_with_a_tampered_model(tampered_model, settings):
    settings.REDIS_URL = settings.REDIS_URL or "redis://127.0.0.1:1/0"  # checked before anything runs
    settings.CAPTIONS_ENGINE = "whisper"
    settings.CAPTIONS_MODEL_DIR = str(tampered_model)
    with pytest.raises(CommandError, match="Refusing to load the captions model"):
        call_command("run_captioner")


def test_a_missing_model_file_is_refused(tmp_path):
    source = whisper_model_dir()
    for name in ("model.bin", "tokenizer.json"):
        (tmp_path / name).symlink_to(source / name)
    with pytest.raises(EngineError, match="config.json is missing"):
        WhisperEngine(tmp_path)


def test_an_unknown_engine_name_is_explained():
    with pytest.raises(EngineError, match="Unknown captions engine"):
        make_engine("nonsense")


def test_resampling_keeps_speech_and_removes_what_16khz_cannot_carry():
    t = np.arange(48_000) / 48_000
    low, high = np.sin(2 * np.pi * 440 * t), np.sin(2 * np.pi * 12_000 * t)
    resampler = Resampler16k()
    out = np.concatenate(
        [resampler.process(chunk) for chunk in np.split((low + high).astype(np.float32), 50)]
    )
    assert abs(len(out) - 16_000) <= 1
    spectrum = np.abs(np.fft.rfft(out[100:16_000] * np.hanning(15_900)))
    freqs = np.fft.rfftfreq(15_900, 1 / 16_000)
    assert (
        spectrum[np.abs(freqs - 440) < 5].max() > 50 * spectrum[np.abs(freqs - 4_000) < 5].max()
    )  # 12 kHz aliases to 4 kHz


def test_the_captioner_sends_partials_that_refine_one_line_then_the_final(whisper):
    lines = []
    captioner = Captioner(whisper, on_caption=lines.append)
    sentence = SENTENCES[0]
    audio = np.concatenate([espeak(sentence, rate=SAMPLE_RATE), np.zeros(SAMPLE_RATE, np.float32)])
    for offset in range(0, len(audio), 1600):  # 100 ms pieces, as the mixer sends them
        captioner.push(3, 42, 1000.0 + offset / 16, audio[offset : offset + 1600])
        # The worker's turn once a second, as it would get in real time.
        if offset % 16_000 == 14_400:
            captioner.run_once(0)
    while captioner.run_once(0):
        pass
    finals = [line for line in lines if line.final]
    partials = [line for line in lines if not line.final]
    assert len(finals) == 1 and finals[0].user_id == 42 and finals[0].room_id == 3
    assert share_heard(sentence, finals[0].text) >= 0.8, finals[0].text
    assert partials and {p.utterance for p in partials} == {finals[0].utterance}
    assert 1000 <= finals[0].start_ms < 1600 and finals[0].end_ms <= 1000 + len(audio) / 16


def test_two_speakers_get_separate_lines(whisper):
    lines = []
    captioner = Captioner(whisper, on_caption=lines.append)
    first, second = (
        espeak(text, voice=voice, rate=SAMPLE_RATE) for text, voice in zip(SENTENCES[:2], VOICES, strict=True)
    )
    pause = np.zeros(SAMPLE_RATE, np.float32)
    for user, audio in ((1, np.concatenate([first, pause])), (2, np.concatenate([second, pause]))):
        for offset in range(0, len(audio), 1600):
            captioner.push(9, user, offset / 16, audio[offset : offset + 1600])
    while captioner.run_once(0):
        pass
    finals = {line.user_id: line.text for line in lines if line.final}
    assert share_heard(SENTENCES[0], finals[1]) >= 0.8 and share_heard(SENTENCES[1], finals[2]) >= 0.8
    # Both finals were waiting together: they went through the recognizer in one pass.
    assert captioner.stats["passes"] == 1 and captioner.stats["finals"] == 2


def test_a_partial_line_is_recognized_once_per_two_seconds_of_speech(whisper):
    """Fed in real-time order with the recognizer free after every piece, a speaker's line is
    recognized again only every ``partial_every_s`` of speech, and the final still hears it all."""
    lines = []
    captioner = Captioner(whisper, on_caption=lines.append, partial_every_s=2.0)
    speech = np.concatenate([espeak(SENTENCES[0], rate=SAMPLE_RATE), espeak(SENTENCES[2], rate=SAMPLE_RATE)])
    audio = np.concatenate([speech, np.zeros(SAMPLE_RATE, np.float32)])
    heard_at = []
    for offset in range(0, len(audio), 1600):
        captioner.push(3, 42, offset / 16, audio[offset : offset + 1600])
        before = captioner.stats["partials"]
        captioner.run_once(0)
        if captioner.stats["partials"] > before:
            heard_at.append((offset + 1600) / SAMPLE_RATE)
    while captioner.run_once(0):
        pass
    seconds = len(speech) / SAMPLE_RATE
    # One partial per two seconds; one more if the last mark fell just after the speech stopped.
    assert int(seconds // 2) <= len(heard_at) <= int(seconds // 2) + 1, (heard_at, seconds)
    assert all(later - earlier >= 1.9 for earlier, later in itertools.pairwise(heard_at))
    finals = [line for line in lines if line.final]
    assert len(finals) == 1 and share_heard(SENTENCES[0] + " " + SENTENCES[2], finals[0].text) >= 0.7


def test_copying_the_model_elsewhere_keeps_it_trusted(tmp_path, whisper):
    for name in WHISPER_MODEL_FILES:
        shutil.copy(whisper_model_dir() / name, tmp_path / name)
    shutil.copy(whisper_model_dir() / "vocabulary.txt", tmp_path / "vocabulary.txt")
    assert isinstance(make_engine("whisper", model_dir=tmp_path), WhisperEngine)
