"""The recordings app's pages and endpoints, one module per sub-domain, as its services and selectors:
``replays`` (recordings/urls.py, ``/recordings/…``), ``clips`` (clip_urls.py, ``/clips/…``) and
``podcast`` (podcast_urls.py: ``/@<handle>/podcast.rss`` and ``/podcast/…``); ``profiles``, a
person's page ``/@<handle>/`` (their rooms and replays), routed with accounts' pages; and
``room_pages``, the pages of rooms that show replays too (home, search, a room's page), routed with
rooms' pages (spaces_project/urls.py)."""
