"""The live machinery of rooms, between the sockets (rooms/consumers.py) and the audio core (rooms/audio/).

- ``bus``: a room's events and audio, to every web process once each; ``presence``: who is in a room,
  kept with heartbeats; ``keeper``: the task that keeps a process's sockets present, and the audience's
  broadcast; ``snapshots``: a room's state read once for the many sockets that ask.
- ``mixing``: where room mixers run and how audio reaches them; ``runner``: one room's mixer on its
  20 ms clock, fed by the room's events (no Django); ``capture``: where and whether it records a
  room's program mix (for recordings to finalize); ``captions``: how voices reach the
  recognizer and where its lines go; ``lease``: the Redis leases through which mixer and captioner
  processes share rooms; ``mode``: whether those run in processes of their own or in the web process.
- ``hls`` and ``hls_renewal``: the mass audience's HLS files and the renewal of their signed URLs;
  ``seat_gate``: a sold-out ticket rush answered before Django.
"""
