from django.urls import path

from .views import analytics, clips

app_name = "clips"
urlpatterns = [
    path("<int:pk>/", clips.clip_detail, name="detail"),
    path("<int:pk>/status/", clips.clip_status, name="status"),
    path("<int:pk>/audio.ogg", clips.clip_audio, name="audio"),
    path("<int:pk>/play/", analytics.clip_play, name="play"),
    path("<int:pk>/waveform.png", clips.clip_waveform, name="waveform"),
    path("<int:pk>/embed/", clips.clip_embed, name="embed"),
    path("<int:pk>/embed/play/", analytics.clip_embed_play, name="embed_play"),
    path("<int:pk>/delete/", clips.clip_delete, name="delete"),
    path("new/replay/<int:pk>/", clips.clip_create_from_replay, name="create_from_replay"),
    path("new/live/<int:pk>/", clips.clip_create_live, name="create_live"),
    path("clipping/<int:pk>/", clips.recording_clipping, name="clipping"),
]
