"""The program mix as HLS for the mass audience: fragmented MP4 segments and a sliding playlist. No Django.

The mixer already encodes the program mix once, as 20 ms Opus packets; ``HlsWriter.write`` takes
those packets (the same hook the recording uses) and puts every ``segment_frames`` of them in one
fragmented-MP4 media segment, without re-encoding. Opus in MP4 (ISO/IEC 14496-12 with the Opus
mapping's ``Opus``/``dOps`` sample entry) plays through Media Source Extensions in Chromium, Firefox
and Safari 17+ (``audio/mp4; codecs="opus"``) and through Apple's native HLS; AAC would mean a second
encoder per room for no listener we can reach today (docs/hls.md).

A room's directory holds::

    index.m3u8          the playlist (EXT-X-VERSION 7, a window of the last WINDOW segments)
    init-G.mp4          the initialization segment of generation G (one per mixer that wrote here)
    seg-N.m4s           media segment N (N is the playlist's media sequence number)

Every file is written under a temporary name and renamed, the playlist last, so a reader never sees
half a file and never sees a playlist naming a segment that is not there yet. A mixer that takes the
room over reads the playlist it finds, continues the media sequence after its last segment, starts a
new generation (new init segment) and marks its first segment ``EXT-X-DISCONTINUITY``.

Each segment's decode time (``tfdt``) is its first frame's wall-clock mix time in 48 kHz ticks, and
the playlist gives every segment's ``EXT-X-PROGRAM-DATE-TIME``: a player, a test or a benchmark can
tell from either when the audio it holds was mixed.

Signed URLs (rooms that refuse anonymous listeners, ticketed rooms) carry their signature in the
path, ``<prefix>s/<expires>/<md5>/<listener>/<room>/<file>``, so the playlist's relative segment
names inherit it; ``signed_path``/``check_signature`` compute exactly what nginx's
``secure_link_md5`` computes.
"""

from __future__ import annotations

import os
import re
import shutil
import struct
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

from .codec import DTX_PACKET

# Signed URLs live in signing.py (no dependencies: deploy/render.py imports it too).
from .signing import check_signature, derive_secret, signature, signed_path  # noqa: F401
from .wire import FRAME_MS, FRAME_SAMPLES, SAMPLE_RATE

# One second per segment by default (settings.HLS_SEGMENT_SECONDS, 1 or 2): a listener hears the room
# about a segment and a half plus the player's margin late (docs/hls.md, "How late, and why"), so
# shorter segments are the lever on latency; each costs every listener one segment and about one
# playlist request.
SEGMENT_FRAMES = 1000 // FRAME_MS
# Segments listed in the playlist; files stay on disk twice as long, so a player that read the
# playlist just before a segment slid out can still fetch it (RFC 8216 section 6.2.2).
WINDOW = 6
KEEP_FILES = 2 * WINDOW
PLAYLIST = "index.m3u8"
PRE_SKIP = 312  # libopus's look-ahead at 48 kHz: what a decoder drops from the start of a stream
TRACK_ID = 1
PUBLIC = "public"
PRIVATE = "private"

_SEGMENT_NAME = re.compile(r"^seg-(\d+)\.m4s$")
_INIT_NAME = re.compile(r"^init-(\d+)\.mp4$")
FILE_NAME = re.compile(r"^(?:index\.m3u8|init-\d+\.mp4|seg-\d+\.m4s)$")


# -- fragmented MP4 --------------------------------------------------------------------------


def _box(kind: bytes, *parts: bytes) -> bytes:
    payload = b"".join(parts)
    return struct.pack(">I4s", 8 + len(payload), kind) + payload


def _full_box(kind: bytes, version: int, flags: int, *parts: bytes) -> bytes:
    return _box(kind, struct.pack(">I", (version << 24) | flags), *parts)


_MATRIX = struct.pack(">9I", 0x00010000, 0, 0, 0, 0x00010000, 0, 0, 0, 0x40000000)


def init_segment(*, pre_skip: int = PRE_SKIP) -> bytes:
    """The initialization segment: one mono 48 kHz Opus track, no samples (they come in fragments)."""
    ftyp = _box(b"ftyp", b"iso6", struct.pack(">I", 0), b"iso6", b"mp41", b"dash")
    mvhd = _full_box(
        b"mvhd",
        0,
        0,
        struct.pack(">IIII", 0, 0, 1000, 0),
        struct.pack(">IH", 0x00010000, 0x0100),
        bytes(10),
        _MATRIX,
        bytes(24),
        struct.pack(">I", TRACK_ID + 1),
    )
    tkhd = _full_box(
        b"tkhd",
        0,
        0x3,  # enabled, in movie
        struct.pack(">IIIII", 0, 0, TRACK_ID, 0, 0),
        bytes(8),
        struct.pack(">hhhH", 0, 0, 0x0100, 0),
        _MATRIX,
        struct.pack(">II", 0, 0),
    )
    mdhd = _full_box(b"mdhd", 0, 0, struct.pack(">IIIIHH", 0, 0, SAMPLE_RATE, 0, 0x55C4, 0))  # "und"
    hdlr = _full_box(b"hdlr", 0, 0, struct.pack(">I4s", 0, b"soun"), bytes(12), b"SoundHandler\x00")
    smhd = _full_box(b"smhd", 0, 0, struct.pack(">hH", 0, 0))
    dinf = _box(b"dinf", _full_box(b"dref", 0, 0, struct.pack(">I", 1), _full_box(b"url ", 0, 1)))
    # The Opus sample entry and its dOps box ("Encapsulation of Opus in ISO Base Media File Format").
    dops = _box(b"dOps", struct.pack(">BBHIhB", 0, 1, pre_skip, SAMPLE_RATE, 0, 0))
    opus = _box(
        b"Opus",
        bytes(6),
        struct.pack(">H", 1),  # data reference index
        bytes(8),
        struct.pack(">HHHHI", 1, 16, 0, 0, SAMPLE_RATE << 16),
        dops,
    )
    stbl = _box(
        b"stbl",
        _full_box(b"stsd", 0, 0, struct.pack(">I", 1), opus),
        _full_box(b"stts", 0, 0, struct.pack(">I", 0)),
        _full_box(b"stsc", 0, 0, struct.pack(">I", 0)),
        _full_box(b"stsz", 0, 0, struct.pack(">II", 0, 0)),
        _full_box(b"stco", 0, 0, struct.pack(">I", 0)),
    )
    minf = _box(b"minf", smhd, dinf, stbl)
    trak = _box(b"trak", tkhd, _box(b"mdia", mdhd, hdlr, minf))
    trex = _full_box(b"trex", 0, 0, struct.pack(">IIIII", TRACK_ID, 1, FRAME_SAMPLES, 0, 0))
    moov = _box(b"moov", mvhd, trak, _box(b"mvex", trex))
    return ftyp + moov


def media_segment(*, sequence: int, decode_time: int, packets: list[bytes]) -> bytes:
    """One fragment (moof + mdat) holding `packets`, 20 ms each, starting at `decode_time` (48 kHz ticks)."""
    packets = [packet or DTX_PACKET for packet in packets]
    mfhd = _full_box(b"mfhd", 0, 0, struct.pack(">I", sequence & 0xFFFFFFFF))
    tfhd = _full_box(b"tfhd", 0, 0x020000, struct.pack(">I", TRACK_ID))  # default-base-is-moof
    tfdt = _full_box(b"tfdt", 1, 0, struct.pack(">Q", decode_time))
    samples = b"".join(struct.pack(">II", FRAME_SAMPLES, len(packet)) for packet in packets)

    def moof_with(offset: int) -> bytes:
        # data offset present, sample duration present, sample size present
        trun = _full_box(b"trun", 0, 0x000301, struct.pack(">Ii", len(packets), offset), samples)
        return _box(b"moof", mfhd, _box(b"traf", tfhd, tfdt, trun))

    moof_size = len(moof_with(0))
    return moof_with(moof_size + 8) + _box(b"mdat", *packets)


def read_boxes(data: bytes) -> list[tuple[bytes, bytes]]:
    """The top-level boxes of `data` as (type, payload); raise ValueError on a malformed box."""
    boxes, offset = [], 0
    while offset < len(data):
        if offset + 8 > len(data):
            raise ValueError("truncated box header")
        size, kind = struct.unpack_from(">I4s", data, offset)
        if size < 8 or offset + size > len(data):
            raise ValueError(f"bad box size {size}")
        boxes.append((kind, data[offset + 8 : offset + size]))
        offset += size
    return boxes


def segment_info(data: bytes) -> tuple[int, int, list[bytes]]:
    """(sequence number, decode time in 48 kHz ticks, Opus packets) of a media segment from media_segment."""
    boxes = dict(read_boxes(data))
    moof, mdat = boxes[b"moof"], boxes[b"mdat"]
    inner = dict(read_boxes(moof))
    (sequence,) = struct.unpack_from(">I", inner[b"mfhd"], 4)
    traf = dict(read_boxes(inner[b"traf"]))
    (decode_time,) = struct.unpack_from(">Q", traf[b"tfdt"], 4)
    trun = traf[b"trun"]
    (count,) = struct.unpack_from(">I", trun, 4)
    packets, offset = [], 0
    for index in range(count):
        _, size = struct.unpack_from(">II", trun, 12 + 8 * index)
        packets.append(mdat[offset : offset + size])
        offset += size
    return sequence, decode_time, packets


# -- the playlist ----------------------------------------------------------------------------


@dataclass
class Entry:
    number: int  # media sequence number
    duration_s: float
    started_ms: float  # wall-clock mix time of the first frame
    init: str  # the EXT-X-MAP this segment needs
    discontinuity: bool = False

    @property
    def uri(self) -> str:
        return f"seg-{self.number}.m4s"


@dataclass
class Playlist:
    entries: list[Entry] = field(default_factory=list)
    discontinuity_sequence: int = 0
    ended: bool = False

    @property
    def media_sequence(self) -> int:
        return self.entries[0].number if self.entries else 0

    def add(self, entry: Entry, *, window: int = WINDOW) -> list[Entry]:
        """Append `entry` and slide the window; return the entries that left it."""
        self.entries.append(entry)
        gone = []
        while len(self.entries) > window:
            gone.append(self.entries.pop(0))
            # RFC 8216 4.3.3.3: the count of discontinuity tags that have left the playlist.
            if gone[-1].discontinuity:
                self.discontinuity_sequence += 1
        return gone

    def render(self, *, target_s: int) -> str:
        lines = [
            "#EXTM3U",
            "#EXT-X-VERSION:7",
            f"#EXT-X-TARGETDURATION:{target_s}",
            f"#EXT-X-MEDIA-SEQUENCE:{self.media_sequence}",
            f"#EXT-X-DISCONTINUITY-SEQUENCE:{self.discontinuity_sequence}",
        ]
        current_map = None
        for index, entry in enumerate(self.entries):
            if entry.discontinuity and index > 0:
                lines.append("#EXT-X-DISCONTINUITY")
            elif entry.discontinuity:
                # Kept (as a comment players ignore) so a reader of this file knows the tag
                # already counted in the discontinuity sequence was on this segment.
                lines.append("#SPACES-DISCONTINUITY-FIRST")
            if entry.init != current_map:
                lines.append(f'#EXT-X-MAP:URI="{entry.init}"')
                current_map = entry.init
            stamp = datetime.fromtimestamp(entry.started_ms / 1000, UTC).isoformat(timespec="milliseconds")
            lines.append(f"#EXT-X-PROGRAM-DATE-TIME:{stamp.replace('+00:00', 'Z')}")
            lines.append(f"#EXTINF:{entry.duration_s:.3f},")
            lines.append(entry.uri)
        if self.ended:
            lines.append("#EXT-X-ENDLIST")
        return "\n".join(lines) + "\n"


def parse_playlist(text: str) -> Playlist:
    """Read back a playlist written by ``Playlist.render`` (enough of RFC 8216 for that); raise
    ValueError when it is not one."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if not lines or lines[0] != "#EXTM3U":
        raise ValueError("not a playlist")
    playlist = Playlist()
    media_sequence = None
    current_map = None
    pending: dict = {}
    for line in lines[1:]:
        if line.startswith("#EXT-X-MEDIA-SEQUENCE:"):
            media_sequence = int(line.split(":", 1)[1])
        elif line.startswith("#EXT-X-DISCONTINUITY-SEQUENCE:"):
            playlist.discontinuity_sequence = int(line.split(":", 1)[1])
        elif line in ("#EXT-X-DISCONTINUITY", "#SPACES-DISCONTINUITY-FIRST"):
            pending["discontinuity"] = True
        elif line.startswith("#EXT-X-MAP:"):
            match = re.search(r'URI="([^"]+)"', line)
            if not match:
                raise ValueError("EXT-X-MAP without a URI")
            current_map = match.group(1)
        elif line.startswith("#EXT-X-PROGRAM-DATE-TIME:"):
            stamp = line.split(":", 1)[1].replace("Z", "+00:00")
            pending["started_ms"] = datetime.fromisoformat(stamp).timestamp() * 1000
        elif line.startswith("#EXTINF:"):
            pending["duration_s"] = float(line.split(":", 1)[1].rstrip(",").split(",")[0])
        elif line == "#EXT-X-ENDLIST":
            playlist.ended = True
        elif not line.startswith("#"):
            match = _SEGMENT_NAME.match(line)
            if not match or current_map is None or "duration_s" not in pending:
                raise ValueError(f"unexpected line {line!r}")
            playlist.entries.append(
                Entry(
                    number=int(match.group(1)),
                    duration_s=pending["duration_s"],
                    started_ms=pending.get("started_ms", 0.0),
                    init=current_map,
                    discontinuity=pending.get("discontinuity", False),
                )
            )
            pending = {}
    if playlist.entries and media_sequence != playlist.entries[0].number:
        raise ValueError("media sequence does not match the first segment")
    return playlist


# -- where a room's files go -----------------------------------------------------------------


class HlsStore(Protocol):
    """Where one room's HLS files go: a directory (``DirectoryStore``) or an object store's prefix
    (rooms/live/hls_s3.py, which keeps this module free of its client). Every method is called from
    the mixer's clock, so none may wait on a network: a store that uploads queues the work."""

    def read_playlist(self) -> str | None:
        """The playlist a previous writer left, or None."""

    def names(self) -> list[str]:
        """The file names there now (asked once, when a writer opens)."""

    def put(self, name: str, data: bytes) -> None:
        """Store an init segment."""

    def publish(self, name: str, data: bytes, playlist: str) -> None:
        """Store media segment `name`, then `playlist`, which names it: never the playlist first, and
        never a playlist naming a segment that was not stored."""

    def delete(self, names: list[str]) -> None:
        """Remove files that left the playlist long enough ago."""

    def close(self, *, remove: bool = False) -> None:
        """No more writes; with `remove` (the room ended) delete every file of the room."""


def _write_atomically(path: Path, data: bytes) -> None:
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(temporary, "wb") as handle:
        handle.write(data)
    os.replace(temporary, path)


class DirectoryStore:
    """A room's files in a directory that nginx serves. Every file is written under a temporary name
    and renamed, the playlist after its segment, so a reader never sees half a file or a playlist
    naming a segment not there yet. To the page cache, with no fsync: these files live for seconds."""

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)

    def read_playlist(self) -> str | None:
        try:
            return (self.directory / PLAYLIST).read_text()
        except (OSError, UnicodeDecodeError):
            return None

    def names(self) -> list[str]:
        return [path.name for path in self.directory.iterdir()]

    def put(self, name: str, data: bytes) -> None:
        _write_atomically(self.directory / name, data)

    def publish(self, name: str, data: bytes, playlist: str) -> None:
        _write_atomically(self.directory / name, data)
        _write_atomically(self.directory / PLAYLIST, playlist.encode())

    def delete(self, names: list[str]) -> None:
        for name in names:
            (self.directory / name).unlink(missing_ok=True)

    def close(self, *, remove: bool = False) -> None:
        if remove:
            remove_directory(self.directory)


# -- writing a room's HLS ---------------------------------------------------------------------


class HlsWriter:
    """Write one room's program mix as HLS into `target` (a directory, or any ``HlsStore``),
    continuing whatever playlist is there.

    ``write`` is called from the mixer's clock with every 20 ms program packet; every
    ``segment_frames`` packets it hands the store a segment and then the playlist. A gap in the
    mixer's sequence numbers is filled with DTX packets so a segment's duration is always its packet
    count times 20 ms.
    """

    def __init__(
        self, target: Path | HlsStore, *, segment_frames: int = SEGMENT_FRAMES, window: int = WINDOW
    ) -> None:
        self.store: HlsStore = DirectoryStore(Path(target)) if isinstance(target, (str, Path)) else target
        self.directory = getattr(self.store, "directory", None)
        self.segment_frames = segment_frames
        self.window = window
        self.keep = 2 * window
        self.target_s = max(1, round(segment_frames * FRAME_MS / 1000 + 0.499))
        self.playlist = self._existing_playlist()
        # What is there: the writer deletes from this (no listing while it writes).
        self._segments = {int(m.group(1)) for name in self.store.names() if (m := _SEGMENT_NAME.match(name))}
        self._old_inits = {name for name in self.store.names() if _INIT_NAME.match(name)}
        last = (
            self.playlist.entries[-1].number if self.playlist.entries else max(self._segments, default=None)
        )
        self.next_number = 0 if last is None else last + 1
        self.first_number = self.next_number
        # After a takeover (anything was here before), the first segment is a discontinuity.
        self.discontinuity = last is not None
        self.generation = (
            max((int(_INIT_NAME.match(name).group(1)) for name in self._old_inits), default=0) + 1
        )
        self.init_name = f"init-{self.generation}.mp4"
        self.store.put(self.init_name, init_segment())
        self._packets: list[bytes] = []
        self._started_ms: float | None = None
        self._next_sequence: int | None = None
        self.segments_written = 0
        self.closed = False

    @property
    def pending_frames(self) -> int:
        """Packets held for the segment being filled: where the next packet goes in it."""
        return len(self._packets)

    def _existing_playlist(self) -> Playlist:
        text = self.store.read_playlist()
        try:
            return parse_playlist(text) if text is not None else Playlist()
        except ValueError:
            return Playlist()

    def write(
        self, sequence: int, mixed_ms: float, packet: bytes, voices: frozenset[int] = frozenset()
    ) -> None:
        """Take one 20 ms program packet (b"": the room was silent)."""
        if self.closed:
            return
        if self._next_sequence is not None:
            missing = (sequence - self._next_sequence) & 0xFFFFFFFF
            # A stalled clock skipped frames: keep the timeline whole (up to a second of them).
            for _ in range(min(missing, self.segment_frames)):
                self._append(DTX_PACKET, None)
        self._next_sequence = (sequence + 1) & 0xFFFFFFFF
        self._append(packet or DTX_PACKET, mixed_ms)

    def _append(self, packet: bytes, mixed_ms: float | None) -> None:
        if self._started_ms is None:
            self._started_ms = mixed_ms if mixed_ms is not None else time.time() * 1000
        self._packets.append(packet)
        if len(self._packets) >= self.segment_frames:
            self._finish_segment()

    def _finish_segment(self) -> None:
        packets, started_ms = self._packets, self._started_ms or time.time() * 1000
        self._packets, self._started_ms = [], None
        number = self.next_number
        self.next_number += 1
        data = media_segment(
            sequence=number, decode_time=round(started_ms * SAMPLE_RATE / 1000), packets=packets
        )
        entry = Entry(
            number=number,
            duration_s=len(packets) * FRAME_MS / 1000,
            started_ms=started_ms,
            init=self.init_name,
            discontinuity=self.discontinuity,
        )
        self.discontinuity = False
        self.playlist.add(entry, window=self.window)
        self.store.publish(entry.uri, data, self.playlist.render(target_s=self.target_s))
        self._segments.add(number)
        self.segments_written += 1
        self._remove_old(number)

    def _remove_old(self, newest: int) -> None:
        """Delete the segments `keep` behind the newest: they left the playlist `window` segments ago,
        so a player that read it just before still found them. An earlier mixer's init segments go
        once the last of its segments has."""
        if newest % self.window:
            return  # every few segments is plenty
        old = sorted(number for number in self._segments if number <= newest - self.keep)
        names = [f"seg-{number}.m4s" for number in old]
        if self._old_inits and self.first_number <= newest - self.keep:
            names += sorted(self._old_inits)
            self._old_inits = set()
        if names:
            self._segments.difference_update(old)
            self.store.delete(names)

    def close(self, *, remove: bool = False) -> None:
        """Stop writing. With `remove` (the room ended), delete the room's files."""
        self.closed = True
        self.store.close(remove=remove)


def remove_directory(directory: Path) -> None:
    shutil.rmtree(directory, ignore_errors=True)


def room_directory(root: Path, room_id: int, access: str) -> Path:
    """Where a room's HLS files go: ``<root>/public/<room>`` or ``<root>/private/<room>``."""
    if access not in (PUBLIC, PRIVATE):
        raise ValueError(f"unknown access {access!r}")
    return Path(root) / access / str(int(room_id))


def room_directories(root: Path) -> list[tuple[int, Path]]:
    """Every room directory under `root` as (room id, path)."""
    found = []
    for access in (PUBLIC, PRIVATE):
        base = Path(root) / access
        if base.is_dir():
            found += [(int(p.name), p) for p in base.iterdir() if p.is_dir() and p.name.isdigit()]
    return found
