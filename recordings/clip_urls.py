from django.urls import path

from . import clip_views

app_name = "clips"
urlpatterns = [
    path("<int:pk>/", clip_views.clip_detail, name="detail"),
    path("<int:pk>/status/", clip_views.clip_status, name="status"),
    path("<int:pk>/audio.ogg", clip_views.clip_audio, name="audio"),
    path("<int:pk>/waveform.png", clip_views.clip_waveform, name="waveform"),
    path("<int:pk>/embed/", clip_views.clip_embed, name="embed"),
    path("<int:pk>/delete/", clip_views.clip_delete, name="delete"),
    path("new/replay/<int:pk>/", clip_views.clip_create_from_replay, name="create_from_replay"),
    path("new/live/<int:pk>/", clip_views.clip_create_live, name="create_live"),
    path("clipping/<int:pk>/", clip_views.recording_clipping, name="clipping"),
]
