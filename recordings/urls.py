from django.urls import path

from . import views

app_name = "recordings"
urlpatterns = [
    path("<int:pk>/", views.recording_detail, name="detail"),
    path("<int:pk>/status/", views.recording_status, name="status"),
    path("<int:pk>/audio/", views.recording_stream, name="stream"),
    path("<int:pk>/cover.jpg", views.recording_cover, name="cover"),
    path("<int:pk>/waveform.png", views.recording_waveform, name="waveform"),
    path("<int:pk>/play/", views.recording_play, name="play"),
    path("<int:pk>/download/", views.recording_download, name="download"),
    path("<int:pk>/delete/", views.recording_delete, name="delete"),
    path("<int:pk>/captions.vtt", views.recording_captions, name="captions"),
    path("<int:pk>/chapters.vtt", views.recording_chapters, name="chapters"),
    path("<int:pk>/transcript/lines/<int:line_id>/", views.transcript_line_edit, name="transcript_line"),
    path("<int:pk>/transcript/delete/", views.transcript_delete, name="transcript_delete"),
]
