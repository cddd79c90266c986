"""Tests for roiviz.images: every input is generated here with Pillow/numpy."""

from __future__ import annotations

import io
import struct
import warnings
import zlib

import numpy as np
import pytest
from PIL import Image, ImageFile

from roiviz.images import MAX_IMAGE_PIXELS, decode_image, describe_image


def encode(img: Image.Image, fmt: str, **kwargs) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **kwargs)
    return buf.getvalue()


def noise_rgb(h: int, w: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def png_with_declared_size(width: int, height: int) -> bytes:
    """A tiny valid PNG whose IHDR is patched to declare width x height (CRC fixed)."""
    data = bytearray(encode(Image.new("RGB", (1, 1)), "PNG"))
    assert data[12:16] == b"IHDR"
    data[16:24] = struct.pack(">II", width, height)
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])))
    return bytes(data)


def assert_user_message(exc: pytest.ExceptionInfo, *fragments: str) -> None:
    msg = str(exc.value)
    assert "Traceback" not in msg and 'File "' not in msg
    assert len(msg) > 30 and msg[0].isupper()
    for fragment in fragments:
        assert fragment.lower() in msg.lower(), msg


# -- valid images -------------------------------------------------------------------


def test_rgb_png_round_trip_exact_and_read_only():
    arr = noise_rgb(17, 23)
    out = decode_image(encode(Image.fromarray(arr), "PNG"))
    assert out.dtype == np.uint8 and out.shape == (17, 23, 3)
    assert out.flags.c_contiguous and not out.flags.writeable
    np.testing.assert_array_equal(out, arr)
    with pytest.raises(ValueError):
        out[0, 0, 0] = 1


def test_accepts_bytearray_and_memoryview():
    data = encode(Image.fromarray(noise_rgb(4, 5)), "PNG")
    np.testing.assert_array_equal(decode_image(bytearray(data)), decode_image(memoryview(data)))


def test_one_by_one_image():
    out = decode_image(encode(Image.new("RGB", (1, 1), (10, 20, 30)), "PNG"))
    assert out.shape == (1, 1, 3)
    assert out[0, 0].tolist() == [10, 20, 30]


def test_bmp_and_webp_lossless():
    arr = noise_rgb(6, 9, seed=3)
    np.testing.assert_array_equal(decode_image(encode(Image.fromarray(arr), "BMP")), arr)
    webp = encode(Image.fromarray(arr), "WEBP", lossless=True)
    np.testing.assert_array_equal(decode_image(webp), arr)


def test_sixteen_bit_png_scaled_by_full_range_not_clipped():
    values = np.array([[0, 1000, 25700, 32768, 65535]], dtype=np.uint16)
    data = encode(Image.fromarray(values), "PNG")
    assert Image.open(io.BytesIO(data)).mode in ("I;16", "I")
    out = decode_image(data)
    assert out.shape == (1, 5, 3)
    # 1000 -> 4 (clipping to 0..255 would give 255); 25700 = 257 * 100 -> 100.
    assert out[0, :, 0].tolist() == [0, 4, 100, 128, 255]
    assert np.all(out[..., 0] == out[..., 1]) and np.all(out[..., 1] == out[..., 2])


def test_palette_png_with_transparency_composited_on_white():
    img = Image.new("P", (2, 1))
    img.putpalette([255, 0, 0, 0, 0, 255] + [0] * (254 * 3))
    img.putpixel((0, 0), 0)  # red, fully transparent
    img.putpixel((1, 0), 1)  # blue, opaque
    data = encode(img, "PNG", transparency=0)
    out = decode_image(data)
    assert out[0, 0].tolist() == [255, 255, 255]
    assert out[0, 1].tolist() == [0, 0, 255]


def test_palette_png_without_transparency():
    img = Image.new("P", (1, 1))
    img.putpalette([12, 34, 56] + [0] * (255 * 3))
    assert decode_image(encode(img, "PNG"))[0, 0].tolist() == [12, 34, 56]


def test_rgba_and_la_composited_on_white():
    rgba = np.array([[[0, 0, 0, 0], [0, 0, 0, 255], [0, 0, 0, 128], [200, 100, 0, 255]]], np.uint8)
    out = decode_image(encode(Image.fromarray(rgba, "RGBA"), "PNG"))
    assert out[0, 0].tolist() == [255, 255, 255]
    assert out[0, 1].tolist() == [0, 0, 0]
    assert out[0, 2].tolist() == [127, 127, 127]  # 255 * (1 - 128/255)
    assert out[0, 3].tolist() == [200, 100, 0]
    la = Image.fromarray(np.array([[[50, 0], [50, 255]]], np.uint8), "LA")
    out = decode_image(encode(la, "PNG"))
    assert out[0, 0].tolist() == [255, 255, 255] and out[0, 1].tolist() == [50, 50, 50]


def test_grayscale_l_and_bilevel():
    gray = np.array([[0, 77, 255]], np.uint8)
    out = decode_image(encode(Image.fromarray(gray, "L"), "PNG"))
    assert out[0].tolist() == [[0, 0, 0], [77, 77, 77], [255, 255, 255]]
    bilevel = Image.new("1", (2, 1), 0)
    bilevel.putpixel((1, 0), 1)
    out = decode_image(encode(bilevel, "PNG"))
    assert out[0].tolist() == [[0, 0, 0], [255, 255, 255]]


def test_cmyk_jpeg_converted_to_rgb():
    img = Image.new("CMYK", (16, 16), (0, 255, 255, 0))  # pure red in CMYK
    data = encode(img, "JPEG", quality=95)
    assert Image.open(io.BytesIO(data)).mode == "CMYK"
    out = decode_image(data)
    assert out.shape == (16, 16, 3)
    r, g, b = out[8, 8].astype(int)
    assert r > 230 and g < 30 and b < 30


def test_exif_orientation_6_jpeg_is_shown_upright():
    # Stored: 40 wide x 20 tall, red marker in the stored top-left corner.
    stored = np.full((20, 40, 3), 255, np.uint8)
    stored[:8, :8] = (255, 0, 0)
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 CW to display"
    data = encode(Image.fromarray(stored), "JPEG", quality=95, exif=exif.tobytes())
    out = decode_image(data)
    assert out.shape == (40, 20, 3)  # upright: 20 wide x 40 tall
    top_right = out[:6, -6:].reshape(-1, 3).mean(axis=0)
    top_left = out[:6, :6].reshape(-1, 3).mean(axis=0)
    assert top_right[0] > 200 and top_right[1] < 60 and top_right[2] < 60
    assert top_left.min() > 200  # white: the marker is not where it was stored


def test_animated_gif_and_apng_give_first_frame():
    red = Image.new("RGB", (8, 6), (255, 0, 0))
    green = Image.new("RGB", (8, 6), (0, 255, 0))
    gif = encode(red, "GIF", save_all=True, append_images=[green], duration=100, loop=0)
    assert Image.open(io.BytesIO(gif)).n_frames == 2
    out = decode_image(gif)
    assert out.shape == (6, 8, 3) and out[3, 4].tolist() == [255, 0, 0]
    apng = encode(green, "PNG", save_all=True, append_images=[red], duration=100)
    assert Image.open(io.BytesIO(apng)).n_frames == 2
    assert decode_image(apng)[3, 4].tolist() == [0, 255, 0]


def test_float_tiff_scaled_by_min_max():
    values = np.array([[-1.0, 0.0, 3.0]], np.float32)
    data = encode(Image.fromarray(values, "F"), "TIFF")
    out = decode_image(data)
    assert out[0, :, 0].tolist() == [0, 64, 255]


def test_float_tiff_with_nan_rejected():
    values = np.array([[np.nan, 0.0, 3.0]], np.float32)
    with pytest.raises(ValueError) as exc:
        decode_image(encode(Image.fromarray(values, "F"), "TIFF"))
    assert_user_message(exc, "1 non-finite")


# -- invalid input ----------------------------------------------------------------------


def test_empty_bytes():
    with pytest.raises(ValueError) as exc:
        decode_image(b"")
    assert_user_message(exc, "empty")


def test_text_renamed_png():
    with pytest.raises(ValueError) as exc:
        decode_image(b"hello, this is plain text pretending to be a .png\n" * 20)
    assert_user_message(exc, "not an image", "PNG", "JPEG", "Upload")


def test_formats_outside_allow_list_are_not_tried():
    eps = b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\nshowpage\n"
    with pytest.raises(ValueError) as exc:
        decode_image(eps)
    assert_user_message(exc, "not an image")


def test_non_bytes_is_type_error():
    with pytest.raises(TypeError):
        decode_image("image.png")  # type: ignore[arg-type]


@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
def test_truncated_files_raise(fmt):
    data = encode(Image.fromarray(noise_rgb(64, 64)), fmt)
    for cut in (len(data) // 2, len(data) - 40):
        with pytest.raises(ValueError) as exc:
            decode_image(data[:cut])
        assert_user_message(exc, "truncated or corrupt")


def test_truncated_images_setting_untouched():
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False


def test_load_truncated_images_enabled_elsewhere_is_refused(monkeypatch):
    monkeypatch.setattr(ImageFile, "LOAD_TRUNCATED_IMAGES", True)
    with pytest.raises(RuntimeError):
        decode_image(encode(Image.new("RGB", (2, 2)), "PNG"))


def test_declared_size_over_limit_rejected_before_decoding():
    data = png_with_declared_size(5000, 5000)  # 25 MP: passes Pillow's own check
    with pytest.raises(ValueError) as exc:
        decode_image(data)
    assert_user_message(exc, "5000 x 5000 pixels (25.0 megapixels)", "16.8 megapixels", "Resize")


def test_max_pixels_argument():
    data = encode(Image.new("RGB", (20, 10)), "PNG")
    assert decode_image(data, max_pixels=200).shape == (10, 20, 3)
    with pytest.raises(ValueError) as exc:
        decode_image(data, max_pixels=199)
    assert_user_message(exc, "20 x 10")
    with pytest.raises(ValueError):
        decode_image(data, max_pixels=0)


@pytest.mark.parametrize("side", [10_000, 100_000])  # Pillow warning / Pillow error range
def test_decompression_bombs_rejected(side):
    pillow_limit = Image.MAX_IMAGE_PIXELS
    filters_before = list(warnings.filters)
    data = png_with_declared_size(side, side)
    for max_pixels in (MAX_IMAGE_PIXELS, 10**12):  # also when our own limit is lifted
        with pytest.raises(ValueError) as exc:
            decode_image(data, max_pixels=max_pixels)
        assert_user_message(exc, f"declares {side * side / 1e9:.1f} gigapixels"
                            if side == 100_000 else "declares 100.0 megapixels", "Resize")
    assert Image.MAX_IMAGE_PIXELS == pillow_limit
    assert warnings.filters == filters_before


def test_corrupt_png_data():
    data = bytearray(encode(Image.fromarray(noise_rgb(32, 32)), "PNG"))
    idat = data.index(b"IDAT")
    data[idat + 20 : idat + 60] = bytes(40)  # zero out compressed pixel data
    with pytest.raises(ValueError) as exc:
        decode_image(bytes(data))
    assert_user_message(exc)


# -- describe_image -------------------------------------------------------------------------


def test_describe_image():
    assert describe_image(np.zeros((480, 640, 3), np.uint8)) == "640 x 480 RGB"
    assert describe_image(np.zeros((2, 3), np.uint8)) == "3 x 2 grey"
    with pytest.raises(ValueError):
        describe_image(np.zeros((2, 3, 5), np.uint8))
