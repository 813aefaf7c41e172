"""Preparing the photos users send: bounded, upright, stripped, stored once. Pure, no database."""

from __future__ import annotations

import hashlib
import io
import os
import struct
import zlib
from pathlib import Path

import pytest
from PIL import ExifTags, Image, ImageCms, ImageDraw

from lifeorg.errors import PermanentStepError
from lifeorg.pipeline.images import (
    MAX_BYTES,
    MODEL_LONG_SIDE,
    NORMALISED_LONG_SIDE,
    ImageRejected,
    prepare_image,
)

ROOT = Path(__file__).resolve().parent.parent
OWNER = 1001
RED, GREEN, BLUE = (255, 0, 0), (0, 255, 0), (0, 0, 255)


def _encode(image: Image.Image, fmt: str, **params: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **params)
    return buffer.getvalue()


def _photo(size: tuple[int, int]) -> Image.Image:
    """A noisy RGB picture, so JPEG sizes and timings are realistic."""
    noise = Image.effect_noise(size, 40)
    return Image.merge("RGB", (noise, noise.rotate(180), Image.new("L", size, 90)))


def _private_exif(orientation: int = 1) -> Image.Exif:
    exif = Image.Exif()
    exif[ExifTags.Base.Orientation] = orientation
    exif[ExifTags.Base.Make] = "SecretCam"
    gps = exif.get_ifd(ExifTags.IFD.GPSInfo)
    gps[ExifTags.GPS.GPSLatitudeRef] = "N"
    gps[ExifTags.GPS.GPSLatitude] = (51.0, 30.0, 15.0)
    gps[ExifTags.GPS.GPSLongitudeRef] = "W"
    gps[ExifTags.GPS.GPSLongitude] = (0.0, 7.0, 40.0)
    return exif


def _png_claiming(width: int, height: int) -> bytes:
    """A 1x1 PNG whose IHDR is patched (with a valid CRC) to claim another size."""
    png = bytearray(_encode(Image.new("L", (1, 1)), "PNG"))
    # Signature (8), IHDR length (4) and type (4), then width and height; CRC after 13 bytes.
    png[16:24] = struct.pack(">II", width, height)
    png[29:33] = struct.pack(">I", zlib.crc32(bytes(png[12:29])))
    return bytes(png)


def _stored_files(store: Path) -> list[Path]:
    return sorted(path for path in store.rglob("*") if path.is_file())


def _reopen(path: Path) -> Image.Image:
    image = Image.open(path)
    image.load()
    return image


def _close_to(actual: tuple[int, ...], expected: tuple[int, ...], tolerance: int = 24) -> bool:
    return all(abs(a - e) <= tolerance for a, e in zip(actual, expected, strict=True))


def test_a_photo_is_stored_bounded_and_without_metadata(tmp_path: Path) -> None:
    # Given a large photo carrying GPS, a camera make and a comment
    data = _encode(_photo((3000, 2000)), "JPEG", exif=_private_exif(), comment=b"taken at home")
    with Image.open(io.BytesIO(data)) as original:
        assert original.getexif().get_ifd(ExifTags.IFD.GPSInfo), "the input must carry GPS"

    # When it is prepared
    stored = prepare_image(data, tmp_path, OWNER)

    # Then both copies are bounded JPEGs in the user's content-addressed folder
    assert stored.path == tmp_path / str(OWNER) / stored.sha256[:2] / f"{stored.sha256}.jpg"
    assert stored.model_path == stored.path.with_name(f"{stored.sha256}.model.jpg")
    assert stored.sha256 == hashlib.sha256(stored.path.read_bytes()).hexdigest()
    assert (stored.width, stored.height, stored.mime) == (2560, 1707, "image/jpeg")
    assert max(stored.width, stored.height) == NORMALISED_LONG_SIDE
    normalised, model = _reopen(stored.path), _reopen(stored.model_path)
    assert normalised.format == model.format == "JPEG"
    assert normalised.size == (stored.width, stored.height)
    assert max(model.size) == MODEL_LONG_SIDE
    # And no metadata survives in either copy
    for copy, path in ((normalised, stored.path), (model, stored.model_path)):
        assert len(copy.getexif()) == 0
        assert not copy.getexif().get_ifd(ExifTags.IFD.GPSInfo)
        assert not {"exif", "icc_profile", "xmp", "comment"} & copy.info.keys()
        raw = path.read_bytes()
        assert b"Exif" not in raw
        assert b"SecretCam" not in raw
        assert b"taken at home" not in raw
    assert _stored_files(tmp_path) == sorted([stored.path, stored.model_path])


def test_exif_orientation_is_applied(tmp_path: Path) -> None:
    # Given a 40x20 picture, red on the left, blue on the right, to be turned 90° clockwise
    picture = Image.new("RGB", (40, 20), BLUE)
    picture.paste(RED, (0, 0, 20, 20))
    data = _encode(picture, "JPEG", exif=_private_exif(orientation=6), quality=95)

    stored = prepare_image(data, tmp_path, OWNER)

    # Then it stands upright: 20x40 with the left half now on top
    upright = _reopen(stored.path)
    assert upright.size == (20, 40) == (stored.width, stored.height)
    assert _close_to(upright.getpixel((10, 5)), RED)
    assert _close_to(upright.getpixel((10, 35)), BLUE)
    assert ExifTags.Base.Orientation not in upright.getexif()


def test_the_same_photo_sent_twice_is_stored_once(tmp_path: Path) -> None:
    data = _encode(_photo((300, 200)), "JPEG")

    first = prepare_image(data, tmp_path, OWNER)
    inode = first.path.stat().st_ino
    second = prepare_image(data, tmp_path, OWNER)

    assert first == second
    assert second.path.stat().st_ino == inode, "an existing copy is not rewritten"
    assert _stored_files(tmp_path) == sorted([first.path, first.model_path])


def test_each_user_has_a_separate_folder(tmp_path: Path) -> None:
    data = _encode(_photo((300, 200)), "JPEG")

    alice = prepare_image(data, tmp_path, 1)
    bob = prepare_image(data, tmp_path, 2)

    assert alice.sha256 == bob.sha256
    assert alice.path.is_relative_to(tmp_path / "1")
    assert bob.path.is_relative_to(tmp_path / "2")
    assert alice.path.is_file() and bob.path.is_file()
    assert len(_stored_files(tmp_path)) == 4


def _truncated_jpeg() -> bytes:
    data = _encode(_photo((400, 300)), "JPEG")
    return data[: len(data) // 2]


def _corrupt_png() -> bytes:
    data = bytearray(_encode(_photo((64, 64)), "PNG"))
    idat = data.index(b"IDAT")
    data[idat + 20] ^= 0xFF
    return bytes(data)


REJECTIONS = {
    "empty": (b"", "empty"),
    "random bytes": (os.urandom(4096), "not a photo"),
    "pdf": (b"%PDF-1.7\n1 0 obj\n<< /Type /Catalog >>\nendobj\ntrailer\n%%EOF\n", "not a photo"),
    "text": (b"the wifi password is hunter2\n", "not a photo"),
    "html": (b"<!DOCTYPE html><html><body><img src=x></body></html>", "not a photo"),
    "postscript": (b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\n", "not a photo"),
    "truncated jpeg": (_truncated_jpeg(), "damaged or incomplete"),
    "corrupt png": (_corrupt_png(), "damaged or incomplete"),
    "over 20 MB": (b"\xff\xd8\xff" + bytes(MAX_BYTES), r"at most 20 MB"),
    "png bomb header": (_png_claiming(100_000, 100_000), "at most 40 megapixels"),
}


@pytest.mark.parametrize(("data", "reason"), REJECTIONS.values(), ids=REJECTIONS.keys())
def test_unusable_input_is_rejected_for_good_with_a_reason(
    tmp_path: Path, data: bytes, reason: str
) -> None:
    with pytest.raises(ImageRejected, match=reason) as caught:
        prepare_image(data, tmp_path, OWNER)

    assert isinstance(caught.value, PermanentStepError)
    assert caught.value.reason == str(caught.value)
    assert _stored_files(tmp_path) == []


def test_a_real_photo_beyond_the_pixel_bound_is_rejected_before_decoding(tmp_path: Path) -> None:
    # 48 megapixels of a plausible camera size: small as a file, large once decoded
    data = _encode(Image.new("L", (8000, 6000), 128), "JPEG")
    assert len(data) < MAX_BYTES

    with pytest.raises(ImageRejected, match="too many pixels; at most 40 megapixels"):
        prepare_image(data, tmp_path, OWNER)


def test_the_pixel_bound_holds_without_pillows_own_guard(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", None)

    with pytest.raises(ImageRejected, match="is 9000 x 6000 pixels; at most 40 megapixels"):
        prepare_image(_png_claiming(9000, 6000), tmp_path, OWNER)


def _animation(fmt: str) -> bytes:
    frames = [Image.new("RGB", (32, 32), colour) for colour in (RED, GREEN, BLUE)]
    return _encode(frames[0], fmt, save_all=True, append_images=frames[1:], duration=100, loop=0)


@pytest.mark.parametrize("fmt", ["GIF", "WEBP"])
def test_an_animation_keeps_its_first_frame(tmp_path: Path, fmt: str) -> None:
    data = _animation(fmt)
    with Image.open(io.BytesIO(data)) as animation:
        assert animation.n_frames == 3

    stored = prepare_image(data, tmp_path, OWNER)

    first = _reopen(stored.path)
    assert first.size == (32, 32)
    assert _close_to(first.getpixel((16, 16)), RED)


def test_a_cmyk_jpeg_becomes_rgb(tmp_path: Path) -> None:
    data = _encode(Image.new("CMYK", (64, 64), (255, 0, 0, 0)), "JPEG")

    stored = prepare_image(data, tmp_path, OWNER)

    rgb = _reopen(stored.path)
    assert rgb.mode == "RGB"
    assert _close_to(rgb.getpixel((32, 32)), (0, 255, 255))


def test_a_16_bit_grayscale_png_is_scaled_not_clipped(tmp_path: Path) -> None:
    # A top-to-bottom ramp over the whole 16-bit range
    ramp = Image.linear_gradient("L").resize((64, 256)).convert("I").point(lambda v: v * 257)
    ramp = ramp.convert("I;16")
    data = _encode(ramp, "PNG")
    with Image.open(io.BytesIO(data)) as wide:
        assert wide.mode.startswith("I") and wide.getextrema()[1] > 255

    stored = prepare_image(data, tmp_path, OWNER)

    gray = _reopen(stored.path)
    assert gray.mode == "L"
    low, high = gray.getextrema()
    assert low < 12 and high > 243
    assert 100 < gray.getpixel((32, 128)) < 156


def test_a_palette_png_with_transparency_is_flattened_onto_white(tmp_path: Path) -> None:
    # A black square on a transparent background, like a logo or a sticker
    logo = Image.new("P", (64, 64), 0)
    logo.putpalette([0, 255, 0, 0, 0, 0])
    ImageDraw.Draw(logo).rectangle((16, 16, 47, 47), fill=1)
    data = _encode(logo, "PNG", transparency=0)

    stored = prepare_image(data, tmp_path, OWNER)

    flat = _reopen(stored.path)
    assert flat.mode == "RGB"
    assert _close_to(flat.getpixel((2, 2)), (255, 255, 255))
    assert _close_to(flat.getpixel((32, 32)), (0, 0, 0))


def test_a_one_bit_image_becomes_grayscale(tmp_path: Path) -> None:
    scan = Image.new("1", (64, 64), 1)
    ImageDraw.Draw(scan).rectangle((0, 0, 31, 63), fill=0)
    data = _encode(scan, "PNG")

    stored = prepare_image(data, tmp_path, OWNER)

    gray = _reopen(stored.path)
    assert gray.mode == "L"
    assert gray.getpixel((8, 32)) < 20
    assert gray.getpixel((56, 32)) > 235


SRGB_PROFILE = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


@pytest.mark.parametrize("profile", [SRGB_PROFILE, b"not really a profile"], ids=["srgb", "broken"])
def test_an_icc_profile_is_applied_or_dropped_never_kept(tmp_path: Path, profile: bytes) -> None:
    picture = Image.new("RGB", (64, 64), (200, 120, 40))
    data = _encode(picture, "JPEG", icc_profile=profile, comment=b"taken at home", quality=95)

    stored = prepare_image(data, tmp_path, OWNER)

    result = _reopen(stored.path)
    assert not {"icc_profile", "comment"} & result.info.keys()
    assert _close_to(result.getpixel((32, 32)), (200, 120, 40))


def test_an_owner_id_that_is_not_an_int_is_a_programming_error(tmp_path: Path) -> None:
    data = _encode(_photo((16, 16)), "JPEG")

    with pytest.raises(TypeError, match="owner_id"):
        prepare_image(data, tmp_path, "../elsewhere")  # type: ignore[arg-type]
