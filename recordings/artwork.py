"""Cover art and waveform images for replays, drawn with Pillow. No Django here."""

from __future__ import annotations

import hashlib
import io
from collections.abc import Sequence

from PIL import Image, ImageDraw, ImageFont

COVER_SIZE = 1400
WAVEFORM_SIZE = (1000, 120)
_PALETTES = [
    ((76, 29, 149), (219, 39, 119)),
    ((12, 74, 110), (16, 185, 129)),
    ((124, 45, 18), (234, 179, 8)),
    ((30, 58, 138), (139, 92, 246)),
    ((19, 78, 74), (59, 130, 246)),
]


def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    for name in ("DejaVuSans-Bold.ttf", "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf"):
        try:
            return ImageFont.truetype(name, size)
        except OSError:
            continue
    return ImageFont.load_default(size=size)


def _wrap(draw: ImageDraw.ImageDraw, text: str, font, width: int, max_lines: int) -> list[str]:
    lines: list[str] = []
    line = ""
    for word in text.split():
        candidate = f"{line} {word}".strip()
        if draw.textlength(candidate, font=font) <= width:
            line = candidate
            continue
        if line:
            lines.append(line)
        line = word
        while draw.textlength(line, font=font) > width and len(line) > 1:
            line = line[:-1]
    if line:
        lines.append(line)
    if len(lines) > max_lines:
        lines = lines[:max_lines]
        lines[-1] = lines[-1].rstrip(".,;: ") + "…"
    return lines


def render_cover(*, title: str, host: str, topics: Sequence[str], size: int = COVER_SIZE) -> bytes:
    """A square JPEG: the room's title, its host and topics on a gradient picked from the title."""
    top, bottom = _PALETTES[hashlib.sha1(title.encode()).digest()[0] % len(_PALETTES)]
    gradient = Image.linear_gradient("L").resize((size, size))
    image = Image.composite(
        Image.new("RGB", (size, size), bottom), Image.new("RGB", (size, size), top), gradient
    )
    draw = ImageDraw.Draw(image, "RGBA")  # RGBA: translucent fills blend into the gradient
    margin = size // 12
    width = size - 2 * margin
    # A band of "sound" bars along the bottom, the same for a given title.
    seed = hashlib.sha256(title.encode()).digest()
    bar_width = size // 64
    for i in range(0, size // bar_width):
        height = (seed[i % len(seed)] / 255) * size * 0.12 + size * 0.01
        x = i * bar_width
        draw.rectangle(
            (x + 2, size - margin - height, x + bar_width - 3, size - margin), fill=(255, 255, 255, 60)
        )
    label = _font(size // 28)
    draw.text((margin, margin), "SPACES · REPLAY", font=label, fill=(255, 255, 255))
    title_font = _font(size // 12)
    y = margin * 2 + size // 28
    for line in _wrap(draw, title, title_font, width, 5):
        draw.text((margin, y), line, font=title_font, fill=(255, 255, 255))
        y += int(size / 12 * 1.2)
    y += size // 40
    host_font = _font(size // 22)
    for line in _wrap(draw, f"with {host}", host_font, width, 2):
        draw.text((margin, y), line, font=host_font, fill=(255, 255, 255))
        y += int(size / 22 * 1.3)
    if topics:
        topic_font = _font(size // 30)
        topic_line = "   ".join(f"#{topic}" for topic in topics)
        for line in _wrap(draw, topic_line, topic_font, width, 2):
            draw.text((margin, y + size // 60), line, font=topic_font, fill=(255, 255, 255))
            y += int(size / 30 * 1.4)
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=88, optimize=True)
    return out.getvalue()


def render_waveform(
    peaks: Sequence[float], *, size: tuple[int, int] = WAVEFORM_SIZE, color=(124, 58, 237)
) -> bytes:
    """A transparent PNG with one bar per peak, mirrored around the middle."""
    width, height = size
    image = Image.new("RGBA", size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    count = max(1, len(peaks))
    middle = height / 2
    for i, peak in enumerate(peaks):
        x0 = int(i * width / count)
        x1 = max(x0, int((i + 1) * width / count) - 1)
        half = max(0.5, min(1.0, float(peak)) * (middle - 1))
        draw.rectangle((x0, middle - half, x1, middle + half), fill=(*color, 255))
    out = io.BytesIO()
    image.save(out, format="PNG", optimize=True)
    return out.getvalue()
