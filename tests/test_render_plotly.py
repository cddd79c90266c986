"""The plotly specs the Playground sends without plotly's validation are valid plotly.

The app wraps specs with ``to_figure(spec, validate=False)`` (15 ms faster per figure, see
benchmarks/latency.py). Here every kind of spec, over the settings that change its shape, is
validated by plotly and must serialise to exactly the JSON of the unvalidated figure: an
unknown property, a wrong value or a name plotly.js does not know (e.g. the colour scale
"gray", which only plotly.py resolves) would make them differ or raise.
"""

from __future__ import annotations

import base64
import io
import json

import numpy as np
import plotly.io as pio
import pytest
from PIL import Image

from roiviz import features, samples
from roiviz import render_plotly as R
from roiviz.style import Style
from roiviz.methods import METHODS
from roiviz.records import Settings
from roiviz.methods import trace_all

IMAGE = samples.load_sample_image("astronaut")
VALUES = features.image_feature_map(IMAGE, 16).channel(0)


def same_json(spec: dict) -> None:
    validated = json.loads(pio.to_json(R.to_figure(spec), validate=False))
    fast = json.loads(pio.to_json(R.to_figure(spec, validate=False), validate=False))
    assert fast == validated


SETTINGS = [
    Settings(output_size=(7, 7), stride=16.0, sampling_ratio=2),
    Settings(output_size=(3, 5), stride=16.0, sampling_ratio=0, aligned=False, reduce="max",
             convention="article"),
    Settings(output_size=(14, 14), stride=16.0, sampling_ratio=4),  # 3136 samples: under the sample budget, all drawn
]
BOXES = [(158.4, 134.4, 378.4, 355.2), (-40.0, -30.0, 100.0, 90.0), (500.0, 500.0, 700.0, 640.0)]


@pytest.mark.parametrize("settings", SETTINGS)
@pytest.mark.parametrize("box", BOXES)
@pytest.mark.parametrize("presenter", [False, True])
def test_method_and_output_specs_validate_unchanged(settings, box, presenter):
    style = Style(presenter=presenter)
    for trace in trace_all(VALUES, box, settings).values():
        same_json(R.method_spec(trace, VALUES, zrange=(0.0, 1.0), style=style))
        same_json(R.output_spec(trace, zrange=(0.0, 1.0), style=style))


def test_method_figure_shows_only_the_cells_around_the_roi():
    trace = trace_all(VALUES, (100.0, 100.0, 164.0, 164.0), SETTINGS[0])["roi_align"]
    heat = R.method_spec(trace, VALUES, zrange=(0.0, 1.0))["data"][0]
    x, y = np.asarray(heat["x"]), np.asarray(heat["y"])
    # RoI cells 6.25..10.25; the view adds at most 1 cell and half a cell more each side.
    assert x.min() >= 4.5 and x.max() <= 12.5 and y.min() >= 4.5 and y.max() <= 12.5
    rows, cols = (y - 0.5).astype(int), (x - 0.5).astype(int)
    np.testing.assert_array_equal(heat["z"], VALUES[np.ix_(rows, cols)])
    assert (heat["customdata"][..., 0] == rows[:, None]).all()
    assert (heat["customdata"][..., 1] == cols[None, :]).all()


def test_roi_is_the_last_shape():
    for trace in trace_all(VALUES, BOXES[0], SETTINGS[0]).values():
        shapes = R.method_spec(trace, VALUES, zrange=(0.0, 1.0))["layout"]["shapes"]
        last = shapes[-1]
        assert (last["x0"], last["y0"], last["x1"], last["y1"]) == pytest.approx(trace.roi)


def test_display_image_is_a_bounded_jpeg_of_the_same_picture():
    big = np.zeros((1500, 3000, 3), dtype=np.uint8)
    big[:, :1500] = (255, 0, 0)  # left half red, right half black
    uri = R.encode_display_image(big)
    assert uri.startswith("data:image/jpeg;base64,")
    img = Image.open(io.BytesIO(base64.b64decode(uri.split(",", 1)[1])))
    assert img.format == "JPEG" and img.size == (1024, 512)
    px = np.asarray(img.convert("RGB"), dtype=int)
    assert px[256, 100, 0] > 200 and px[256, 100, 1] < 60 and px[256, 900].max() < 60
    small = R.encode_display_image(IMAGE)
    assert Image.open(io.BytesIO(base64.b64decode(small.split(",", 1)[1]))).size == (512, 512)
    png = io.BytesIO()
    Image.fromarray(IMAGE).save(png, format="PNG")
    assert len(small) < len(base64.b64encode(png.getvalue())) / 4


@pytest.mark.parametrize("method", METHODS)
def test_validated_figures_keep_the_public_api(method):
    trace = trace_all(VALUES, BOXES[0], SETTINGS[0])[method]
    fig = R.method_figure(trace, VALUES, zrange=(0.0, 1.0))
    fig.update_layout(title="changed")  # a plain, validated plotly figure
    assert fig.layout.title.text == "changed"
    assert R.output_figure(trace, zrange=(0.0, 1.0)).data[0].z.shape == trace.output.shape


def test_values_written_in_cells_are_legible_on_every_cell():
    """Each digit is black or white, whichever contrasts more with its cell (WCAG ratio >= 4.5)."""
    from roiviz.lessons import example_map
    from roiviz.style import relative_luminance

    toy = example_map("toy")
    box = (0.0, 0.0, 16.0 * toy.shape[1], 16.0 * toy.shape[0])   # the whole map in view
    trace = trace_all(toy, box, Settings(output_size=(2, 2), stride=16.0), ("roi_pool",))["roi_pool"]
    spec = R.method_spec(trace, toy, zrange=(float(toy.min()), float(toy.max())))
    heat, text = spec["data"][0], spec["data"][1]
    assert text["mode"] == "text" and len(text["text"]) == toy.size
    # The cell's colour as plotly paints it: the colour scale interpolated at the cell's value.
    t = (toy.ravel() - heat["zmin"]) / (heat["zmax"] - heat["zmin"])
    stops = np.array([s for s, _ in heat["colorscale"]])
    rgb = np.array([[float(v) for v in c[c.index("(") + 1:-1].split(",")] for _, c in heat["colorscale"]])
    cells = np.stack([np.interp(t, stops, rgb[:, k]) for k in range(3)], -1)
    cell_lum = relative_luminance(cells)
    text_lum = np.array([1.0 if c.upper() == "#FFFFFF" else 0.0 for c in text["textfont"]["color"]])
    hi, lo = np.maximum(cell_lum, text_lum), np.minimum(cell_lum, text_lum)
    assert ((hi + 0.05) / (lo + 0.05)).min() >= 4.5
    assert set(text["text"]) == {f"{v:.3g}" for v in toy.ravel()}


def test_output_numbers_are_written_only_where_they_fit():
    """The heatmap writes the most precise numbers that fit its smallest cells, else none."""
    out = np.array([[0.123456, 12.5], [0.5, 0.007]], dtype=np.float32)
    font = 20
    chosen = {cell: R.output_number_format(out, cell, font) for cell in (20, 40, 70, 90, 120)}
    assert chosen[20] is None and chosen[40] is None          # under 1.4 em high, or too narrow
    for cell, template in chosen.items():
        if template is not None:
            python = dict(R.OUTPUT_FORMATS)[template]
            assert max(len(format(float(v), python)) for v in out.ravel()) * 0.58 * font + 8 <= cell
    assert chosen[120] == R.OUTPUT_FORMATS[0][0]              # room for three digits: the most precise
    # The figure asks for it with its smallest cells: a 3 x 3 output gets numbers in presenter
    # mode, 14 x 14 none (hover only), and the text size is the presenter font.
    for size, written in ((3, True), (14, False)):
        trace = trace_all(VALUES, BOXES[0], Settings(output_size=(size, size), stride=16.0, sampling_ratio=1))["roi_align"]
        heat = R.output_spec(trace, zrange=(0.0, 1.0), style=Style(presenter=True))["data"][0]
        assert ("texttemplate" in heat) == written
        assert heat["textfont"]["size"] >= 20


def test_legend_height_does_not_depend_on_the_width():
    """One legend entry a row: the bottom margin reserved holds it on a phone and a projector."""
    trace = trace_all(VALUES, BOXES[0], SETTINGS[0])["roi_align"]
    spec = R.method_spec(trace, VALUES, zrange=(0.0, 1.0), style=Style(presenter=True))
    assert spec["layout"]["legend"]["orientation"] == "v"
    entries = [d for d in spec["data"] if d.get("showlegend", True) and d.get("type") == "scatter"]
    entries += [s for s in spec["layout"]["shapes"] if s.get("showlegend")]
    assert spec["layout"]["margin"]["b"] >= len(entries) * 1.3 * (Style(presenter=True).font_size - 2)


@pytest.mark.parametrize("size", [3, 7, 14])
@pytest.mark.parametrize("presenter", [False, True])
def test_method_panel_marks_are_sized_from_the_cells_on_screen(size, presenter):
    """RoI Pool's winners are rings inside their cells (feature units, one per winning cell,
    never the 15-20 px stars that hid the map at 7 x 7); bin marks and sampling points are sized
    from the bins and the sample spacing on screen, and samples closer than 6 px are thinned."""
    style = Style(presenter=presenter)
    values = features.image_feature_map(IMAGE, 8).channel(0)
    box = (180.0, 60.0, 330.0, 210.0)                                  # the pyramids page's, on P3
    traces = trace_all(values, box, Settings(output_size=(size, size), stride=8.0, sampling_ratio=2))
    for method in ("roi_pool", "roi_align"):
        trace = traces[method]
        spec = R.method_spec(trace, values, zrange=(0.0, 1.0), style=style)
        data = {d["name"]: d for d in spec["data"]}
        extent = (spec["layout"]["xaxis"]["range"][0], spec["layout"]["yaxis"]["range"][1],
                  spec["layout"]["xaxis"]["range"][1], spec["layout"]["yaxis"]["range"][0])
        cell_px = R.smallest_cell_px(extent, spec["layout"])
        bin_px = trace.smallest_bin_side * cell_px
        assert data["bin centre (hover for numbers)"]["marker"]["size"] <= max(0.4 * bin_px, 4.0)
        assert not any(d.get("marker", {}).get("symbol") == "star" for d in spec["data"])
        if method == "roi_pool":
            ring = data["max of each bin: ring"]
            corners = np.array([v for v in ring["x"] if v is not None]).reshape(-1, 5)
            rows = np.array([v for v in ring["y"] if v is not None]).reshape(-1, 5)
            cells = {(int(np.floor(r.min())), int(np.floor(c.min()))) for r, c in zip(rows, corners)}
            assert cells == {b.argmax for b in trace.bins if b.argmax is not None}
            assert len(cells) == len(corners)                       # one ring per winning cell
            # Inside its cell, with room to see the cell's colour.
            assert np.all(np.floor(corners.min(1)) == np.floor(corners.max(1) - 1e-9))
            assert np.all(corners.max(1) - corners.min(1) <= 0.8)
            assert data["max of each bin: halo"]["line"]["width"] <= max(0.08 * cell_px, 1.0) + 2
        else:
            points = data[next(n for n in data if n.startswith("sampling points"))]
            k = R.sample_step(trace.smallest_bin_side / trace.grid[0] * cell_px)
            pitch = trace.smallest_bin_side / trace.grid[0] * cell_px * k   # spacing drawn, px
            assert pitch >= R.MIN_SAMPLE_PITCH_PX
            assert len(points["x"]) == sum(len(b.samples) for b in trace.bins) // (k * k)
            diameter = points["marker"]["size"]
            assert np.pi / 4 * diameter ** 2 <= 0.35 * pitch ** 2     # each point covers <= 35% of its share
            assert ("1 in" in points["name"]) == (k > 1)
