"""The acceptance rules for uploaded images, on real bytes: Pillow-written images, cut and forged ones."""

from __future__ import annotations

import io
import struct
import zlib

import pytest
from lingxi.events._values import DottedCode
from lingxi.images import MAX_IMAGE_SIDE_PX, ImageInfo, ImageRejected, inspect_image, open_image
from PIL import Image, ImageDraw, ImageFile
from pydantic import TypeAdapter


def photo(width: int = 400, height: int = 300) -> Image.Image:
    """Something like a photo: noise over a gradient, with a few shapes (it compresses like one)."""
    gradient = Image.linear_gradient("L").resize((width, height))
    noise = Image.effect_noise((width, height), 40)
    image = Image.merge("RGB", (gradient, noise, gradient.transpose(Image.Transpose.FLIP_LEFT_RIGHT)))
    draw = ImageDraw.Draw(image)
    draw.ellipse((width // 4, height // 4, width // 2, height // 2), fill=(200, 30, 30))
    draw.rectangle((width // 2, height // 2, width - 20, height - 20), fill=(20, 160, 40))
    return image


def encode(image: Image.Image, fmt: str, **options: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def png_header_only(width: int, height: int) -> bytes:
    """A PNG whose IHDR claims ``width`` × ``height`` but which holds almost no pixel data."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8-bit RGB
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\x00" * 64))
        + chunk(b"IEND", b"")
    )


def rejected(data: bytes, **limits: int) -> ImageRejected:
    with pytest.raises(ImageRejected) as caught:
        inspect_image(data, **limits)
    return caught.value


@pytest.mark.parametrize(
    ("fmt", "content_type"),
    [("JPEG", "image/jpeg"), ("PNG", "image/png"), ("WEBP", "image/webp"), ("HEIF", "image/heic")],
)
def test_each_accepted_format_is_recognised_from_its_bytes(fmt: str, content_type: str) -> None:
    data = encode(photo(400, 300), fmt)
    assert inspect_image(data) == ImageInfo(content_type=content_type, width=400, height=300)  # type: ignore[arg-type]
    opened = open_image(data)
    assert (opened.mode, opened.size) == ("RGB", (400, 300))


def test_a_jpeg_carrying_several_pictures_is_a_jpeg() -> None:
    # Many phones write MPO (a JPEG with extra pictures); Pillow names it apart.
    data = encode(photo(), "MPO", save_all=True, append_images=[photo(200, 150)])
    assert Image.open(io.BytesIO(data)).format == "MPO"
    assert inspect_image(data).content_type == "image/jpeg"


def test_an_empty_body_is_refused() -> None:
    error = rejected(b"")
    assert error.reason_code == "image.empty"
    assert "empty" in str(error)


def test_a_file_over_the_byte_limit_is_refused_naming_the_limit() -> None:
    data = encode(photo(), "PNG")
    error = rejected(data, max_bytes=len(data) - 1)
    assert error.reason_code == "image.too_large"
    assert f"{len(data) - 1:,} bytes" in str(error)
    assert inspect_image(data, max_bytes=len(data)).content_type == "image/png"


@pytest.mark.parametrize(
    ("data", "named"),
    [
        (b"Just some text, not a picture at all.\n" * 5, "no image signature"),
        (encode(photo(), "GIF"), "GIF"),
        (encode(photo(), "BMP"), "BMP"),
        (encode(photo(), "TIFF"), "TIFF"),
    ],
    ids=["text", "gif", "bmp", "tiff"],
)
def test_bytes_of_another_kind_are_an_unsupported_type(data: bytes, named: str) -> None:
    error = rejected(data)
    assert error.reason_code == "image.unsupported_type"
    assert "JPEG, PNG, WebP or HEIC" in str(error)
    assert named in str(error)


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP", "HEIF"])
@pytest.mark.parametrize("keep", [0.5, 0.98])
def test_a_truncated_file_is_refused(fmt: str, keep: float) -> None:
    data = encode(photo(), fmt)
    error = rejected(data[: int(len(data) * keep)])
    assert error.reason_code == "image.truncated", str(error)
    assert "truncated" in str(error)


def test_a_jpeg_missing_only_its_end_marker_is_truncated() -> None:
    data = encode(photo(), "JPEG")
    assert data.endswith(b"\xff\xd9")
    assert rejected(data[:-2]).reason_code == "image.truncated"


def test_a_png_cut_after_its_last_pixel_row_is_truncated() -> None:
    # Decoding alone reads every pixel of this file; only the chunk walk sees IEND is missing.
    data = encode(photo(), "PNG")
    cut = data[: data.rindex(b"IEND") - 4]
    Image.open(io.BytesIO(cut)).load()
    assert rejected(cut).reason_code == "image.truncated"


def test_a_corrupt_header_is_undecodable() -> None:
    error = rejected(b"\xff\xd8\xff" + b"garbage after the JPEG signature " * 4)
    assert error.reason_code == "image.undecodable"
    assert "JPEG" in str(error)


def test_a_decompression_bomb_is_refused_from_its_header() -> None:
    # 100000 x 100000 pixels claimed by a 100-byte file. Had the pixels been decoded, the missing data
    # would have made it "truncated": the reason code shows the header alone decided.
    bomb = png_header_only(100_000, 100_000)
    assert len(bomb) < 200
    error = rejected(bomb)
    assert error.reason_code == "image.too_many_pixels"
    assert "decompression bomb" in str(error)


def test_too_many_pixels_below_pillows_own_bomb_limit_is_refused_too() -> None:
    error = rejected(png_header_only(8000, 8000))  # 64 MP: Pillow alone would try to decode it
    assert error.reason_code == "image.too_many_pixels"
    assert "8000x8000" in str(error)
    assert "50,000,000" in str(error)
    just_over = rejected(png_header_only(300, 300), max_pixels=300 * 300 - 1)
    assert just_over.reason_code == "image.too_many_pixels"


def test_a_side_longer_than_the_limit_is_refused() -> None:
    data = encode(Image.new("L", (MAX_IMAGE_SIDE_PX + 1, 8), 255), "PNG")
    error = rejected(data)
    assert error.reason_code == "image.too_wide"
    assert str(MAX_IMAGE_SIDE_PX) in str(error)
    assert rejected(encode(photo(400, 300), "JPEG"), max_side=399).reason_code == "image.too_wide"


def test_an_image_with_no_pixels_is_refused() -> None:
    error = rejected(png_header_only(0, 300))
    assert error.reason_code == "image.zero_size"
    assert "0x300" in str(error)


def test_the_size_is_the_upright_size_after_the_exif_orientation() -> None:
    stored = photo(400, 300)
    stored.paste((255, 255, 0), (0, 0, 40, 40))  # a yellow square at the stored top-left corner
    exif = Image.Exif()
    exif[0x0112] = 6  # stored landscape; upright is the stored image turned 90° clockwise
    data = encode(stored, "JPEG", exif=exif, quality=95)

    assert inspect_image(data) == ImageInfo(content_type="image/jpeg", width=300, height=400)
    upright = open_image(data)
    assert upright.size == (300, 400)
    assert upright.getpixel((20, 20)) != upright.getpixel((300 - 20, 20))
    red, green, blue = upright.getpixel((300 - 20, 20))  # type: ignore[misc]
    # The stored top-left corner is now the top-right one.
    assert (red > 200, green > 200, blue < 80) == (True, True, True)


def test_transparent_parts_come_out_white_and_greyscale_as_rgb() -> None:
    clear = Image.new("RGBA", (60, 40), (0, 0, 0, 0))
    ImageDraw.Draw(clear).rectangle((10, 10, 30, 30), fill=(0, 0, 0, 255))
    opened = open_image(encode(clear, "PNG"))
    assert opened.mode == "RGB"
    assert opened.getpixel((2, 2)) == (255, 255, 255)
    assert opened.getpixel((20, 20)) == (0, 0, 0)

    grey = open_image(encode(Image.new("L", (20, 20), 90), "PNG"))
    assert (grey.mode, grey.getpixel((5, 5))) == ("RGB", (90, 90, 90))


def test_sixteen_bit_greyscale_is_scaled_not_clipped() -> None:
    deep = Image.new("I;16", (20, 20), 32768)  # mid-grey in 16 bits
    opened = open_image(encode(deep, "PNG"))
    assert opened.getpixel((5, 5)) == (128, 128, 128)


def test_every_reason_code_is_a_dotted_code_and_every_message_fits_a_failure_event() -> None:
    codes = TypeAdapter(DottedCode)
    cases = [
        b"",
        b"text",
        png_header_only(100_000, 100_000),
        png_header_only(0, 1),
        encode(photo(), "JPEG")[:500],
        b"\xff\xd8\xff" + b"x" * 40,
    ]
    for data in cases:
        error = rejected(data)
        assert codes.validate_python(error.reason_code) == error.reason_code
        assert error.reason_code == error.reason_code.lower()
        assert 0 < len(str(error)) <= 500  # AnalysisFailed.detail's limit


def test_truncated_images_stay_refused_process_wide(monkeypatch: pytest.MonkeyPatch) -> None:
    import lingxi.images  # noqa: F401  (importing it must not switch truncated loading on)

    assert ImageFile.LOAD_TRUNCATED_IMAGES is False
    monkeypatch.setattr(ImageFile, "LOAD_TRUNCATED_IMAGES", True)
    with pytest.raises(RuntimeError, match="LOAD_TRUNCATED_IMAGES"):
        inspect_image(encode(photo(), "JPEG"))
