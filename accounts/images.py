"""Avatar processing with Pillow: validate, strip metadata, crop square, re-encode."""

import io
from dataclasses import dataclass

from django.utils.translation import gettext as _
from PIL import Image, ImageOps, UnidentifiedImageError

# Decoded pixels we are willing to hold; larger claims are decompression bombs.
MAX_PIXELS = 40_000_000
ALLOWED_FORMATS = {"JPEG", "PNG", "GIF", "WEBP"}


class AvatarError(ValueError):
    pass


@dataclass(frozen=True)
class Thumbnail:
    size: int
    data: bytes


def make_avatar_thumbnails(raw: bytes, sizes: tuple[int, ...], *, max_bytes: int) -> list[Thumbnail]:
    """Return square JPEG thumbnails of `raw`, one per size, with no EXIF or other metadata.

    Raise AvatarError for anything that is not a reasonable image.
    """
    if len(raw) > max_bytes:
        raise AvatarError(
            _("The image is too large: at most %(megabytes)s MB.") % {"megabytes": max_bytes // (1024 * 1024)}
        )
    try:
        with Image.open(io.BytesIO(raw)) as probe:
            if probe.format not in ALLOWED_FORMATS:
                raise AvatarError(_("Upload a JPEG, PNG, GIF or WebP image."))
            width, height = probe.size
            if width * height > MAX_PIXELS:
                raise AvatarError(_("The image has too many pixels."))
            probe.verify()
        with Image.open(io.BytesIO(raw)) as image:
            image.draft("RGB", (max(sizes) * 2, max(sizes) * 2))
            image = ImageOps.exif_transpose(image)
            image = image.convert("RGB")
    except AvatarError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise AvatarError(_("The image has too many pixels.")) from None
    except UnidentifiedImageError:
        raise AvatarError(_("The file is not an image we can read.")) from None
    except (OSError, SyntaxError, ValueError):
        raise AvatarError(_("The image is damaged or not an image.")) from None

    thumbnails = []
    for size in sizes:
        square = ImageOps.fit(image, (size, size), method=Image.Resampling.LANCZOS)
        out = io.BytesIO()
        # A fresh image carries no EXIF, ICC or comments: only pixels are written.
        square.save(out, format="JPEG", quality=85, optimize=True)
        thumbnails.append(Thumbnail(size=size, data=out.getvalue()))
    return thumbnails
