from django.urls import path

from .views import podcast

app_name = "podcast"
urlpatterns = [
    path("@<str:handle>/podcast.rss", podcast.podcast_feed, name="feed"),
    path("@<str:handle>/podcast.jpg", podcast.podcast_image, name="image"),
    path("podcast/episodes/<int:pk>.m4a", podcast.podcast_audio, name="audio"),
    path("podcast/episodes/<int:pk>.jpg", podcast.podcast_cover, name="cover"),
    path("podcast/episodes/<int:pk>/publish/", podcast.podcast_publish, name="publish"),
]
