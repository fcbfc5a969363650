from django.urls import path

from . import clip_views

app_name = "podcast"
urlpatterns = [
    path("@<str:handle>/podcast.rss", clip_views.podcast_feed, name="feed"),
    path("@<str:handle>/podcast.jpg", clip_views.podcast_image, name="image"),
    path("podcast/episodes/<int:pk>.m4a", clip_views.podcast_audio, name="audio"),
    path("podcast/episodes/<int:pk>.jpg", clip_views.podcast_cover, name="cover"),
    path("podcast/episodes/<int:pk>/publish/", clip_views.podcast_publish, name="publish"),
]
