"""How much audio waits for one socket that its reader has not taken: a reader that stops reading is
cut loose once more than ``MAX_WAITING_AUDIO_MS`` of audio wait for it. No Django here.

Sending never waits: daphne hands every frame to its transport (twisted), which keeps what the kernel
will not take yet in its own buffer. So a socket whose reader stalled costs the others nothing, but
its buffer grows without end. To see what waits, the transport's writes are counted as they are
handed over (``handed``); what the transport still holds (``pending``) is read from its buffer; the
bytes written to the kernel are the difference. Each audio bundle is remembered with the count at its
end and its duration (frame count x 20 ms, from its header, rooms/audio/wire.py): the bundles whose
end is past what was written are the audio waiting.

The kernel's own send buffer comes before the transport's: the socket's is set small
(``SEND_BUFFER_BYTES``, doubled by Linux) so that it holds seconds of audio, not minutes, and a
stalled reader's memory stays bounded (docs/audio.md).
"""

import socket
from collections import deque
from functools import partial

from ..audio import wire

MAX_WAITING_AUDIO_MS = 5_000
# The kernel doubles it: 32 KiB on the socket, about 8 s of a 32 kbit/s room, beside 5 s in the transport.
SEND_BUFFER_BYTES = 16 * 1024
_FRAME_COUNT_AT = 22  # the downlink header's frame count (rooms/audio/wire.py)


def transport_of(send) -> object | None:
    """The twisted transport behind a consumer's ``base_send`` under daphne (``partial(server.
    handle_reply, protocol)``), or None elsewhere (the test communicator, another server)."""
    if isinstance(send, partial) and send.args:
        transport = getattr(send.args[0], "transport", None)
        if transport is not None and hasattr(transport, "dataBuffer") and hasattr(transport, "write"):
            return transport
    return None


def bundle_ms(bundle: bytes) -> int:
    """The audio a downlink bundle carries."""
    if len(bundle) > _FRAME_COUNT_AT:
        return bundle[_FRAME_COUNT_AT] * wire.FRAME_MS
    return wire.FRAME_MS


class SendBacklog:
    """The audio handed to one socket's transport and not yet written to the kernel."""

    def __init__(self, transport) -> None:
        self.transport = transport
        # What the transport already holds counts as handed: only bytes handed from now on are.
        self.handed = len(transport.dataBuffer) - transport.offset + transport._tempDataLen
        self.bundles: deque[tuple[int, int]] = deque()  # (handed count at the bundle's end, ms)
        self.waiting_ms = 0
        write, write_sequence = transport.write, transport.writeSequence

        def counted_write(data: bytes) -> None:
            self.handed += len(data)
            write(data)

        def counted_write_sequence(chunks) -> None:
            chunks = list(chunks)
            self.handed += sum(len(chunk) for chunk in chunks)
            write_sequence(chunks)

        # Instance attributes: autobahn writes through self.transport.write / writeSequence.
        transport.write = counted_write
        transport.writeSequence = counted_write_sequence
        try:
            transport.getHandle().setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SEND_BUFFER_BYTES)
        except (AttributeError, OSError):  # not a TCP socket (a unix socket behind nginx still has one)
            pass

    def pending(self) -> int:
        """Bytes the transport holds that the kernel has not taken."""
        transport = self.transport
        return len(transport.dataBuffer) - transport.offset + transport._tempDataLen

    def audio_handed(self, bundle: bytes) -> int:
        """Call right after handing `bundle` to the transport; return the ms of audio now waiting."""
        self.bundles.append((self.handed, bundle_ms(bundle)))
        self.waiting_ms += self.bundles[-1][1]
        written = self.handed - self.pending()
        while self.bundles and self.bundles[0][0] <= written:
            self.waiting_ms -= self.bundles.popleft()[1]
        return self.waiting_ms

    def stalled(self) -> bool:
        return self.waiting_ms > MAX_WAITING_AUDIO_MS

    def cut_loose(self) -> None:
        """Drop what waits and the connection: its close frame would only queue behind the audio."""
        self.bundles.clear()
        self.waiting_ms = 0
        self.transport.abortConnection()
