"""Turn the bytes of a photo a user sent into a safe, metadata-free copy on disk.

Pure image work: no database, no network. The input is untrusted, so it is bounded before it
is decoded (bytes, then pixels from the header), verified, and only then decoded. Whatever
the source, two JPEGs come out, sRGB or grayscale, with no EXIF, GPS, XMP, ICC or comments:

- the normalised copy, long side at most ``NORMALISED_LONG_SIDE``: what the user gets back;
- the model copy, long side at most ``MODEL_LONG_SIDE``: what a vision model is sent.

Transparency is flattened onto white rather than kept as PNG: one format keeps the
content-addressed layout (``<sha256>.jpg``) simple, every vision model takes JPEG, and dark
text or drawings on a transparent background (screenshots, stickers, logos) stay legible.
"""

from __future__ import annotations

import hashlib
import io
import os
import struct
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageCms, ImageOps

from lifeorg.errors import PermanentStepError

# Telegram's Bot API getFile refuses files above 20 MB, so nothing larger can reach us
# through the bot; anything that does is not from Telegram and is not read.
MAX_BYTES = 20 * 1024 * 1024
# A 20 MP phone photo (5472 x 3648) and a 24 MP camera photo pass; beyond 40 MP the decoded
# image (4 bytes a pixel in pillow) would pass 160 MB, too much for one job on a small VPS.
MAX_PIXELS = 40_000_000
# Long side of the copy we keep: Telegram's own largest photo size, so a photo sent as a photo
# loses nothing, and a receipt stays legible. The original stays reachable by its file id.
# It is also under half of a 20 MP photo's 5472 px, so JPEG draft decodes those at half
# size: about 57 MB at peak instead of 180 MB at 4096 px.
NORMALISED_LONG_SIDE = 2560
# Anthropic's and OpenAI's vision models downscale anything larger than about 1568 px.
MODEL_LONG_SIDE = 1568
# Visually lossless for photos at about a third of the size of quality 95.
NORMALISED_QUALITY = 88
# The model copy is read once by a model, never looked at closely by a person.
MODEL_QUALITY = 85
JPEG_MIME = "image/jpeg"
# Formats a phone or a desktop sends. Everything else (EPS would run Ghostscript, exotic
# formats have little-tested decoders) is refused by name before any decoder sees it.
# "JPEG" also opens multi-picture (MPO) JPEGs from cameras and phones.
ACCEPTED_FORMATS = ("JPEG", "PNG", "GIF", "WEBP", "BMP", "TIFF")
# What flattened transparency becomes: a page, like the chat background most people use.
BACKGROUND = (255, 255, 255)

# Pillow's own guard warns above MAX_IMAGE_PIXELS and refuses above twice that; make it agree
# with ours so a header it reads somewhere we do not check (a later frame, a thumbnail) is
# bounded too. The worker only decodes images here, so this process-wide setting is ours.
Image.MAX_IMAGE_PIXELS = MAX_PIXELS

# What pillow raises for malformed input; OSError includes "image file is truncated".
_DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, IndexError, struct.error)
_SRGB = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))


class ImageRejected(PermanentStepError):
    """The bytes are not a photo we can keep; the message can be shown to the user."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class StoredImage:
    """Where a prepared photo lives and what it is."""

    path: Path
    model_path: Path
    sha256: str
    width: int
    height: int
    mime: str


def prepare_image(data: bytes, store_dir: Path, owner_id: int) -> StoredImage:
    """Normalise a photo and store it once per user and content; raises ImageRejected.

    Animated GIF and WebP keep their first frame only; later frames are never decoded.
    """
    if not isinstance(owner_id, int) or isinstance(owner_id, bool):
        # The id becomes a directory name: only an integer cannot climb out of store_dir.
        raise TypeError(f"owner_id must be an int, not {type(owner_id).__name__}")
    image = _decode(data)
    normalised = _encode(image, NORMALISED_QUALITY)
    image.thumbnail((MODEL_LONG_SIDE, MODEL_LONG_SIDE))
    model = _encode(image, MODEL_QUALITY)

    sha256 = hashlib.sha256(normalised).hexdigest()
    folder = store_dir / str(owner_id) / sha256[:2]
    path = folder / f"{sha256}.jpg"
    model_path = folder / f"{sha256}.model.jpg"
    # Disk errors here are not the user's fault, so they stay OSErrors and the step retries.
    _write_once(model_path, model)
    _write_once(path, normalised)
    width, height = _size_of(normalised)
    return StoredImage(path, model_path, sha256, width, height, JPEG_MIME)


def _decode(data: bytes) -> Image.Image:
    """Decode to an upright, metadata-free L or RGB image within the size bound."""
    if not data:
        raise ImageRejected("The photo is empty (0 bytes); please send it again.")
    if len(data) > MAX_BYTES:
        raise ImageRejected(
            f"The file is {len(data) / 1024 / 1024:.1f} MB; photos can be at most "
            f"{MAX_BYTES // 1024 // 1024} MB."
        )
    with warnings.catch_warnings():
        # Only within this call: pillow's bomb warning becomes an error we can reject.
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            with Image.open(io.BytesIO(data), formats=ACCEPTED_FORMATS) as probe:
                _check_pixels(probe.size)
                probe.verify()
            # verify() leaves the image unusable, so decode from a second handle.
            with Image.open(io.BytesIO(data), formats=ACCEPTED_FORMATS) as image:
                return _normalise(image)
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            raise ImageRejected(_too_many_pixels_reason(None)) from exc
        except Image.UnidentifiedImageError as exc:
            raise ImageRejected(
                "This is not a photo I can read; send a JPEG, PNG, GIF, WebP, BMP or TIFF image."
            ) from exc
        except _DECODE_ERRORS as exc:
            raise ImageRejected(
                "The photo is damaged or incomplete and cannot be read; please send it again."
            ) from exc


def _check_pixels(size: tuple[int, int]) -> None:
    """Refuse images whose header promises more pixels than we decode."""
    if size[0] * size[1] > MAX_PIXELS:
        raise ImageRejected(_too_many_pixels_reason(size))


def _too_many_pixels_reason(size: tuple[int, int] | None) -> str:
    limit = f"at most {MAX_PIXELS // 1_000_000} megapixels are accepted"
    if size is None:
        return f"The image has too many pixels; {limit}."
    return f"The image is {size[0]} x {size[1]} pixels; {limit}."


def _normalise(image: Image.Image) -> Image.Image:
    """Shrink, turn upright, convert to sRGB L or RGB and drop every piece of metadata."""
    icc_profile = image.info.get("icc_profile")
    # Only JPEG honours draft: decode at 1/2, 1/4 or 1/8 scale when that still covers the
    # target, so a huge photo never exists at full size in memory.
    image.draft(None, _fit_within(image.size, NORMALISED_LONG_SIDE))
    image.load()
    if image.mode in ("RGB", "L", "CMYK"):
        # Photos: shrink first, so turning and colour conversion work on the small image.
        image.thumbnail((NORMALISED_LONG_SIDE, NORMALISED_LONG_SIDE))
    # In place: the copy it would otherwise return is one more full image in memory.
    ImageOps.exif_transpose(image, in_place=True)
    converted = _to_srgb(image, icc_profile) if image.mode in ("RGB", "CMYK") else None
    converted = converted or _to_standard_mode(image)
    # Palette, 16-bit and alpha images are shrunk only now, once they are 8-bit L or RGB,
    # because pillow resizes palette images by nearest neighbour.
    converted.thumbnail((NORMALISED_LONG_SIDE, NORMALISED_LONG_SIDE))
    # A new image carries no info dict, so no EXIF, XMP, ICC or comment reaches the encoder.
    fresh = Image.new(converted.mode, converted.size)
    fresh.paste(converted)
    return fresh


def _fit_within(size: tuple[int, int], long_side: int) -> tuple[int, int]:
    """The size that keeps the aspect ratio with the long side at most ``long_side``."""
    scale = min(1.0, long_side / max(size))
    return max(1, round(size[0] * scale)), max(1, round(size[1] * scale))


def _to_srgb(image: Image.Image, icc_profile: bytes | None) -> Image.Image | None:
    """Convert an RGB or CMYK image from its embedded ICC profile to sRGB, if it has one.

    Converting rather than dropping the profile keeps Display P3 photos (iPhones) and
    print CMYK from looking washed out once the profile is gone.
    """
    if not icc_profile:
        return None
    try:
        source = ImageCms.ImageCmsProfile(io.BytesIO(icc_profile))
        return ImageCms.profileToProfile(image, source, _SRGB, outputMode="RGB")
    except (ImageCms.PyCMSError, OSError, ValueError):
        # A broken or mismatched profile: the pixels are still fine, read them as sRGB.
        return None


def _to_standard_mode(image: Image.Image) -> Image.Image:
    """Convert any pillow mode to 8-bit L or RGB, flattening transparency onto white."""
    mode = image.mode
    if mode in ("L", "RGB"):
        return image
    if mode == "1":
        return image.convert("L")
    if mode.startswith("I") or mode == "F":
        return _to_8_bit_gray(image)
    if mode == "P" and "transparency" not in image.info:
        return image.convert("RGB")
    if mode in ("P", "PA", "LA", "La", "RGBA", "RGBa"):
        rgba = image.convert("RGBA")
        flat = Image.new("RGB", rgba.size, BACKGROUND)
        flat.paste(rgba, mask=rgba.getchannel("A"))
        return flat
    # CMYK without a usable profile, YCbCr, LAB, HSV.
    return image.convert("RGB")


def _to_8_bit_gray(image: Image.Image) -> Image.Image:
    """Scale 16-bit or 32-bit grayscale into 0-255; a plain convert would clip it to white."""
    wide = image.convert("I") if image.mode != "F" else image
    low, high = wide.getextrema()
    if image.mode.startswith("I;16") or (low >= 0 and 255 < high <= 65535):
        # The full 16-bit range, so a dark 16-bit photo stays dark.
        scale, offset = 255 / 65535, 0.0
    elif low >= 0 and high <= 255:
        scale, offset = 1.0, 0.0
    else:
        # Floats or values beyond 16 bits have no fixed range: stretch what is there.
        scale = 255 / (high - low) if high > low else 1.0
        offset = -low * scale
    return wide.point(lambda value: value * scale + offset).convert("L")


def _encode(image: Image.Image, quality: int) -> bytes:
    """JPEG bytes of an L or RGB image with nothing but pixels in them."""
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=quality)
    return buffer.getvalue()


def _size_of(jpeg: bytes) -> tuple[int, int]:
    """Width and height of our own JPEG, read from its header."""
    with Image.open(io.BytesIO(jpeg)) as image:
        return image.size


def _write_once(path: Path, content: bytes) -> None:
    """Write ``content`` to ``path`` atomically unless it is already there."""
    if path.exists():
        # Content-addressed: an existing file already holds exactly these bytes.
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as file:
            file.write(content)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
