"""What an uploaded image must be to be accepted, checked from its bytes alone.

The gateway runs :func:`inspect_image` before it stores or publishes anything; vision runs
:func:`open_image` on the bytes it reads back from Redis, so both sides apply the same rules:

- not empty and at most ``max_bytes`` long;
- really a JPEG, PNG, WebP or HEIC image, as Pillow reads the bytes (a client's content type is never
  trusted);
- at most ``max_pixels`` pixels and ``max_side`` pixels a side, judged from the header before any pixel
  is decoded, so a decompression bomb (a tiny file claiming huge dimensions) costs nothing;
- decodable to the end: a truncated or corrupt file is refused (Pillow's ``LOAD_TRUNCATED_IMAGES``
  stays False; PNG chunks are checksummed to the last one).

Width and height are the upright size, after the EXIF orientation is applied (a phone photo taken in
portrait is often stored landscape with an orientation tag). HEIC images come out of libheif already
upright.
"""

from __future__ import annotations

import io
import re
import struct
from dataclasses import dataclass
from typing import Final

import pillow_heif
from PIL import ExifTags, Image, ImageFile, ImageOps, UnidentifiedImageError

from lingxi.events.vision import MAX_IMAGE_BYTES, MAX_IMAGE_SIDE_PX, ImageContentType

__all__ = [
    "MAX_IMAGE_BYTES",
    "MAX_IMAGE_PIXELS",
    "MAX_IMAGE_SIDE_PX",
    "ImageInfo",
    "ImageRejected",
    "inspect_image",
    "open_image",
]

MAX_IMAGE_PIXELS: Final = 50_000_000
"""Most pixels an image may have (width × height): 50 megapixels. Every phone photo up to a 50 MP
sensor's full-resolution mode (8160 × 6120) passes; decoded as RGB that is at most 150 MB, which bounds
what one image can cost a vision replica. Anything larger in 10 MiB is a decompression bomb or an
image no phone sends."""

# HEIC through pillow-heif: registered once, when this module is first imported.
pillow_heif.register_heif_opener()

# Pillow's format names for the accepted types. MPO is a JPEG carrying more than one picture (many
# phones' portrait and wide shots); Pillow names it apart, its first picture is a plain JPEG.
_CONTENT_TYPES: Final[dict[str, ImageContentType]] = {
    "JPEG": "image/jpeg",
    "MPO": "image/jpeg",
    "PNG": "image/png",
    "WEBP": "image/webp",
    "HEIF": "image/heic",
}
# Only these plugins ever parse the bytes: exotic formats' parsers never see untrusted input.
_PILLOW_FORMATS: Final = ("JPEG", "PNG", "WEBP", "HEIF")
_ACCEPTED: Final = "a JPEG, PNG, WebP or HEIC image"
_NAMES: Final[dict[ImageContentType, str]] = {
    "image/jpeg": "JPEG",
    "image/png": "PNG",
    "image/webp": "WebP",
    "image/heic": "HEIC",
}

_PNG_SIGNATURE: Final = b"\x89PNG\r\n\x1a\n"
_HEIF_BRANDS: Final = frozenset({b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"mif1", b"msf1"})
_AVIF_BRANDS: Final = frozenset({b"avif", b"avis"})
# Orientations (EXIF tag 274) whose upright image is the stored one turned a quarter.
_QUARTER_TURNS: Final = frozenset({5, 6, 7, 8})
# Words Pillow, libwebp and libheif use when the bytes stop early.
_TRUNCATION_WORDS: Final = ("truncated", "end of file", "premature end", "incomplete", "unexpected end")


class ImageRejected(Exception):
    """An image that is not accepted. ``reason_code`` is machine-readable (``image.truncated``); the
    message says what is wrong and what the limit is."""

    def __init__(self, reason_code: str, message: str) -> None:
        super().__init__(message)
        self.reason_code = reason_code


@dataclass(frozen=True, slots=True)
class ImageInfo:
    """An accepted image: its real type, and its upright size in pixels."""

    content_type: ImageContentType
    width: int
    height: int


def inspect_image(
    data: bytes,
    *,
    max_bytes: int = MAX_IMAGE_BYTES,
    max_side: int = MAX_IMAGE_SIDE_PX,
    max_pixels: int = MAX_IMAGE_PIXELS,
) -> ImageInfo:
    """Check ``data`` against the acceptance rules (the module's docstring lists them) and describe it.

    Decodes the whole image once, to be sure it is complete. Raises :class:`ImageRejected`.
    """
    info, _ = _read(data, max_bytes=max_bytes, max_side=max_side, max_pixels=max_pixels)
    return info


def open_image(
    data: bytes,
    *,
    max_bytes: int = MAX_IMAGE_BYTES,
    max_side: int = MAX_IMAGE_SIDE_PX,
    max_pixels: int = MAX_IMAGE_PIXELS,
) -> Image.Image:
    """The image in ``data``, checked as :func:`inspect_image` does, decoded, turned upright by its EXIF
    orientation and converted to RGB (transparent parts over white, as a viewer shows them).

    Raises :class:`ImageRejected`.
    """
    _, image = _read(data, max_bytes=max_bytes, max_side=max_side, max_pixels=max_pixels)
    try:
        upright = ImageOps.exif_transpose(image)
    except Exception:  # unreadable EXIF: _read took it as stored upright, so do the same here
        upright = image
    return _to_rgb(upright)


def _read(data: bytes, *, max_bytes: int, max_side: int, max_pixels: int) -> tuple[ImageInfo, Image.Image]:
    """The checks, in order of cost; the image comes back fully decoded."""
    if ImageFile.LOAD_TRUNCATED_IMAGES:
        # Something in this process switched Pillow to half-loading cut files: refuse to judge.
        raise RuntimeError("PIL.ImageFile.LOAD_TRUNCATED_IMAGES is True: truncated images would pass")
    if not data:
        raise ImageRejected("image.empty", "the image is empty (0 bytes)")
    if len(data) > max_bytes:
        raise ImageRejected(
            "image.too_large", f"the image is {len(data):,} bytes; the limit is {max_bytes:,} bytes"
        )
    try:
        # Reads the header only: no pixel is decoded yet.
        image = Image.open(io.BytesIO(data), formats=_PILLOW_FORMATS)
    except Image.DecompressionBombError as exc:  # Pillow's own, far larger limit: its message has the count
        claimed = re.search(r"\((\d+) pixels\)", str(exc))
        what = f"its header says {int(claimed.group(1)):,} pixels" if claimed else "its header says billions"
        raise _too_many_pixels(what, max_pixels) from exc
    except Exception as exc:  # any parser error on untrusted bytes means "not an image we can read"
        raise _unreadable(data, exc) from exc

    content_type = _CONTENT_TYPES.get(str(image.format))
    if content_type is None:  # a plugin named something else than asked for: not an accepted type
        raise ImageRejected(
            "image.unsupported_type", f"the bytes are not {_ACCEPTED} (Pillow read {image.format})"
        )
    width, height = image.size
    if width == 0 or height == 0:
        raise ImageRejected("image.zero_size", f"the image has no pixels (its header says {width}x{height})")
    if width * height > max_pixels:
        raise _too_many_pixels(f"its header says {width}x{height}, {width * height:,} pixels", max_pixels)
    if max(width, height) > max_side:
        raise ImageRejected(
            "image.too_wide",
            f"the image is {width}x{height} pixels; no side may be longer than {max_side} pixels",
        )

    kind = _NAMES[content_type]
    if image.format in ("JPEG", "MPO") and _JPEG_END not in data:
        # libjpeg reads a JPEG without its end marker as far as the scan goes and only sometimes asks
        # for more (it depends on the last bits): decide it here, the same way every time.
        raise ImageRejected(
            "image.truncated", f"the {kind} image is truncated: its bytes end before the image does"
        )
    try:
        if image.format == "PNG":
            # verify() walks every chunk to IEND and checks its CRC: it finds a file cut after the
            # last pixel row that decoding alone lets through. It uses up its image object.
            Image.open(io.BytesIO(data), formats=("PNG",)).verify()
        image.load()
    except Exception as exc:
        if _looks_truncated(exc):
            raise ImageRejected(
                "image.truncated", f"the {kind} image is truncated: its bytes end before the image does"
            ) from exc
        raise ImageRejected("image.undecodable", f"the {kind} image cannot be decoded{_detail(exc)}") from exc

    if _orientation(image) in _QUARTER_TURNS:
        width, height = height, width
    return ImageInfo(content_type=content_type, width=width, height=height), image


_JPEG_END = b"\xff\xd9"


def _too_many_pixels(what: str, max_pixels: int) -> ImageRejected:
    return ImageRejected(
        "image.too_many_pixels",
        f"the image has too many pixels ({what}); the limit is {max_pixels:,} pixels "
        "(a small file claiming huge dimensions is a decompression bomb)",
    )


def _unreadable(data: bytes, exc: Exception) -> ImageRejected:
    """Why Pillow could not even read the header: not an accepted type, or an accepted type that is
    broken (cut short, zero-sized, corrupt)."""
    claimed = _claimed_type(data)
    if claimed is None:
        return ImageRejected(
            "image.unsupported_type",
            f"the bytes are not {_ACCEPTED} (they look like {_other_kind(data)})",
        )
    kind = _NAMES[claimed]
    if claimed == "image/png" and len(data) >= 24 and data[12:16] == b"IHDR":
        width, height = struct.unpack(">II", data[16:24])
        if width == 0 or height == 0:
            return ImageRejected(
                "image.zero_size", f"the image has no pixels (its header says {width}x{height})"
            )
    if _looks_truncated(exc) or _riff_truncated(data):
        return ImageRejected(
            "image.truncated", f"the {kind} image is truncated: its bytes end before the image does"
        )
    return ImageRejected(
        "image.undecodable", f"the bytes start like a {kind} image but cannot be read{_detail(exc)}"
    )


def _detail(exc: Exception) -> str:
    """Pillow's own words, when they say more than "cannot identify image file <object at ...>"."""
    if isinstance(exc, UnidentifiedImageError) or not str(exc).strip():
        return ""
    return f" ({str(exc).strip()[:200]})"


def _claimed_type(data: bytes) -> ImageContentType | None:
    """The accepted type whose signature the bytes start with, if any."""
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data.startswith(_PNG_SIGNATURE):
        return "image/png"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    if data[4:8] == b"ftyp" and data[8:12] in _HEIF_BRANDS:
        return "image/heic"
    return None


def _other_kind(data: bytes) -> str:
    """A name for bytes that are not an accepted image, for the message."""
    if data.startswith((b"GIF87a", b"GIF89a")):
        return "a GIF image"
    if data.startswith(b"BM"):
        return "a BMP image"
    if data.startswith((b"II*\x00", b"MM\x00*")):
        return "a TIFF image"
    if data[4:8] == b"ftyp" and data[8:12] in _AVIF_BRANDS:
        return "an AVIF image"
    if data.startswith(b"%PDF"):
        return "a PDF document"
    return "something else: no image signature"


def _looks_truncated(exc: BaseException) -> bool:
    message = str(exc).lower()
    return isinstance(exc, EOFError) or any(word in message for word in _TRUNCATION_WORDS)


def _riff_truncated(data: bytes) -> bool:
    """A WebP whose RIFF header promises more bytes than there are (libwebp only says it cannot
    create a decoder)."""
    if data[:4] != b"RIFF" or len(data) < 8:
        return False
    (riff_size,) = struct.unpack("<I", data[4:8])
    return bool(riff_size + 8 > len(data))


def _orientation(image: Image.Image) -> int:
    """The EXIF orientation (1 = stored upright); 1 when the EXIF block cannot be read."""
    try:
        value = image.getexif().get(ExifTags.Base.Orientation, 1)
    except Exception:
        return 1
    return value if isinstance(value, int) else 1


def _to_rgb(image: Image.Image) -> Image.Image:
    if image.mode.startswith("I;16"):
        # 16-bit greyscale: scale to 8 bits (a plain convert would clip everything above 255 to white).
        image = image.convert("I").point(lambda value: value / 256).convert("L")
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB")
    return image if image.mode == "RGB" else image.convert("RGB")
