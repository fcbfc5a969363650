"""The recordings app's pages and endpoints, one module per sub-domain, as its services and selectors:
``replays`` (recordings/urls.py, ``/recordings/…``), ``clips`` (clip_urls.py, ``/clips/…``) and
``podcast`` (podcast_urls.py: ``/@<handle>/podcast.rss`` and ``/podcast/…``); and ``profiles``, a
person's page ``/@<handle>/`` (their rooms and replays), routed with accounts' pages."""
