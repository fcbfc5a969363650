"""Every non-trivial read of the recordings app, one module per sub-domain:

- ``replays``: who may listen to a replay (one rule), the lists of replays, the replay page's reads;
- ``transcripts``: a replay's lines, captions and chapters, the search of what was said;
- ``clips``: who may see a clip (the replay's rule), a replay's clips;
- ``podcast``: a host's feed and its episodes.

The public names of each are re-exported here, so ``recordings.selectors.<name>`` works for all of them.
"""

from .clips import (
    clip_captions_withdrawn,
    clip_get_for_viewer,
    clip_may_delete,
    clip_prefixes_of,
    clip_status_payload,
    clips_for_export,
    clips_of_recording,
)
from .podcast import ShowNotes, podcast_episode_get, podcast_episodes, podcast_refusal, podcast_show_notes
from .replays import (
    FOLLOWED_REPLAYS_WITHIN,
    AskedQuestion,
    Step,
    Turn,
    clock,
    recording_get_for_host,
    recording_get_for_listener,
    recording_of_room,
    recording_progress,
    recording_questions,
    recording_refusal_for_anyone,
    recording_speakers,
    recording_status_payload,
    recording_transcribe_progress,
    recording_turns,
    replays_anyone_may_play,
    replays_for_home,
    replays_of_user,
    replays_visible_to,
    transcribe_progress_key,
)
from .transcripts import (
    SpokenMatch,
    transcript_chapters,
    transcript_chapters_vtt,
    transcript_lines,
    transcript_of,
    transcript_search,
    transcript_vtt,
    transcripts_for_export,
)

__all__ = [
    "FOLLOWED_REPLAYS_WITHIN",
    "AskedQuestion",
    "ShowNotes",
    "SpokenMatch",
    "Step",
    "Turn",
    "clip_captions_withdrawn",
    "clip_prefixes_of",
    "clip_get_for_viewer",
    "clip_may_delete",
    "clip_status_payload",
    "clips_for_export",
    "clips_of_recording",
    "clock",
    "podcast_episode_get",
    "podcast_episodes",
    "podcast_refusal",
    "podcast_show_notes",
    "recording_get_for_host",
    "recording_get_for_listener",
    "recording_of_room",
    "recording_progress",
    "recording_questions",
    "recording_refusal_for_anyone",
    "recording_speakers",
    "recording_status_payload",
    "recording_transcribe_progress",
    "recording_turns",
    "replays_anyone_may_play",
    "replays_for_home",
    "replays_of_user",
    "replays_visible_to",
    "transcribe_progress_key",
    "transcript_chapters",
    "transcript_chapters_vtt",
    "transcript_lines",
    "transcript_of",
    "transcript_search",
    "transcript_vtt",
    "transcripts_for_export",
]
