"""Moved: reads about clips are in recordings/selectors/clips.py, the podcast's in selectors/podcast.py,
all re-exported by recordings.selectors. This module goes once accounts/services.py imports from there."""

from .selectors import (  # noqa: F401
    clip_captions_withdrawn,
    clip_directories_of,
    clip_get_for_viewer,
    clip_may_delete,
    clip_status_payload,
    clips_for_export,
    clips_of_recording,
    podcast_episode_get,
    podcast_episodes,
    podcast_refusal,
    podcast_show_notes,
)
