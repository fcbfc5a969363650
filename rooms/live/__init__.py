"""The live machinery of rooms, between the sockets and the audio core (rooms/audio/).

- ``lease``: the Redis leases through which mixer and captioner processes share rooms;
- ``mode``: whether those run in processes of their own or in the web process.
"""
