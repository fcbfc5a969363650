from django.urls import path

from .views import analytics, replays

app_name = "recordings"
urlpatterns = [
    path("<int:pk>/", replays.recording_detail, name="detail"),
    path("<int:pk>/status/", replays.recording_status, name="status"),
    path("<int:pk>/audio/", replays.recording_stream, name="stream"),
    path("<int:pk>/cover.jpg", replays.recording_cover, name="cover"),
    path("<int:pk>/waveform.png", replays.recording_waveform, name="waveform"),
    path("<int:pk>/play/", replays.recording_play, name="play"),
    path("<int:pk>/listened/", analytics.replay_listened, name="listened"),
    path("<int:pk>/download/", replays.recording_download, name="download"),
    path("<int:pk>/delete/", replays.recording_delete, name="delete"),
    path("<int:pk>/captions.vtt", replays.recording_captions, name="captions"),
    path("<int:pk>/chapters.vtt", replays.recording_chapters, name="chapters"),
    path("<int:pk>/transcript/lines/<int:line_id>/", replays.transcript_line_edit, name="transcript_line"),
    path("<int:pk>/transcript/delete/", replays.transcript_delete, name="transcript_delete"),
]
