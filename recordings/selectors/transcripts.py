"""Reads about transcripts: a replay's lines, its captions and chapters as WebVTT, the search of
what was said, and a person's lines for their data export. Only published transcripts of replays the
viewer may play (selectors.replays) are read."""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib.postgres.search import SearchHeadline, SearchQuery, SearchRank, SearchVector
from django.db import connection
from django.utils.html import escape

from accounts.models import User
from rooms.models import Question

from .. import transcripts
from ..models import Recording, Transcript, TranscriptLine
from .replays import clock, question_replay_ms, replays_visible_to


def transcript_of(*, recording: Recording) -> Transcript | None:
    """The replay's transcript, once it is ready (None while it is made, or after it was deleted)."""
    return Transcript.objects.filter(recording=recording, status=Transcript.Status.READY).first()


def transcript_lines(*, transcript: Transcript) -> list[TranscriptLine]:
    return list(transcript.lines.all())


def _as_lines(lines: list[TranscriptLine]) -> list[transcripts.Line]:
    return [
        transcripts.Line(
            line.start_ms, line.end_ms, line.text, line.speaker_id, line.speaker_name or "Someone"
        )
        for line in lines
    ]


def transcript_vtt(*, recording: Recording) -> str | None:
    """The replay's captions as WebVTT (one cue per line, with the speaker's voice tag)."""
    transcript = transcript_of(recording=recording)
    if transcript is None:
        return None
    return transcripts.build_vtt(_as_lines(transcript_lines(transcript=transcript)), recording.duration_ms)


def transcript_chapters(*, lines: list[TranscriptLine]) -> list[transcripts.Chapter]:
    """One chapter per change of speaker."""
    return transcripts.chapters(_as_lines(lines))


def transcript_chapters_vtt(*, recording: Recording) -> str | None:
    transcript = transcript_of(recording=recording)
    if transcript is None:
        return None
    items = transcript_chapters(lines=transcript_lines(transcript=transcript))
    return transcripts.build_chapters_vtt(items, recording.duration_ms)


@dataclass
class SpokenMatch:
    recording_id: int
    room_title: str
    host_name: str
    speaker_name: str
    start_ms: int
    text: str
    snippet: str  # HTML from PostgreSQL's ts_headline (marks escaped), or plain text

    @property
    def start_label(self) -> str:
        return clock(self.start_ms)

    @property
    def start_s(self) -> int:
        return self.start_ms // 1000


def transcript_search(*, query: str, viewer, limit: int = 20) -> list[SpokenMatch]:
    """Lines of published transcripts that say `query`, and questions of the Q&A queue answered in
    those replays that ask it, best first, in replays `viewer` may play. A question's match starts
    where it was taken up.

    PostgreSQL: full-text search (English stemming; "websearch" syntax, so quotes and -words work),
    ranked, with the matching words marked. Elsewhere (SQLite): every word must appear in the line.
    """
    query = " ".join(query.split())[:200]
    if not query:
        return []
    ranked = _spoken_matches(query, viewer, limit) + _question_matches(query, viewer, limit)
    ranked.sort(key=lambda pair: -pair[0])  # stable: equal ranks keep each list's own order
    return [match for _, match in ranked[:limit]]


def _full_text(rows, query: str, *, limit: int, order: tuple[str, ...]):
    """`rows` whose `text` matches `query` (PostgreSQL's full-text search, see transcript_search),
    each with its `rank` and `snippet` (escaped HTML, the matching words in <b>)."""
    search = SearchQuery(query, config="english", search_type="websearch")
    vector = SearchVector("text", config="english")
    found = (
        rows.annotate(rank=SearchRank(vector, search))
        .filter(rank__gt=0)
        .annotate(
            snippet=SearchHeadline(
                "text", search, config="english", start_sel="<b>", stop_sel="</b>", max_words=25, min_words=8
            )
        )
        .order_by("-rank", *order)[:limit]
    )
    # ts_headline does not escape the text: escape it, then restore our marks.
    for row in found:
        row.snippet = escape(row.snippet).replace("&lt;b&gt;", "<b>").replace("&lt;/b&gt;", "</b>")
        yield row


def _every_word(rows, query: str, *, limit: int, order: tuple[str, ...]):
    for word in query.split():
        rows = rows.filter(text__icontains=word.strip('"'))
    for row in rows.order_by(*order)[:limit]:
        row.rank, row.snippet = 0.0, escape(row.text)
        yield row


def _matching(rows, query: str, *, limit: int, order: tuple[str, ...]):
    find = _full_text if connection.vendor == "postgresql" else _every_word
    return find(rows, query, limit=limit, order=order)


def _question_matches(query: str, viewer, limit: int) -> list[tuple[float, SpokenMatch]]:
    """Questions answered in replays `viewer` may play whose text matches `query`."""
    visible = replays_visible_to(viewer=viewer).values("room_id")
    questions = (
        Question.objects.filter(room_id__in=visible, answered_at__isnull=False)
        .exclude(state__in=[Question.State.WITHDRAWN, Question.State.REMOVED])
        .select_related("asker")
    )
    found = list(_matching(questions, query, limit=limit, order=("-answered_at", "pk")))
    replays = {
        replay.room_id: replay
        for replay in Recording.objects.filter(room_id__in={q.room_id for q in found}).select_related(
            "room__host"
        )
    }
    matches = []
    for question in found:
        replay = replays[question.room_id]
        matches.append(
            (
                question.rank,
                SpokenMatch(
                    recording_id=replay.pk,
                    room_title=replay.room.title,
                    host_name=replay.room.host.name,
                    speaker_name=f"question from {question.asker.name}",
                    start_ms=question_replay_ms(question=question, recording=replay) or 0,
                    text=question.text,
                    snippet=question.snippet,
                ),
            )
        )
    return matches


def _spoken_matches(query: str, viewer, limit: int) -> list[tuple[float, SpokenMatch]]:
    lines = TranscriptLine.objects.filter(
        transcript__status=Transcript.Status.READY,
        transcript__recording__in=replays_visible_to(viewer=viewer),
    ).select_related("transcript__recording__room__host")
    order = ("-transcript__recording__published_at", "start_ms")
    return [
        (
            line.rank,
            SpokenMatch(
                recording_id=line.transcript.recording_id,
                room_title=line.transcript.recording.room.title,
                host_name=line.transcript.recording.room.host.name,
                speaker_name=line.speaker_name or "Someone",
                start_ms=line.start_ms,
                text=line.text,
                snippet=line.snippet,
            ),
        )
        for line in _matching(lines, query, limit=limit, order=order)
    ]


def transcripts_for_export(*, user: User) -> list[dict]:
    """Everything of `user` in transcripts, for their data export (issue: self-serve data export):
    the whole transcript of each replay they host, and each line they said in other people's replays.
    Deleted and removed transcripts are gone and not included."""
    out = []
    hosted = (
        Transcript.objects.filter(status=Transcript.Status.READY, recording__room__host=user)
        .select_related("recording__room")
        .order_by("recording__created_at")
    )
    for transcript in hosted:
        room = transcript.recording.room
        out.append(
            {
                "recording_id": transcript.recording_id,
                "room_title": room.title,
                "recorded_at": room.started_at.isoformat() if room.started_at else None,
                "role": "host",
                "source": transcript.source,
                "lines": [
                    {
                        "start_ms": line.start_ms,
                        "end_ms": line.end_ms,
                        "speaker": line.speaker_name,
                        "text": line.text,
                        "edited": line.edited_at is not None,
                    }
                    for line in transcript.lines.all()
                ],
            }
        )
    spoken = (
        TranscriptLine.objects.filter(speaker=user, transcript__status=Transcript.Status.READY)
        .exclude(transcript__recording__room__host=user)
        .select_related("transcript__recording__room")
        .order_by("transcript__recording_id", "start_ms")
    )
    by_recording: dict[int, dict] = {}
    for line in spoken:
        recording = line.transcript.recording
        entry = by_recording.get(recording.pk)
        if entry is None:
            entry = by_recording[recording.pk] = {
                "recording_id": recording.pk,
                "room_title": recording.room.title,
                "recorded_at": recording.room.started_at.isoformat() if recording.room.started_at else None,
                "role": "speaker",
                "source": line.transcript.source,
                "lines": [],
            }
            out.append(entry)
        entry["lines"].append(
            {
                "start_ms": line.start_ms,
                "end_ms": line.end_ms,
                "speaker": line.speaker_name,
                "text": line.text,
            }
        )
    return out
