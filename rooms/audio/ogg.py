"""Ogg Opus (RFC 3533 pages, RFC 7845 headers) written and read by hand. No Django here.

Only what recording needs (the live capture, capture.py; recordings' finalizing and clips): a single
mono Opus stream, pages that hold whole packets, and a reader that checks every page (capture
pattern, CRC, page sequence) and stops at the first damaged one, so a file cut off by a crash yields
everything up to its last complete page.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

SAMPLE_RATE = 48_000
# libopus's look-ahead at 48 kHz (2.5 ms + 4 ms delay compensation): the decoder's first samples.
DEFAULT_PRE_SKIP = 312

FLAG_CONTINUED = 0x01
FLAG_BOS = 0x02
FLAG_EOS = 0x04
MAX_LACING = 255

_HEADER = struct.Struct("<4sBBqIIIB")  # capture pattern .. segment count; CRC at offset 22
_CRC_OFFSET = 22

# The Ogg CRC is CRC-32 with polynomial 0x04C11DB7, MSB first, initial value 0 and no final xor.
# zlib computes the bit-reflected CRC-32 in C; fed bit-reversed bytes it yields the bit-reversed Ogg
# CRC, about 100x faster than a table loop in Python.
_REVERSE_BITS = bytes(int(f"{i:08b}"[::-1], 2) for i in range(256))


def _reverse32(value: int) -> int:
    return int(f"{value:032b}"[::-1], 2)


def ogg_crc(data: bytes) -> int:
    return _reverse32(zlib.crc32(data.translate(_REVERSE_BITS), 0xFFFFFFFF) ^ 0xFFFFFFFF)


class OggError(ValueError):
    pass


def lacing_values(size: int) -> bytes:
    """The lacing values of one whole packet of ``size`` bytes."""
    return b"\xff" * (size // 255) + bytes([size % 255])


def build_page(
    packets: Iterable[bytes], *, serial: int, sequence: int, granule: int, flags: int = 0
) -> bytes:
    """Return one page holding ``packets`` whole (their lacing must fit in 255 values)."""
    packets = list(packets)
    lacing = b"".join(lacing_values(len(p)) for p in packets)
    if len(lacing) > MAX_LACING:
        raise OggError("too many packets for one page")
    header = _HEADER.pack(b"OggS", 0, flags, granule, serial, sequence, 0, len(lacing))
    page = bytearray(header + lacing + b"".join(packets))
    struct.pack_into("<I", page, _CRC_OFFSET, ogg_crc(bytes(page)))
    return bytes(page)


def opus_head(*, pre_skip: int = DEFAULT_PRE_SKIP, channels: int = 1) -> bytes:
    return b"OpusHead" + struct.pack("<BBHIhB", 1, channels, pre_skip, SAMPLE_RATE, 0, 0)


def opus_tags(vendor: str = "spaces", comments: Iterable[str] = ()) -> bytes:
    comments = [c.encode() for c in comments]
    vendor_bytes = vendor.encode()
    out = [b"OpusTags", struct.pack("<I", len(vendor_bytes)), vendor_bytes, struct.pack("<I", len(comments))]
    for comment in comments:
        out += [struct.pack("<I", len(comment)), comment]
    return b"".join(out)


def parse_pre_skip(head: bytes) -> int:
    if len(head) < 19 or not head.startswith(b"OpusHead"):
        raise OggError("not an OpusHead packet")
    version, channels, pre_skip, _rate, _gain, _family = struct.unpack_from("<BBHIhB", head, 8)
    if version >> 4 != 0 or channels != 1:
        raise OggError(f"unsupported OpusHead (version {version}, {channels} channels)")
    return pre_skip


def header_pages(*, serial: int, pre_skip: int = DEFAULT_PRE_SKIP, comments: Iterable[str] = ()) -> bytes:
    """The two pages every Ogg Opus stream starts with: OpusHead (BOS) alone, then OpusTags."""
    return build_page(
        [opus_head(pre_skip=pre_skip)], serial=serial, sequence=0, granule=0, flags=FLAG_BOS
    ) + (build_page([opus_tags(comments=comments)], serial=serial, sequence=1, granule=0))


def audio_pages(
    packets: list[bytes],
    *,
    serial: int,
    first_sequence: int,
    first_granule: int,
    samples_per_packet: int,
    last_flags: int = 0,
) -> Iterator[tuple[bytes, int]]:
    """Yield (page, granule after it) for ``packets``, as many whole packets a page as fit, up to
    50 (one second: RFC 7845 suggests at most a second a page so seeking stays cheap). The last page
    gets ``last_flags`` (FLAG_EOS to end the stream)."""
    sequence, granule = first_sequence, first_granule
    start = 0
    while start < len(packets):
        end, lacing = start, 0
        while end < len(packets) and end - start < 50:
            needed = len(packets[end]) // 255 + 1
            if lacing + needed > MAX_LACING:
                break
            lacing += needed
            end += 1
        granule += (end - start) * samples_per_packet
        flags = last_flags if end == len(packets) else 0
        page = build_page(packets[start:end], serial=serial, sequence=sequence, granule=granule, flags=flags)
        yield page, granule
        sequence += 1
        start = end


@dataclass
class Page:
    offset: int
    flags: int
    granule: int
    serial: int
    sequence: int
    segments: bytes
    body: bytes
    end: int


@dataclass
class StreamReport:
    """What a reader found in one Ogg Opus file."""

    pre_skip: int = DEFAULT_PRE_SKIP
    packets: list[bytes] = field(default_factory=list)
    pages: int = 0
    last_granule: int = 0
    eos: bool = False
    # Why reading stopped before the end of the file ("" when the whole file was sound).
    damage: str = ""
    damaged_bytes: int = 0


def ends_stream(tail: bytes) -> bool:
    """Whether the last page in ``tail`` (the end of a stream's bytes, 64 KiB is plenty) carries the
    end-of-stream flag: the EOS page is the last page written, its header the last "OggS"."""
    at = tail.rfind(b"OggS")
    return at >= 0 and len(tail) - at >= 27 and bool(tail[at + 5] & FLAG_EOS)


def iter_pages(data: bytes) -> Iterator[Page]:
    """Yield the pages of ``data`` in order; raise OggError at the first one that is not sound."""
    offset = 0
    size = len(data)
    while offset < size:
        if size - offset < _HEADER.size:
            raise OggError(f"truncated page header at byte {offset}")
        pattern, version, flags, granule, serial, sequence, crc, count = _HEADER.unpack_from(data, offset)
        if pattern != b"OggS" or version != 0:
            raise OggError(f"no page at byte {offset}")
        segments_end = offset + _HEADER.size + count
        if segments_end > size:
            raise OggError(f"truncated page at byte {offset}")
        segments = data[offset + _HEADER.size : segments_end]
        end = segments_end + sum(segments)
        if end > size:
            raise OggError(f"truncated page at byte {offset}")
        raw = bytearray(data[offset:end])
        raw[_CRC_OFFSET : _CRC_OFFSET + 4] = b"\0\0\0\0"
        if ogg_crc(bytes(raw)) != crc:
            raise OggError(f"bad CRC in the page at byte {offset}")
        yield Page(offset, flags, granule, serial, sequence, segments, data[segments_end:end], end)
        offset = end


def read_opus_stream(data: bytes) -> StreamReport:
    """Read a single-stream Ogg Opus file: check its pages and return its audio packets.

    Reading stops at the first damaged page (a crash can tear only the last one, which was being
    written); what came before is kept and ``damage`` says why it stopped.
    """
    report = StreamReport()
    serial = None
    expected_sequence = 0
    pending = b""
    headers: list[bytes] = []
    good_end = 0
    pages = iter_pages(data)
    while True:
        try:
            page = next(pages)
        except StopIteration:
            break
        except OggError as error:
            report.damage = str(error)
            break
        if serial is None:
            if not page.flags & FLAG_BOS:
                raise OggError("the first page does not begin a stream")
            serial = page.serial
        if page.serial != serial:
            report.damage = f"a second stream starts at byte {page.offset}"
            break
        if page.sequence != expected_sequence:
            report.damage = f"page {expected_sequence} is missing (found {page.sequence})"
            break
        expected_sequence += 1
        report.pages += 1
        good_end = page.end
        if pending and not page.flags & FLAG_CONTINUED:
            pending = b""  # a packet left unfinished is dropped, as RFC 3533 says
        position = 0
        completed = 0
        for lace in page.segments:
            pending += page.body[position : position + lace]
            position += lace
            if lace < 255:
                completed += 1
                if len(headers) < 2:
                    headers.append(pending)
                else:
                    report.packets.append(pending)
                pending = b""
        if completed and page.granule >= 0 and len(headers) >= 2:
            report.last_granule = page.granule
        if page.flags & FLAG_EOS:
            report.eos = True
            break
    if not headers:
        raise OggError(report.damage or "no Opus header")
    report.pre_skip = parse_pre_skip(headers[0])
    if len(headers) < 2 or not headers[1].startswith(b"OpusTags"):
        raise OggError("no OpusTags packet")
    report.damaged_bytes = len(data) - good_end
    return report
