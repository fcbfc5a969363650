"""Opus encoder and decoder for the room mixer: 48 kHz mono, one 20 ms packet in, one out. No Django.

Two backends with one interface:

* ``libopus`` (preferred): libopus itself through ctypes — the copy PyAV ships in its wheel
  (``av.libs/libopus-*.so``), else the system's ``libopus.so.0``. It gives what FFmpeg's wrapper
  hides: real packet-loss concealment (decode with no data), decoding the in-band FEC copy of a lost
  frame from the next packet, encoder DTX, and ~30-60 µs less overhead per call than going through
  PyAV's frames and packets, which matters when 14 encodes share a 20 ms tick.
* ``pyav``: FFmpeg's ``libopus`` codec through PyAV, used when the shared library cannot be found
  (or ``SPACES_OPUS_BACKEND=pyav``). Concealment feeds libopus a TOC-only packet, which it treats like
  a lost frame; FEC and DTX are not reachable through FFmpeg's options.

Both encoders produce exactly one packet per 20 ms frame from the first call on: libopus keeps its
6.5 ms look-ahead (312 samples, the Ogg pre-skip) inside the stream, so packet k still belongs to frame
k and sequence numbers stay aligned.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import glob
import os
from typing import Protocol

import numpy as np

from .wire import FRAME_SAMPLES, MAX_OPUS_PACKET, SAMPLE_RATE

# A TOC-only packet (SILK wideband, 20 ms, code 0, no frame data): what libopus's own DTX emits for a
# silent frame. Decoders treat it as "nothing new": comfort noise or a fade from their state. A recorder
# can write it into an Ogg stream for frames the mixer left empty, so the file keeps its duration.
DTX_PACKET = bytes([(9 << 3) | 0])

_APPLICATION_VOIP = 2048
_SET_BITRATE = 4002
_SET_VBR = 4006
_SET_COMPLEXITY = 4010
_SET_INBAND_FEC = 4012
_SET_PACKET_LOSS_PERC = 4014
_SET_DTX = 4016
_RESET_STATE = 4028


class CodecError(RuntimeError):
    pass


class Encoder(Protocol):
    backend: str

    def encode(self, pcm: np.ndarray) -> bytes: ...


class Decoder(Protocol):
    backend: str

    def decode(self, packet: bytes) -> np.ndarray: ...

    def conceal(self, next_packet: bytes | None = None) -> np.ndarray: ...

    def reset(self) -> None: ...


def _find_libopus() -> str | None:
    try:
        import av  # noqa: PLC0415 (optional: PyAV's wheel is only one place libopus may be)

        site = os.path.dirname(os.path.dirname(av.__file__))
        for pattern in ("av.libs/libopus*.so*", "av/.dylibs/libopus*.dylib"):
            found = sorted(glob.glob(os.path.join(site, pattern)))
            if found:
                return found[0]
    except ImportError:
        pass
    return ctypes.util.find_library("opus")


_lib: ctypes.CDLL | None = None
_lib_tried = False


def _libopus() -> ctypes.CDLL | None:
    global _lib, _lib_tried
    if _lib_tried:
        return _lib
    _lib_tried = True
    path = _find_libopus()
    if not path:
        return None
    try:
        lib = ctypes.CDLL(path)
        lib.opus_encoder_create.restype = ctypes.c_void_p
        lib.opus_encoder_create.argtypes = [
            ctypes.c_int32,
            ctypes.c_int,
            ctypes.c_int,
            ctypes.POINTER(ctypes.c_int),
        ]
        lib.opus_encoder_destroy.argtypes = [ctypes.c_void_p]
        lib.opus_encode_float.restype = ctypes.c_int32
        lib.opus_encode_float.argtypes = [
            ctypes.c_void_p,
            ctypes.c_void_p,
            ctypes.c_int,
            ctypes.c_void_p,
            ctypes.c_int32,
        ]
        lib.opus_decoder_create.restype = ctypes.c_void_p
        lib.opus_decoder_create.argtypes = [ctypes.c_int32, ctypes.c_int, ctypes.POINTER(ctypes.c_int)]
        lib.opus_decoder_destroy.argtypes = [ctypes.c_void_p]
        lib.opus_decode_float.restype = ctypes.c_int
        lib.opus_decode_float.argtypes = [
            ctypes.c_void_p,
            ctypes.c_char_p,
            ctypes.c_int32,
            ctypes.c_void_p,
            ctypes.c_int,
            ctypes.c_int,
        ]
        # The ctl functions are variadic: their arguments are passed as explicit c_int32 values.
        lib.opus_encoder_ctl.restype = ctypes.c_int
        lib.opus_decoder_ctl.restype = ctypes.c_int
    except (OSError, AttributeError):
        return None
    _lib = lib
    return lib


def available_backends() -> list[str]:
    return (["libopus"] if _libopus() is not None else []) + ["pyav"]


def default_backend() -> str:
    wanted = os.environ.get("SPACES_OPUS_BACKEND", "")
    backends = available_backends()
    return wanted if wanted in backends else backends[0]


def make_encoder(
    *,
    bitrate: int = 32_000,
    complexity: int = 5,
    fec: bool = True,
    dtx: bool = False,
    backend: str | None = None,
) -> Encoder:
    backend = backend or default_backend()
    if backend == "libopus":
        return LibopusEncoder(bitrate=bitrate, complexity=complexity, fec=fec, dtx=dtx)
    return PyAVEncoder(bitrate=bitrate, complexity=complexity, fec=fec, dtx=dtx)


def make_decoder(*, backend: str | None = None) -> Decoder:
    backend = backend or default_backend()
    if backend == "libopus":
        return LibopusDecoder()
    return PyAVDecoder()


def _as_frame(pcm: np.ndarray) -> np.ndarray:
    pcm = np.ascontiguousarray(pcm, dtype=np.float32)
    if pcm.shape != (FRAME_SAMPLES,):
        raise CodecError(f"expected {FRAME_SAMPLES} mono samples, got shape {pcm.shape}")
    return pcm


class LibopusEncoder:
    backend = "libopus"

    def __init__(self, *, bitrate: int, complexity: int, fec: bool, dtx: bool) -> None:
        lib = _libopus()
        if lib is None:
            raise CodecError("libopus is not available")
        self._lib = lib
        error = ctypes.c_int()
        self._state = lib.opus_encoder_create(SAMPLE_RATE, 1, _APPLICATION_VOIP, ctypes.byref(error))
        if error.value != 0 or not self._state:
            raise CodecError(f"opus_encoder_create failed ({error.value})")
        handle = ctypes.c_void_p(self._state)
        for request, value in (
            (_SET_BITRATE, bitrate),
            (_SET_VBR, 1),
            (_SET_COMPLEXITY, complexity),
            (_SET_INBAND_FEC, 1 if fec else 0),
            # libopus only spends bits on FEC when it expects loss.
            (_SET_PACKET_LOSS_PERC, 5 if fec else 0),
            (_SET_DTX, 1 if dtx else 0),
        ):
            if lib.opus_encoder_ctl(handle, ctypes.c_int(request), ctypes.c_int32(value)) != 0:
                raise CodecError(f"opus_encoder_ctl({request}) failed")
        self._out = ctypes.create_string_buffer(MAX_OPUS_PACKET)

    def encode(self, pcm: np.ndarray) -> bytes:
        pcm = _as_frame(pcm)
        size = self._lib.opus_encode_float(
            self._state, pcm.ctypes.data, FRAME_SAMPLES, self._out, MAX_OPUS_PACKET
        )
        if size < 0:
            raise CodecError(f"opus_encode_float failed ({size})")
        return self._out.raw[:size]

    def __del__(self) -> None:
        if getattr(self, "_state", None):
            self._lib.opus_encoder_destroy(self._state)
            self._state = None


class LibopusDecoder:
    backend = "libopus"

    def __init__(self) -> None:
        lib = _libopus()
        if lib is None:
            raise CodecError("libopus is not available")
        self._lib = lib
        error = ctypes.c_int()
        self._state = lib.opus_decoder_create(SAMPLE_RATE, 1, ctypes.byref(error))
        if error.value != 0 or not self._state:
            raise CodecError(f"opus_decoder_create failed ({error.value})")

    def _run(self, packet: bytes | None, fec: int) -> np.ndarray:
        pcm = np.empty(FRAME_SAMPLES, dtype=np.float32)
        length = len(packet) if packet else 0
        samples = self._lib.opus_decode_float(
            self._state, packet or None, length, pcm.ctypes.data, FRAME_SAMPLES, fec
        )
        if samples < 0:
            raise CodecError(f"opus_decode_float failed ({samples})")
        if samples < FRAME_SAMPLES:
            pcm[samples:] = 0.0
        return pcm

    def decode(self, packet: bytes) -> np.ndarray:
        return self._run(packet, 0)

    def conceal(self, next_packet: bytes | None = None) -> np.ndarray:
        """Return audio for a lost frame: its FEC copy from the next packet when that carries one
        (libopus falls back to concealment by itself when it does not), else libopus's PLC."""
        if next_packet is not None and len(next_packet) > 2:
            try:
                return self._run(next_packet, 1)
            except CodecError:
                pass
        return self._run(None, 0)

    def reset(self) -> None:
        self._lib.opus_decoder_ctl(ctypes.c_void_p(self._state), ctypes.c_int(_RESET_STATE))

    def __del__(self) -> None:
        if getattr(self, "_state", None):
            self._lib.opus_decoder_destroy(self._state)
            self._state = None


class PyAVEncoder:
    backend = "pyav"

    def __init__(self, *, bitrate: int, complexity: int, fec: bool, dtx: bool = False) -> None:
        # FFmpeg's wrapper has no DTX option: ``dtx`` is accepted and ignored.
        import av  # noqa: PLC0415 (only the pyav backend needs PyAV, 80 ms to import)

        context = av.codec.CodecContext.create("libopus", "w")
        context.sample_rate = SAMPLE_RATE
        context.layout = "mono"
        context.format = "flt"
        context.bit_rate = bitrate
        options = {"application": "voip", "frame_duration": "20", "compression_level": str(complexity)}
        if fec:
            options.update({"fec": "1", "packet_loss": "5"})
        context.options = options
        context.open()
        self._context = context
        self._frame = av.AudioFrame(format="flt", layout="mono", samples=FRAME_SAMPLES)
        self._frame.sample_rate = SAMPLE_RATE
        # Writing into the frame's own buffer saves building a new AudioFrame per call.
        self._samples = np.frombuffer(self._frame.planes[0], dtype=np.float32)
        self._pts = 0

    def encode(self, pcm: np.ndarray) -> bytes:
        self._samples[:] = _as_frame(pcm)
        self._frame.pts = self._pts
        self._pts += FRAME_SAMPLES
        packets = self._context.encode(self._frame)
        if len(packets) != 1:
            raise CodecError(f"the encoder returned {len(packets)} packets for one frame")
        return bytes(packets[0])


class PyAVDecoder:
    backend = "pyav"

    def __init__(self) -> None:
        self._open()
        self._last_toc = DTX_PACKET[0]

    def _open(self) -> None:
        import av  # noqa: PLC0415 (only the pyav backend needs PyAV, 80 ms to import)

        context = av.codec.CodecContext.create("libopus", "r")
        context.sample_rate = SAMPLE_RATE
        context.layout = "mono"
        context.options = {"request_sample_fmt": "flt"}
        self._context = context
        self._packet_type = av.Packet

    def _run(self, packet: bytes) -> np.ndarray:
        import av  # noqa: PLC0415 (only the pyav backend needs PyAV, 80 ms to import)

        try:
            frames = self._context.decode(self._packet_type(packet))
        except av.FFmpegError as error:
            raise CodecError(str(error)) from error
        pcm = np.zeros(FRAME_SAMPLES, dtype=np.float32)
        offset = 0
        for frame in frames:
            data = frame.to_ndarray()[0]
            if data.dtype != np.float32:
                data = data.astype(np.float32) / 32768.0
            take = min(len(data), FRAME_SAMPLES - offset)
            pcm[offset : offset + take] = data[:take]
            offset += take
        return pcm

    def decode(self, packet: bytes) -> np.ndarray:
        pcm = self._run(packet)
        self._last_toc = packet[0]
        return pcm

    def conceal(self, next_packet: bytes | None = None) -> np.ndarray:
        # libopus conceals a frame whose packet holds only its TOC byte (code 0, no data).
        return self._run(bytes([self._last_toc & 0xFC]))

    def reset(self) -> None:
        self._open()
