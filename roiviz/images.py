"""Safe decoding of user-supplied images into RGB arrays.

Everything here is a pure function of its arguments (no Streamlit, no file system).
The one entry point for untrusted bytes is :func:`decode_image`; it either returns a
well-formed ``uint8 [H, W, 3]`` RGB array or raises :class:`ValueError` with a message
that can be shown to the user as is (it says what is wrong and what to do, and never
contains a traceback).

Safety measures, in the order they are applied:

* only a fixed allow-list of Pillow formats is tried (:data:`ALLOWED_FORMATS`), so an
  upload can never reach e.g. the EPS plugin, which shells out to Ghostscript;
* the size the file *declares* is checked against ``max_pixels`` before any pixel data
  is decoded, and Pillow's own decompression-bomb warning/error are turned into
  ``ValueError`` (Pillow's global ``Image.MAX_IMAGE_PIXELS`` is never modified);
* ``img.load()`` is called explicitly while ``ImageFile.LOAD_TRUNCATED_IMAGES`` is
  ``False`` (Pillow's default, which this module never changes), so a truncated file
  raises instead of coming back half grey.
"""

from __future__ import annotations

import io
import re
import threading
import warnings

import numpy as np
from PIL import Image, ImageFile, ImageOps, UnidentifiedImageError

__all__ = [
    "ALLOWED_FORMATS",
    "MAX_IMAGE_PIXELS",
    "decode_image",
    "describe_image",
]

#: Largest accepted image, in pixels (width x height): 16,777,216 = 16.8 megapixels.
MAX_IMAGE_PIXELS: int = 4096 * 4096

#: Pillow format names that :func:`decode_image` will try (those missing from the
#: installed Pillow build are skipped). Multi-picture JPEGs from phone cameras open
#: through the JPEG entry and are reported by Pillow as format "MPO".
ALLOWED_FORMATS: tuple[str, ...] = ("PNG", "JPEG", "GIF", "BMP", "WEBP", "TIFF", "PPM")

_FORMATS_FOR_USERS = "PNG, JPEG, GIF, BMP, WebP or TIFF"

# ``warnings.catch_warnings`` mutates process-global state and is not thread-safe in
# Python 3.11; Streamlit runs each session in its own thread, so decoding (which is
# short) is serialised by this lock.
_DECODE_LOCK = threading.Lock()

# Modes that carry an alpha channel; they are composited on a white background.
_ALPHA_MODES = frozenset({"RGBA", "RGBa", "LA", "La", "PA"})

_PILLOW_BOMB_RE = re.compile(r"Image size \((\d+) pixels\)")


def _available_formats() -> list[str]:
    """The allowed formats that this Pillow build can open."""
    Image.init()
    return [fmt for fmt in ALLOWED_FORMATS if fmt in Image.OPEN]


def _format_pixels(pixels: int) -> str:
    """Human-readable pixel count, e.g. ``16.8 megapixels`` or ``2.5 gigapixels``."""
    if pixels >= 1_000_000_000:
        return f"{pixels / 1e9:.1f} gigapixels"
    if pixels >= 1_000_000:
        return f"{pixels / 1e6:.1f} megapixels"
    return f"{pixels:,} pixels"


def _short_reason(exc: BaseException) -> str:
    """First line of an exception message, trimmed, for appending to a user message."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text if len(text) <= 160 else text[:157] + "..."


def _too_large_message(width: int, height: int, max_pixels: int) -> str:
    return (
        f"The image declares {width} x {height} pixels ({_format_pixels(width * height)}); "
        f"the limit is {_format_pixels(max_pixels)}. Resize it first "
        f"(for example to at most {int(max_pixels**0.5)} x {int(max_pixels**0.5)})."
    )


def _bomb_message(exc: BaseException, max_pixels: int) -> str:
    match = _PILLOW_BOMB_RE.search(str(exc))
    declared = _format_pixels(int(match.group(1))) if match else "a size"
    pillow_limit = Image.MAX_IMAGE_PIXELS
    limit = max_pixels if pillow_limit is None else min(max_pixels, int(pillow_limit))
    return (
        f"The image declares {declared}, over the decoding limit (it could be a "
        f"decompression bomb), so it was not decoded. Resize it to at most "
        f"{_format_pixels(limit)} first."
    )


def _alpha_on_white(img: Image.Image) -> np.ndarray:
    """Composite an image with alpha on white. Returns ``uint8 [H, W, 3]``."""
    rgba = np.asarray(img.convert("RGBA"), dtype=np.float32)  # [H, W, 4], 0..255
    alpha = rgba[..., 3:4] / 255.0
    rgb = rgba[..., :3] * alpha + 255.0 * (1.0 - alpha)
    return np.clip(np.rint(rgb), 0, 255).astype(np.uint8)


def _gray_to_rgb(gray: np.ndarray) -> np.ndarray:
    """``uint8 [H, W]`` -> ``uint8 [H, W, 3]`` by repeating the channel."""
    return np.repeat(gray[..., None], 3, axis=2)


def _scale_min_max(values: np.ndarray) -> np.ndarray:
    """Scale a real ``[H, W]`` array linearly so min -> 0 and max -> 255 (constant -> 0)."""
    values = values.astype(np.float64)
    lo, hi = float(values.min()), float(values.max())
    if hi <= lo:
        return np.zeros(values.shape, dtype=np.uint8)
    return np.clip(np.rint((values - lo) * (255.0 / (hi - lo))), 0, 255).astype(np.uint8)


def _to_rgb_array(img: Image.Image) -> np.ndarray:
    """Convert a loaded Pillow image of any supported mode to ``uint8 [H, W, 3]`` RGB.

    * ``RGB``: as is. ``L``/``1``: grey repeated into R, G, B.
    * ``P``: via RGBA when the palette has transparency, else RGB.
    * ``RGBA``/``LA``/``PA``/...: composited on white.
    * ``I;16*`` (16-bit): the full 0..65535 range is mapped to 0..255 (no clipping).
    * ``I`` (32-bit int): like 16-bit when all values lie in 0..65535, else min/max.
    * ``F`` (32-bit float): min/max to 0..255; NaN/inf are rejected.
    * ``CMYK``, ``YCbCr``, ``LAB``, ``HSV``, ...: Pillow's conversion to RGB.
    """
    mode = img.mode
    if mode == "RGB":
        return np.asarray(img, dtype=np.uint8)
    if mode == "L":
        return _gray_to_rgb(np.asarray(img, dtype=np.uint8))
    if mode == "1":
        return _gray_to_rgb(np.asarray(img.convert("L"), dtype=np.uint8))
    if mode == "P":
        if "transparency" in img.info or (img.palette is not None and img.palette.mode == "RGBA"):
            return _alpha_on_white(img)
        return np.asarray(img.convert("RGB"), dtype=np.uint8)
    if mode in _ALPHA_MODES:
        return _alpha_on_white(img)
    if mode.startswith("I;16"):
        values = np.asarray(img).astype(np.float64)  # uint16 [H, W]
        gray = np.clip(np.rint(values * (255.0 / 65535.0)), 0, 255).astype(np.uint8)
        return _gray_to_rgb(gray)
    if mode == "I":
        values = np.asarray(img).astype(np.int64)
        if values.size and values.min() >= 0 and values.max() <= 65535:
            gray = np.rint(values * (255.0 / 65535.0)).astype(np.uint8)
        else:
            gray = _scale_min_max(values)
        return _gray_to_rgb(gray)
    if mode == "F":
        values = np.asarray(img, dtype=np.float32)
        bad = int(np.count_nonzero(~np.isfinite(values)))
        if bad:
            raise ValueError(
                f"The floating-point image contains {bad} non-finite values (NaN or "
                "infinity), which cannot be shown. Save it without them, or as an 8-bit PNG."
            )
        return _gray_to_rgb(_scale_min_max(values))
    try:
        return np.asarray(img.convert("RGB"), dtype=np.uint8)
    except (ValueError, OSError) as exc:
        raise ValueError(
            f"The image uses the colour mode {mode!r}, which cannot be converted to RGB "
            f"({_short_reason(exc)}). Save it as an 8-bit RGB PNG or JPEG and upload that."
        ) from exc


def decode_image(data: bytes, *, max_pixels: int = MAX_IMAGE_PIXELS) -> np.ndarray:
    """Decode an uploaded image file into an RGB array.

    Args:
        data: The complete file contents (``bytes``, ``bytearray`` or ``memoryview``).
        max_pixels: Largest accepted width x height, in pixels, checked against the
            size the file declares before any pixel data is decoded.

    Returns:
        ``uint8 [H, W, 3]`` RGB array, C-contiguous and read-only. For animated
        GIF/APNG/WebP and multi-page TIFF this is the first frame. EXIF orientation
        is applied, so photos come out upright (``H``, ``W`` are the upright sizes).

    Raises:
        ValueError: for any problem with the data (empty, not an image, unsupported
            format, truncated or corrupt, too large, unusable pixel values). The message
            is meant for end users and says what to do.
        TypeError: if ``data`` is not bytes-like (a programming error).
        RuntimeError: if ``PIL.ImageFile.LOAD_TRUNCATED_IMAGES`` was set to True
            elsewhere in the process, which would let truncated files through.
    """
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError(f"data must be bytes, got {type(data).__name__}")
    if isinstance(max_pixels, bool) or not isinstance(max_pixels, int) or max_pixels < 1:
        raise ValueError(f"max_pixels must be a positive int, got {max_pixels!r}")
    if ImageFile.LOAD_TRUNCATED_IMAGES:
        raise RuntimeError(
            "PIL.ImageFile.LOAD_TRUNCATED_IMAGES is True somewhere in this process; "
            "decode_image needs Pillow's default (False) to reject truncated files."
        )
    data = bytes(data)
    if not data:
        raise ValueError("The file is empty (0 bytes). Upload a PNG or JPEG image.")

    with _DECODE_LOCK, warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            img = Image.open(io.BytesIO(data), formats=_available_formats())
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            raise ValueError(_bomb_message(exc, max_pixels)) from exc
        except UnidentifiedImageError as exc:
            raise ValueError(
                f"The file is not an image Pillow can read ({_FORMATS_FOR_USERS}). "
                "Upload one of those (HEIC, SVG, PDF and RAW files need converting first)."
            ) from exc
        except Exception as exc:  # noqa: BLE001 - plugins raise many types on bad headers
            raise ValueError(
                "The file looks like an image but its header is corrupt "
                f"({_short_reason(exc)}). Re-save it as PNG or JPEG and upload it again."
            ) from exc

        with img:
            fmt = img.format or "image"
            width, height = img.size
            if width < 1 or height < 1:
                raise ValueError(
                    f"The {fmt} file declares an empty image ({width} x {height} pixels). "
                    "Upload an image with at least one pixel."
                )
            if width * height > max_pixels:
                raise ValueError(_too_large_message(width, height, max_pixels))
            try:
                if getattr(img, "n_frames", 1) > 1:
                    img.seek(0)
                img.load()
            except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
                raise ValueError(_bomb_message(exc, max_pixels)) from exc
            except MemoryError as exc:
                raise ValueError(
                    "The image is too large to decode in the available memory. "
                    "Resize it first."
                ) from exc
            except Exception as exc:  # noqa: BLE001 - OSError, SyntaxError, zlib.error, ...
                raise ValueError(
                    f"The {fmt} file is truncated or corrupt, so it cannot be decoded "
                    f"completely ({_short_reason(exc)}). Re-export the image or upload "
                    "another file."
                ) from exc

            # Show photos upright. A malformed EXIF block is ignored rather than
            # rejecting an otherwise good image (the pixels are then shown as stored).
            try:
                upright = ImageOps.exif_transpose(img)
            except Exception:  # noqa: BLE001
                upright = img
            try:
                rgb = _to_rgb_array(upright)
            finally:
                if upright is not img:
                    upright.close()

    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:  # defensive
        raise ValueError(
            "The image could not be converted to 8-bit RGB. Save it as an RGB PNG or "
            "JPEG and upload that."
        )
    # ``rgb`` is always a fresh array (Pillow copies pixels out), so no copy is needed.
    out = np.ascontiguousarray(rgb)
    out.flags.writeable = False
    return out


def describe_image(arr: np.ndarray) -> str:
    """Short description of a decoded image, e.g. ``"640 x 480 RGB"`` (width x height).

    Args:
        arr: ``[H, W, 3]`` (``RGB``), ``[H, W, 4]`` (``RGBA``) or ``[H, W]`` (``grey``).
    """
    arr = np.asarray(arr)
    if arr.ndim == 2:
        kind = "grey"
    elif arr.ndim == 3 and arr.shape[2] in (3, 4):
        kind = "RGB" if arr.shape[2] == 3 else "RGBA"
    else:
        raise ValueError(
            f"arr must have shape [H, W], [H, W, 3] or [H, W, 4], got {tuple(arr.shape)}"
        )
    height, width = arr.shape[:2]
    return f"{width} x {height} {kind}"
