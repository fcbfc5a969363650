import numpy as np
import pytest

from rooms.audio import codec, wire

from .signals import FRAME, amplitude_at, packets, rms, tone

BACKENDS = codec.available_backends()


@pytest.mark.parametrize("backend", BACKENDS)
def test_the_encoder_gives_one_packet_per_frame_from_the_first_frame(backend):
    encoder = codec.make_encoder(backend=backend)
    pcm = tone(440, 5)
    out = [encoder.encode(pcm[i * FRAME : (i + 1) * FRAME]) for i in range(5)]
    assert all(wire.opus_packet_samples(p) == FRAME for p in out)
    decoder = codec.make_decoder(backend=backend)
    decoded = np.concatenate([decoder.decode(p) for p in out])
    assert amplitude_at(decoded[FRAME:], 440) == pytest.approx(0.3, rel=0.15)


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_lost_frame_is_concealed_smoothly_rather_than_cut(backend):
    stream = packets(tone(440, 30), backend=backend)
    decoder = codec.make_decoder(backend=backend)
    for packet in stream[:20]:
        decoder.decode(packet)
    concealed = decoder.conceal()
    assert concealed.shape == (FRAME,)
    # The first concealed frame continues the voice from the decoder's state instead of a hard cut.
    assert rms(concealed[:240]) > 0.05
    tail = [decoder.conceal() for _ in range(10)][-1]
    assert rms(tail) < rms(concealed)


@pytest.mark.skipif("libopus" not in BACKENDS, reason="libopus shared library not found")
def test_fec_recovers_a_lost_frame_from_the_next_packet():
    pcm = tone(440, 30)
    stream = packets(pcm, backend="libopus", fec=True)
    decoder = codec.make_decoder(backend="libopus")
    for packet in stream[:20]:
        decoder.decode(packet)
    recovered = decoder.conceal(stream[21])
    assert amplitude_at(recovered, 440) > 0.15


def test_dtx_packets_are_accepted_as_20_ms():
    assert wire.opus_packet_samples(codec.DTX_PACKET) == FRAME


@pytest.mark.parametrize(
    ("packet", "samples"),
    [
        (bytes([(1 << 3) | 0]) + b"x", 960),  # SILK NB 20 ms, one frame
        (bytes([(0 << 3) | 1]) + b"ab", 960),  # SILK 10 ms, two equal frames
        (bytes([(31 << 3) | 3, 3]) + b"abc", 2880),  # CELT 20 ms, three frames
        (bytes([(15 << 3) | 0]), 960),  # hybrid FB 20 ms
    ],
)
def test_opus_packet_samples_reads_the_toc(packet, samples):
    assert wire.opus_packet_samples(packet) == samples


@pytest.mark.parametrize("packet", [b"", bytes([(0 << 3) | 1]) + b"a", bytes([3]), bytes([3, 0])])
def test_opus_packet_samples_rejects_impossible_packets(packet):
    with pytest.raises(wire.WireError):
        wire.opus_packet_samples(packet)
