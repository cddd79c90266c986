"""Hostile and odd inputs: every one gets a clear message, the previous valid state stays,
nothing is rendered as HTML, no traceback, and the app keeps serving.

The cases and their messages are listed in docs/hostile-inputs.md. Most run under AppTest
(uploads included, through AppTest's file uploader); the browser covers what only the real
upload widget and a real page can show: the upload size limit (enforced by the browser),
script in a link, a click without a drag, and the server still serving afterwards.
"""

from __future__ import annotations

import io
import json
import pathlib
import struct
import urllib.parse
import urllib.request
import zlib
from pathlib import Path

import numpy as np
import pytest
from browser_support import (
    ARTIFACTS,
    chromium_browser,
    require_chromium,
    streamlit_server,
)
from PIL import Image
from stage_driver import STAGE
from test_playground import new_app
from streamlit.testing.v1 import AppTest

from roiviz.app.stage_parts import unpack
from roiviz.drawing.summary_table import SUMMARY_CLASS, read_summary_html
from roiviz import samples
from roiviz.methods import METHODS
from roiviz.app.params import PLAYGROUND, PYRAMIDS


# ---------------------------------------------------------------------------------------------
# Helpers


def stage(at: AppTest) -> dict:
    """The data the page sent its live stage (roiviz.app.stage.stage_data)."""
    found = [e for e in at.main if getattr(e.proto, "component_name", None) == "roiviz.app.stage"]
    return unpack(json.loads(found[0].proto.json), {})[0] if found else {}


def outputs(at: AppTest) -> dict[str, np.ndarray]:
    """The server's outputs the stage shows, by method."""
    ref = stage(at).get("reference", {})
    return {m: np.reshape(ref[m]["output"], ref[m]["shape"]) for m in METHODS if m in ref}


def view_titles(at: AppTest) -> dict[str, str]:
    """The titles of the stage's drag surfaces (the photo's only for photo sources)."""
    data = stage(at)
    titles = {"map": data["titles"]["map"]} if data else {}
    if data and data["image"] is not None:
        titles["image"] = data["titles"]["image"]
    return titles


def messages(at: AppTest, kind: str) -> str:
    return " | ".join(e.value for e in getattr(at, kind))


def page_text(at: AppTest) -> str:
    """Everything the page writes as text (markdown, captions, alerts, titles, chart titles)."""
    parts = []
    for kind in ("title", "header", "markdown", "caption", "error", "warning", "info", "success"):
        parts += [str(e.value) for e in getattr(at, kind)]
    parts += list(view_titles(at).values())
    return "\n".join(parts)


def assert_no_crash(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]


def assert_panels(at: AppTest) -> None:
    """The page still works: every method's panel is there."""
    assert set(outputs(at)) == set(METHODS)


def same_outputs(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)


def png(img: Image.Image, **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="PNG", **kw)
    return buf.getvalue()


def jpeg(img: Image.Image, **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="JPEG", **kw)
    return buf.getvalue()


def npy(arr, allow_pickle: bool = False) -> bytes:
    buf = io.BytesIO()
    np.save(buf, arr, allow_pickle=allow_pickle)
    return buf.getvalue()


def noise(h: int, w: int, seed: int = 0) -> Image.Image:
    return Image.fromarray(np.random.default_rng(seed).integers(0, 255, (h, w, 3), dtype=np.uint8))


def bomb_png(width: int = 100_000, height: int = 100_000) -> bytes:
    """A 1 x 1 PNG whose header declares ``width x height`` pixels (a valid CRC): 70 bytes."""
    one = png(Image.new("RGB", (1, 1), (1, 2, 3)))
    sig, rest = one[:8], one[8:]
    length = struct.unpack(">I", rest[:4])[0]
    ihdr = bytearray(rest[8:8 + length])
    ihdr[0:8] = struct.pack(">II", width, height)
    crc = struct.pack(">I", zlib.crc32(b"IHDR" + bytes(ihdr)) & 0xFFFFFFFF)
    return sig + rest[:8] + bytes(ihdr) + crc + rest[8 + length + 4:]


def huge_npy_header() -> bytes:
    """A .npy that declares a 100000 x 100000 float32 array and holds 64 bytes."""
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        buf, {"descr": "<f4", "fortran_order": False, "shape": (100_000, 100_000)})
    return buf.getvalue() + b"\0" * 64


class _Touch:
    """Unpickling this creates a file: the proof that a pickle was (not) loaded."""

    def __init__(self, path: Path):
        self.path = path

    def __reduce__(self):
        return (pathlib.Path.touch, (pathlib.Path(self.path),))


def exif_rotated_jpeg() -> bytes:
    """Stored 40 wide x 20 high, left half red, right half blue, EXIF orientation 6 (the
    camera was turned: shown upright it is 20 wide x 40 high, red on top)."""
    stored = Image.new("RGB", (40, 20), (0, 0, 255))
    stored.paste((255, 0, 0), (0, 0, 20, 20))
    exif = Image.Exif()
    exif[0x0112] = 6
    return jpeg(stored, exif=exif.tobytes(), quality=95)


def palette_png_with_transparency() -> bytes:
    """30 x 20: left half palette index 1 (blue, transparent), right half index 0 (red)."""
    img = Image.new("P", (30, 20), 0)
    img.putpalette([255, 0, 0, 0, 0, 255] + [0] * 762)
    img.paste(1, (0, 0, 15, 20))
    return png(img, transparency=1)


def animated_gif() -> bytes:
    """Two frames, 30 x 20: the first red, the second blue."""
    first = Image.new("P", (30, 20), 0)
    first.putpalette([255, 0, 0, 0, 0, 255] + [0] * 762)
    second = first.copy()
    second.paste(1, (0, 0, 30, 20))
    buf = io.BytesIO()
    first.save(buf, format="GIF", save_all=True, append_images=[second], duration=100, loop=0)
    return buf.getvalue()


# ---------------------------------------------------------------------------------------------
# Uploads under AppTest: rejected files


def upload(source: str, name: str, data: bytes, mime: str) -> tuple[AppTest, dict, dict]:
    """Run the default page, switch the source to an upload and upload one file.

    Returns the app and the outputs and view titles shown before the upload.
    """
    at = new_app()
    at.run()
    before, titles = outputs(at), view_titles(at)
    at.radio(key="src").set_value(source).run()
    widget = "upload_image" if source == "upload" else "upload_npy"
    at.file_uploader(key=widget).set_value((name, data, mime)).run()
    return at, before, titles


BAD_IMAGES = [
    ("empty file", "empty.png", b"", "The file is empty"),
    ("text renamed .png", "notes.png", b"just some text, not a picture\n" * 10, "not an image"),
    ("truncated PNG", "cut.png", png(noise(64, 64))[:300], "truncated or corrupt"),
    ("truncated JPEG (in the header)", "cut.jpg", jpeg(noise(64, 64))[:400], "header is corrupt"),
    ("truncated JPEG (in the pixels)", "cut2.jpg", jpeg(noise(256, 256), quality=95)[:-6000],
     "truncated or corrupt"),
    ("decompression bomb", "bomb.png", bomb_png(), "decompression bomb"),
    ("declares too many pixels", "big.png", bomb_png(5000, 5000), "the limit is 16.8 megapixels"),
]


@pytest.mark.parametrize("case, name, data, fragment", BAD_IMAGES, ids=[c[0] for c in BAD_IMAGES])
def test_bad_image_upload_keeps_previous_input(case, name, data, fragment):
    at, before, titles = upload("upload", name, data, "image/png")
    assert_no_crash(at)
    errors = messages(at, "error")
    assert fragment in errors and "The previous input stays on screen." in errors, errors
    assert len(at.error) == 1
    assert same_outputs(outputs(at), before) and view_titles(at) == titles
    # The next run (any widget) still works and still explains the file, without a new decode.
    at.number_input(key="bx2").set_value(300.0).run()
    assert_no_crash(at)
    assert fragment in messages(at, "error")
    assert_panels(at)


BAD_NPY = [
    ("1-D array", npy(np.arange(10, dtype=np.float32)), "1 dimension(s)"),
    ("4-D array", npy(np.zeros((1, 2, 3, 4), np.float32)), "4 dimension(s)"),
    ("complex values", npy(np.zeros((4, 4), np.complex64)), "complex numbers"),
    ("NaN and inf", npy(np.array([[1, np.nan], [np.inf, 2]], np.float32)), "non-finite"),
    ("huge declared shape", huge_npy_header(), "at most 1024"),
    ("zero-size", npy(np.zeros((0, 5), np.float32)), "is empty"),
    ("empty file", b"", "The file is empty"),
    ("a PNG renamed .npy", png(Image.new("RGB", (4, 4))), "not a .npy array file"),
]


@pytest.mark.parametrize("case, data, fragment", BAD_NPY, ids=[c[0] for c in BAD_NPY])
def test_bad_npy_upload_keeps_previous_input(case, data, fragment):
    at, before, titles = upload("npy", "map.npy", data, "application/octet-stream")
    assert_no_crash(at)
    errors = messages(at, "error")
    assert fragment in errors and "The previous input stays on screen." in errors, errors
    assert same_outputs(outputs(at), before) and view_titles(at) == titles


def test_pickled_npy_is_refused_without_unpickling(tmp_path):
    flag = tmp_path / "unpickled"
    data = npy(np.array([_Touch(flag), None], dtype=object), allow_pickle=True)
    # The file really is a pickle that would create the flag file if loaded.
    np.load(io.BytesIO(data), allow_pickle=True)
    assert flag.exists()
    flag.unlink()
    at, before, _ = upload("npy", "evil.npy", data, "application/octet-stream")
    assert_no_crash(at)
    assert "refused for safety" in messages(at, "error")
    assert not flag.exists()
    assert same_outputs(outputs(at), before)


def test_a_good_upload_after_a_bad_one_is_used():
    at, before, _ = upload("upload", "bad.png", b"not an image", "image/png")
    assert at.error
    at.file_uploader(key="upload_image").set_value(("ok.png", png(noise(96, 128, seed=5)), "image/png")).run()
    assert_no_crash(at)
    assert not at.error
    assert view_titles(at)["image"].startswith("Image (128 x 96 px)")
    assert not same_outputs(outputs(at), before)


# ---------------------------------------------------------------------------------------------
# Uploads under AppTest: odd but valid files are shown, and shown right


def odd_images():
    i16 = png(Image.fromarray(np.full((20, 30), 65535, dtype=np.uint16)))
    assert Image.open(io.BytesIO(i16)).mode.startswith("I;16")
    cmyk = jpeg(Image.new("CMYK", (30, 20), (0, 255, 255, 0)))
    assert Image.open(io.BytesIO(cmyk)).mode == "CMYK"
    return [
        # case, file name, bytes, (width, height) shown, {(row, col): expected RGB}
        ("1 x 1 image", "dot.png", png(Image.new("RGB", (1, 1), (10, 200, 30))), (1, 1),
         {(0, 0): (10, 200, 30)}),
        ("16-bit PNG", "deep.png", i16, (30, 20), {(0, 0): (255, 255, 255)}),
        ("palette PNG with transparency", "pal.png", palette_png_with_transparency(), (30, 20),
         {(10, 2): (255, 255, 255), (10, 27): (255, 0, 0)}),  # transparent -> white
        ("CMYK JPEG", "cmyk.jpg", cmyk, (30, 20), {(10, 15): (255, 0, 0)}),
        ("EXIF-rotated JPEG", "phone.jpg", exif_rotated_jpeg(), (20, 40),
         {(5, 10): (255, 0, 0), (35, 10): (0, 0, 255)}),  # upright: red on top
        ("animated GIF", "anim.gif", animated_gif(), (30, 20), {(10, 15): (255, 0, 0)}),
    ]


@pytest.mark.parametrize("case, name, data, size, pixels", odd_images(), ids=[c[0] for c in odd_images()])
def test_odd_but_valid_images_are_shown(case, name, data, size, pixels):
    at, _, _ = upload("upload", name, data, "image/png")
    assert_no_crash(at)
    assert not at.error, messages(at, "error")
    w, h = size
    assert view_titles(at)["image"].startswith(f"Image ({w} x {h} px)")
    assert f"Uploaded image: {w} x {h} RGB" in messages(at, "caption")
    image = at.session_state["_image"][1]
    for (r, c), rgb in pixels.items():
        np.testing.assert_allclose(image[r, c], rgb, atol=8, err_msg=f"{case} at {(r, c)}")
    assert_panels(at)


def test_session_keeps_one_decoded_upload():
    at, _, _ = upload("upload", "a.png", png(noise(40, 50, seed=1)), "image/png")
    first = at.session_state["_image"][0]
    at.file_uploader(key="upload_image").set_value(("b.png", png(noise(60, 70, seed=2)), "image/png")).run()
    assert_no_crash(at)
    file_id, image = at.session_state["_image"]
    assert file_id != first and image.shape == (60, 70, 3)
    # Every picture the session holds (the decoded upload, the last input) is that one object:
    # the replaced upload is not kept anywhere.
    held = [v for value in at.session_state.to_dict().values()
            for v in (value if isinstance(value, tuple) else (value,))
            if isinstance(v, np.ndarray) and v.ndim == 3]
    assert held and all(v is image for v in held), [v.shape for v in held]


# ---------------------------------------------------------------------------------------------
# Links (query strings)

SCRIPT = "<script>window.__pwned=1</script>"
IMG_TAG = "<img src=x onerror=\"window.__pwned=1\">"
MARKDOWN = "**bold** [x](javascript:alert(1))"

HOSTILE_LINKS = [
    ({"box": "a,b,c,d"}, "a box needs numbers"),
    ({"box": "1,2,3"}, "4 comma-separated numbers"),
    ({"box": "nan,nan,nan,nan"}, "finite"),
    ({"box": "inf,0,10,10"}, "finite"),
    ({"box": "-inf,-inf,inf,inf"}, "finite"),
    ({"box": "0,0,1e9,1e9"}, "within +-100000"),
    ({"box": "10,10,10,50"}, "positive width and height"),
    ({"out": "-7x7"}, "output size must be 1..14"),
    ({"out": "0"}, "output size"),
    ({"out": "7x-1"}, "output size"),
    ({"out": "nan"}, "output size"),
    ({"out": "1e9"}, "output size"),
    ({"sr": "-1"}, "sampling ratio"),
    ({"sr": "inf"}, "sampling ratio"),
    ({"ch": "-5"}, "channel"),
    ({"ch": "99999999999999999999999"}, "channel"),
    ({"stride": "NaN"}, "stride"),
    ({"aligned": "yes"}, "aligned"),
    ({"presenter": "2"}, "presenter"),
    ({"methods": "bogus"}, "methods"),
    ({"methods": "roi_pool,rm -rf"}, "methods"),
    ({"methods": ""}, "methods"),
    ({"src": "npy"}, "source"),
    ({"img": "../assets/astronaut"}, "not a sample image"),
    ({"img": "../../../../etc/passwd"}, "not a sample image"),
    ({"img": "/etc/passwd"}, "not a sample image"),
    ({"img": "%2e%2e%2f%2e%2e%2fetc%2fpasswd"}, "not a sample image"),
    ({"img": "astronaut.jpg"}, "not a sample image"),
    ({"img": "C:\\Windows\\win.ini"}, "not a sample image"),
    ({"img": "astronaut\x00.png"}, "not a sample image"),
    ({"no_such_param": "1", "<b>x</b>": "1"}, "Ignored 2 unknown link parameter(s)"),
] + [
    ({key: payload}, f"'{key}'")
    for key in PLAYGROUND.keys()
    for payload in (SCRIPT, IMG_TAG, MARKDOWN)
]


@pytest.mark.parametrize("query, fragment", HOSTILE_LINKS,
                         ids=[f"{next(iter(q))[:12]}={next(iter(q.values()))[:24]}" for q, _ in HOSTILE_LINKS])
def test_hostile_link_gives_a_notice_and_the_defaults(query, fragment):
    at = new_app(query)
    at.run()
    assert_no_crash(at)
    assert not at.error, messages(at, "error")
    notices = messages(at, "warning")
    assert fragment in notices, notices
    text = page_text(at)
    for value in query.values():  # nothing typed in a link is echoed into the page
        if len(value) > 3 and value not in ("bogus",):
            assert value not in text
        assert "<b>" not in text and "<script" not in text and "<img" not in text
    assert_panels(at)


def test_link_never_reads_outside_assets(tmp_path, monkeypatch):
    """A link naming a real image file outside assets/ (relative or absolute) is not read."""
    secret = tmp_path / "secret.jpg"
    secret.write_bytes(jpeg(noise(32, 32)))
    opened = []
    real_open, real_read = pathlib.Path.open, pathlib.Path.read_bytes

    def spy_open(self, *args, **kwargs):
        opened.append(Path(self).resolve())
        return real_open(self, *args, **kwargs)

    def spy_read(self):
        opened.append(Path(self).resolve())
        return real_read(self)

    monkeypatch.setattr(pathlib.Path, "open", spy_open)
    monkeypatch.setattr(pathlib.Path, "read_bytes", spy_read)
    rel = Path("..") / Path(*[".."] * 8) / str(secret).lstrip("/")
    for value in (str(secret), str(rel), "secret", "../" + secret.name):
        samples._load_cached.cache_clear()
        at = new_app({"img": value})
        at.run()
        assert_no_crash(at)
        assert "not a sample image" in messages(at, "warning")
        assert at.session_state["img"] == samples.sample_image_names()[0]
        assert_panels(at)
    assert secret.resolve() not in opened
    assert any(p.parent == samples.ASSETS_DIR for p in opened)  # the spy does see sample reads


def test_swapped_corners_in_a_link_are_put_in_order_with_a_notice():
    at = new_app({"box": "300,250,100,50"})
    at.run()
    assert_no_crash(at)
    assert "corners swapped" in messages(at, "warning")
    assert tuple(at.session_state["box"]) == (100.0, 50.0, 300.0, 250.0)
    assert_panels(at)


def test_link_box_entirely_off_the_image_falls_back_to_the_default_with_a_notice():
    at = new_app({"box": "5000,5000,6000,6000"})
    at.run()
    assert_no_crash(at)
    assert "entirely off the feature map" in messages(at, "warning")
    assert "default box" in messages(at, "warning")
    box = at.session_state["box"]
    assert 0 <= box[0] < box[2] <= 512 and 0 <= box[1] < box[3] <= 512
    assert_panels(at)


def test_box_larger_than_the_image_is_traced_and_explained():
    at = new_app({"box": "-256,-256,768,768"})
    at.run()
    assert_no_crash(at)
    assert not at.error
    info = messages(at, "info")
    assert "75.0% of the box lies outside the feature map" in info, info
    # docs/hostile-inputs.md quotes today's message in full (it once quoted a retired one).
    quoted = [e.value for e in at.info if "of the box lies outside the feature map" in e.value]
    assert len(quoted) == 1 and f'info: "{quoted[0]}"' in HOSTILE_DOC.read_text(), quoted
    assert tuple(at.session_state["box"]) == (-256.0, -256.0, 768.0, 768.0)
    assert_panels(at)
    # Every panel counts the outside part (75% of the RoI) in its table.
    tables = [read_summary_html(e.proto.body) for e in at.get("html") if SUMMARY_CLASS in e.proto.body]
    assert len(tables) == 1 and tables[0]
    for row in tables[0].values():
        assert row["outside %"] == "75.0"


# ---------------------------------------------------------------------------------------------
# Boxes typed in the page


@pytest.mark.parametrize("key, value, fragment", [
    ("bx2", None, "zero width or height"),          # x2 = x1: zero width
    ("by2", None, "zero width or height"),          # y2 = y1: zero height
    ("bx1", 450.0, "corners are swapped"),          # x1 right of x2: inverted
    ("by1", 500.0, "corners are swapped"),          # y1 below y2: inverted
    ("bx1", 5000.0, "corners are swapped"),         # past x2 (and the image)
    ("by2", -10.0, "corners are swapped"),
    ("bx2", -50.0, "corners are swapped"),
])
def test_bad_typed_box_keeps_the_previous_box(key, value, fragment):
    at = new_app()
    at.run()
    box = tuple(at.session_state["box"])
    before = outputs(at)
    if value is None:  # collapse the box onto its other corner
        value = box[0] if key == "bx2" else box[1]
    at.number_input(key=key).set_value(value).run()
    assert_no_crash(at)
    assert fragment in messages(at, "warning") and "The previous box is kept." in messages(at, "warning")
    assert tuple(at.session_state["box"]) == box
    assert [at.number_input(key=k).value for k in ("bx1", "by1", "bx2", "by2")] == list(box)
    assert same_outputs(outputs(at), before)


def test_typed_box_entirely_outside_on_the_other_side():
    at = new_app()
    at.run()
    box = tuple(at.session_state["box"])
    at.number_input(key="bx1").set_value(-900.0).run()
    at.number_input(key="bx2").set_value(-600.0).run()
    assert_no_crash(at)
    assert "entirely off the feature map" in messages(at, "warning")
    assert tuple(at.session_state["box"])[1:] == box[1:]


def test_the_heaviest_settings_offered_trace_every_method():
    """Ratio 16 and 14 x 14 bins (50,176 samples per method) on the whole image: every method
    is traced (no per-sample records), with no warning."""
    at = new_app({"out": "14x14", "sr": "16", "box": "0,0,512,512"})
    at.run()
    assert_no_crash(at)
    assert not at.error and not messages(at, "warning")
    assert set(outputs(at)) == set(METHODS)
    assert stage(at)["methods"] == list(METHODS)


def test_settings_too_heavy_to_compute_live_are_explained_not_run():
    """An adaptive ratio on a box far larger than the map (stride 4, 1 x 1 bin: about 10,000 x
    10,000 samples) is past LIVE_SAMPLE_LIMIT: RoI Warp and RoI Align are not run, and the
    page says why; a fixed ratio brings them back."""
    at = new_app({"out": "1x1", "sr": "0", "stride": "4", "box": "-20000,-20000,20500,20500"})
    at.run()
    assert_no_crash(at)
    assert not at.error
    warning = messages(at, "warning")
    assert "RoI Warp and RoI Align would take up to" in warning and "1,048,576 computed live" in warning, warning
    assert set(outputs(at)) == {"roi_pool", "precise_roi_pool"}
    assert stage(at)["methods"] == ["roi_pool", "precise_roi_pool"]  # nor does the browser
    at.selectbox(key="sr").set_value(2).run()
    assert_no_crash(at)
    assert set(outputs(at)) == set(METHODS)


# ---------------------------------------------------------------------------------------------
# The Feature pyramids page: its link, its box fields and buttons, its sample budget
# (docs/hostile-inputs.md, "The Feature pyramids page")

HOSTILE_DOC = Path(__file__).resolve().parent.parent / "docs" / "hostile-inputs.md"
PYRAMID_LINKS = [
    ({"img": "../etc/passwd"}, "Ignored the link's 'img': not a sample image name (one of astronaut, coffee, chelsea)."),
    ({"box": "a,b,c,d"}, "Ignored the link's 'box': a box needs numbers."),
    ({"box": "1,2,3"}, "Ignored the link's 'box': a box needs 4 comma-separated numbers x1,y1,x2,y2."),
    ({"box": "nan,0,1,1"}, "Ignored the link's 'box': box coordinates must be finite and within +-100000 pixels."),
    ({"box": "0,0,1e9,1e9"}, "Ignored the link's 'box': box coordinates must be finite and within +-100000 pixels."),
    ({"box": "10,10,10,50"}, "Ignored the link's 'box': a box needs a positive width and height."),
    ({"box": "600,600,700,700"}, "The box does not overlap the 512 x 512 image; the default box is shown instead."),
    ({"ch": "-1"}, "Ignored the link's 'ch': channel must be an integer 0..7."),
    ({"ch": "999"}, "Ignored the link's 'ch': channel must be an integer 0..7."),
    ({"rule": "caffe"}, "Ignored the link's 'rule': rule must be one of torchvision, detectron2."),
    ({"out": "9"}, "Ignored the link's 'out': out must be one of 3, 5, 7."),
    ({"out": "7x7"}, "Ignored the link's 'out': out must be one of 3, 5, 7."),
    ({"sr": "3"}, "Ignored the link's 'sr': sr must be one of 0, 1, 2."),
    ({"sr": "-1"}, "Ignored the link's 'sr': sr must be one of 0, 1, 2."),
    ({"conv": "x"}, "Ignored the link's 'conv': conv must be one of library, article."),
    ({"fixed": "12"}, "Ignored the link's 'fixed': fixed must be one of 4, 8, 16, 32."),
    ({"presenter": "2"}, "Ignored the link's 'presenter': presenter must be 0 or 1."),
    ({"zzz": "1", "<b>x</b>": "1"}, "Ignored 2 unknown link parameter(s)."),
] + [
    ({key: payload}, f"Ignored the link's '{key}'")
    for key in PYRAMIDS.keys()
    for payload in (SCRIPT, IMG_TAG, MARKDOWN)
]
PYRAMID_BOX_MESSAGES = (
    "The box was not changed: it needs x2 > x1 and y2 > y1.",
    "The box was not changed: it must overlap the 512 x 512 image.",
    "The link's box had its corners swapped; they were put in order (x1 < x2, y1 < y2).",
    "Your box is too large for the pyramid: the formula asks for level 13, and P5 is the coarsest there is.",
    "RoI Align takes 12 x 12 samples per bin here (7,056 in all), more than a panel can show one by "
    "one: the stage draws a regular subset of them, the JSON export records one in every 3 sample rows "
    "and columns, and every number is the op's.",
)


def pyramids_page(query: dict | None = None) -> AppTest:
    at = AppTest.from_file(str(Path(__file__).resolve().parent.parent / "pages" / "pyramids.py"),
                           default_timeout=120)
    for key, value in (query or {}).items():
        at.query_params[key] = value
    return at.run()


def assert_pyramid_panels(at: AppTest) -> None:
    """The page still works: the level, and its stage with every method and the server's numbers."""
    assert [m.value for m in at.markdown if m.value.startswith("### Level P")]
    stages = [e for e in at.main if getattr(e.proto, "component_name", None) == "roiviz.app.stage"]
    assert len(stages) == 1
    data = unpack(json.loads(stages[0].proto.json), {})[0]
    assert data["methods"] == list(METHODS) and set(data["reference"]) == set(METHODS)


def test_every_pyramid_message_is_in_the_doc():
    section = HOSTILE_DOC.read_text().split("## The Feature pyramids page", 1)[1]
    for message in [m for _, m in PYRAMID_LINKS if not m.endswith("'")] + list(PYRAMID_BOX_MESSAGES):
        assert message in section, message
    # The markup payloads, one row for all the page's parameters.
    assert f"in any of the {len(PYRAMIDS.keys())} parameters" in section
    assert "Ignored the link's '<name>'" in section


@pytest.mark.parametrize("query, message", PYRAMID_LINKS,
                         ids=[f"{next(iter(q))[:12]}={next(iter(q.values()))[:24]}" for q, _ in PYRAMID_LINKS])
def test_hostile_pyramid_link_gives_a_notice_and_the_defaults(query, message):
    at = pyramids_page(query)
    assert_no_crash(at)
    assert not at.error, messages(at, "error")
    assert message in messages(at, "warning")
    for key in query:
        if key in PYRAMIDS.keys():   # the refused parameter has its default
            state_key = "pyr_box" if key == "box" else PYRAMIDS.widget_key(key)
            assert at.session_state[state_key] == PYRAMIDS[key].default, key
    text = page_text(at)
    for value in query.values():  # nothing typed in a link is echoed into the page
        if len(value) > 3:
            assert value not in text
    assert "<b>" not in text and "<script" not in text and "<img" not in text
    assert_pyramid_panels(at)


def test_pyramid_link_with_swapped_corners_and_the_largest_box():
    at = pyramids_page({"box": "330,210,180,60"})
    assert_no_crash(at)
    assert PYRAMID_BOX_MESSAGES[2] in messages(at, "warning")
    assert at.session_state["pyr_box"] == (180.0, 60.0, 330.0, 210.0)
    at = pyramids_page({"box": "-100000,-100000,100000,100000"})
    assert_no_crash(at)
    assert not at.warning and not at.error
    assert PYRAMID_BOX_MESSAGES[3] in messages(at, "info")
    assert_pyramid_panels(at)


@pytest.mark.parametrize("moves, message", [
    ([("pyr_x2", 100.0)], PYRAMID_BOX_MESSAGES[0]),                      # x2 left of x1
    ([("pyr_y2", 60.0)], PYRAMID_BOX_MESSAGES[0]),                       # zero height
    ([("pyr_x2", 900.0), ("pyr_x1", 600.0)], PYRAMID_BOX_MESSAGES[1]),   # right of the image
    ([("pyr_x2", 1e6)], "The box was not changed"),                      # past the field's bound
])
def test_bad_typed_pyramid_box_keeps_the_previous_one(moves, message):
    at = pyramids_page()
    for key, value in moves:
        before = at.session_state["pyr_box"]
        at.number_input(key=key).set_value(value).run()
        assert_no_crash(at)
    assert message in messages(at, "warning")
    assert at.session_state["pyr_box"] == before
    assert [at.number_input(key=k).value for k in ("pyr_x1", "pyr_y1", "pyr_x2", "pyr_y2")] == list(before)
    assert_pyramid_panels(at)


def test_pyramid_resize_button_that_would_miss_the_image_keeps_the_box():
    at = pyramids_page({"box": "-300,-300,10,10"})   # overlaps the image; its centre does not
    at.button(key="pyr_size_111").click().run()
    assert_no_crash(at)
    assert PYRAMID_BOX_MESSAGES[1] in messages(at, "warning")
    assert at.session_state["pyr_box"] == (-300.0, -300.0, 10.0, 10.0)


def test_pyramid_sample_budget_thins_the_panel_and_keeps_the_page():
    """Over the sample budget (adaptive ratio on a huge box) nothing disappears: every panel
    and export is there, RoI Align's drawn from a thinned trace, and the page says so."""
    at = pyramids_page({"box": "-1000,-1000,1600,1600", "sr": "0"})
    assert_no_crash(at)
    assert not at.error
    assert messages(at, "info").count(PYRAMID_BOX_MESSAGES[4]) == 1
    assert [m.value for m in at.markdown if m.value.startswith("### Level P5")]
    assert_pyramid_panels(at)
    assert at.get("download_button")
    at.selectbox(key=PYRAMIDS.widget_key("sr")).set_value(2).run()   # 49 * 4 samples: fine
    assert_no_crash(at)
    assert not at.error and PYRAMID_BOX_MESSAGES[4] not in messages(at, "info")
    assert_pyramid_panels(at)


# ---------------------------------------------------------------------------------------------
# The browser: one server, one page, for what only a real browser shows


@pytest.fixture(scope="module")
def browser_page():
    require_chromium()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with streamlit_server() as url, chromium_browser() as browser:
        context = browser.new_context(viewport={"width": 1400, "height": 1600})
        page = context.new_page()
        page.set_default_timeout(60_000)
        page.goto(url + "/")
        page.wait_for_selector(f"{STAGE} .panel[data-method=precise_roi_pool] .out rect")
        page.wait_for_selector("table.roiviz-summary")
        page.url_base = url  # type: ignore[attr-defined]
        yield page
        context.close()


def tables(page) -> str:
    """The server's metrics table (one row per method)."""
    return page.locator("table.roiviz-summary").first.inner_text()


def server_ok(url: str) -> bool:
    with urllib.request.urlopen(url + "/_stcore/health", timeout=10) as r:
        return r.status == 200


def assert_no_traceback(page) -> None:
    html = page.content()
    assert "Traceback" not in html and 'File "' not in html
    assert page.locator("[data-testid=stException]").count() == 0


UPLOADERS = {"Upload an image": "upload_image", "Upload a .npy feature map": "upload_npy"}


def choose_source(page, label: str):
    """Pick an upload source; returns that source's file input."""
    page.get_by_text(label, exact=True).click()
    dropzone = page.locator(f".st-key-{UPLOADERS[label]} [data-testid=stFileUploaderDropzoneInput]")
    dropzone.wait_for(state="attached")
    return dropzone


def test_browser_file_over_the_upload_limit(browser_page, tmp_path):
    page = browser_page
    before = tables(page)
    dropzone = choose_source(page, "Upload an image")
    big = tmp_path / "huge.png"
    big.write_bytes(png(Image.new("RGB", (8, 8))) + b"\0" * (21 * 1024 * 1024))  # 21 MB > 20 MB
    dropzone.set_input_files(str(big))
    # Streamlit's uploader refuses it in the browser, with its own message.
    page.get_by_text("or smaller", exact=False).first.wait_for()
    assert "File must be 20.0MB or smaller" in page.locator("[data-testid=stFileUploader]").inner_text()
    assert_no_traceback(page)
    assert tables(page) == before
    assert server_ok(page.url_base)
    page.screenshot(path=str(ARTIFACTS / "hostile_upload_too_large.png"), full_page=True)


@pytest.mark.parametrize("label, name, make, fragment", [
    ("Upload an image", "bomb.png", bomb_png, "decompression bomb"),
    ("Upload an image", "notes.png", lambda: b"plain text\n" * 50, "not an image"),
    ("Upload a .npy feature map", "evil.npy",
     lambda: npy(np.array([{"a": 1}, None], dtype=object), allow_pickle=True), "refused for safety"),
])
def test_browser_bad_upload_message(browser_page, tmp_path, label, name, make, fragment):
    page = browser_page
    before = tables(page)
    dropzone = choose_source(page, label)
    path = tmp_path / name
    path.write_bytes(make())
    dropzone.set_input_files(str(path))
    alert = page.locator("[data-testid=stAlertContentError]").filter(has_text=fragment)
    alert.wait_for()
    assert "The previous input stays on screen." in alert.inner_text()
    assert_no_traceback(page)
    assert tables(page) == before
    assert server_ok(page.url_base)


def test_browser_exif_photo_is_shown_upright(browser_page, tmp_path):
    page = browser_page
    dropzone = choose_source(page, "Upload an image")
    path = tmp_path / "phone.jpg"
    path.write_bytes(exif_rotated_jpeg())
    dropzone.set_input_files(str(path))
    page.get_by_text("Image (20 x 40 px)").first.wait_for()   # its surface title
    assert_no_traceback(page)
    page.locator("table.roiviz-summary").first.wait_for()
    # Back to the sample for the tests that follow.
    page.get_by_text("Sample image", exact=True).click()
    page.get_by_text("Image (512 x 512 px)").first.wait_for()


def test_browser_script_in_a_link_is_never_run_or_rendered(browser_page):
    page = browser_page
    query = {key: payload for key, payload in zip(
        ("reduce", "conv", "img", "methods", "box", "src"),
        (SCRIPT, IMG_TAG, SCRIPT, IMG_TAG, SCRIPT, MARKDOWN))}
    query[IMG_TAG] = SCRIPT
    pg = page.context.new_page()
    try:
        pg.goto(page.url_base + "/?" + urllib.parse.urlencode(query))
        pg.wait_for_selector(f"{STAGE} .panel[data-method=precise_roi_pool] .out rect", timeout=60_000)
        pg.wait_for_timeout(1000)
        assert pg.evaluate("() => window.__pwned") is None
        assert pg.locator("img[src=x]").count() == 0
        body = pg.locator("[data-testid=stMain]").inner_html()
        assert "__pwned" not in body and "javascript:" not in body
        warnings = pg.locator("[data-testid=stAlertContentWarning]").all_inner_texts()
        assert any("Ignored the link's 'reduce'" in w for w in warnings), warnings
        assert_no_traceback(pg)
    finally:
        pg.close()


def test_browser_click_without_drag_keeps_the_box(browser_page):
    page = browser_page
    area = page.locator(f"{STAGE} .surface[data-surface=map] .surface-svg")
    area.wait_for()
    before_url, before = page.url, tables(page)
    area.scroll_into_view_if_needed()
    bb = area.bounding_box()
    page.mouse.click(bb["x"] + 0.1 * bb["width"], bb["y"] + 0.1 * bb["height"])  # a zero-size "box"
    page.wait_for_timeout(1500)
    assert tables(page) == before
    qs = lambda u: urllib.parse.parse_qs(urllib.parse.urlparse(u).query).get("box")
    assert qs(page.url) == qs(before_url)
    assert page.locator("[data-testid=stAlertContentError]").count() == 0
    assert_no_traceback(page)


def test_browser_server_still_serves_a_new_visitor(browser_page):
    page = browser_page
    assert server_ok(page.url_base)
    pg = page.context.new_page()
    try:
        pg.goto(page.url_base + "/?out=7x7")
        pg.wait_for_selector(f"{STAGE} .panel[data-method=roi_align] .out rect", timeout=60_000)
        assert pg.locator(f"{STAGE} .panel[data-method=roi_align] .out rect").count() == 49
        assert_no_traceback(pg)
    finally:
        pg.close()
