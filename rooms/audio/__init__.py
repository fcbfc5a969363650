"""Live audio: the wire format, the room mixer and its codecs. Nothing here imports Django."""
