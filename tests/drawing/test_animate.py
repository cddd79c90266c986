"""Tests for roiviz.drawing.animate: the GIF's frames, size and per-frame boxes and outputs."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from roiviz.drawing.animate import MAX_GIF_BYTES, animate_gif, animation_offsets
from roiviz.lessons.examples import SEED_EXAMPLE_BOX, seed_example_settings
from roiviz.lessons.walkthrough import example_map
from roiviz.ops import roi_align, roi_pool

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"


def test_offsets_go_across_one_cell_and_back():
    np.testing.assert_allclose(animation_offsets(4), [0, 0.25, 0.5, 0.75, 1, 0.75, 0.5, 0.25])
    for bad in (1, 65, 2.5, "4"):
        with pytest.raises(ValueError, match="steps"):
            animation_offsets(bad)


def _frames(gif: bytes) -> list[np.ndarray]:
    im = Image.open(io.BytesIO(gif))
    out = []
    for k in range(im.n_frames):
        im.seek(k)
        out.append(np.asarray(im.convert("RGB")).astype(int))
    return out


@pytest.mark.parametrize("mode", ["slide", "grow"])
def test_gif_frames_follow_the_engine(mode):
    values = example_map("photo")
    settings = seed_example_settings("library", sampling_ratio=2)
    a = animate_gif(values, SEED_EXAMPLE_BOX, settings, ["roi_pool", "roi_align"], mode=mode, steps=3,
                    frame_ms=150)
    im = Image.open(io.BytesIO(a.gif))
    assert im.format == "GIF" and im.n_frames == 6 == len(a.boxes) == len(a.outputs)
    assert im.info["loop"] == 0 and im.info["duration"] == 150
    assert im.size == a.size and len(a.gif) <= MAX_GIF_BYTES
    stride = settings.stride
    x1, y1, x2, y2 = SEED_EXAMPLE_BOX
    for offset, box, outputs in zip(a.offsets, a.boxes, a.outputs):
        d = offset * stride
        want = (x1 + d, y1, x2 + d, y2) if mode == "slide" else (x1 - d / 2, y1, x2 + d / 2, y2)
        np.testing.assert_allclose(box, want, atol=1e-9)
        # The numbers drawn are the batched ops' for that box.
        feats = torch.tensor(np.array(values), dtype=torch.float32)[None, None]
        rois = torch.tensor([[0.0, *box]])
        align = roi_align(feats, rois, settings.output_size, 1 / stride, 2, True)[0, 0].numpy()
        pool = roi_pool(feats, rois, settings.output_size, 1 / stride)[0, 0].numpy()
        np.testing.assert_allclose(outputs["roi_align"], align, atol=1e-5)
        np.testing.assert_allclose(outputs["roi_pool"], pool, atol=1e-5)
    frames = _frames(a.gif)
    assert all(f.shape == frames[0].shape for f in frames)
    # Something moves between consecutive frames; the way back draws the same pictures.
    for f0, f1 in zip(frames, frames[1:]):
        assert np.abs(f0 - f1).sum() > 0
    assert np.array_equal(frames[1], frames[-1]) and np.array_equal(frames[2], frames[-2])


def test_the_default_gif_of_the_playground_weighs_under_2_mb():
    from roiviz.features import image_feature_map
    from roiviz.samples import load_sample_image
    from roiviz.app.state import default_box
    from roiviz.records import Settings

    values = image_feature_map(load_sample_image("astronaut"), 16).channel(0)
    a = animate_gif(values, default_box(values.shape, 16), Settings(output_size=(7, 7), stride=16, sampling_ratio=2))
    assert len(a.boxes) == 16 and len(a.gif) <= MAX_GIF_BYTES
    assert 900 <= a.size[0] <= 2000
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "animation-playground-7x7.gif").write_bytes(a.gif)


def test_bad_arguments_are_value_errors():
    values = example_map("toy")
    settings = seed_example_settings()
    with pytest.raises(ValueError, match="mode"):
        animate_gif(values, SEED_EXAMPLE_BOX, settings, mode="spin")
    with pytest.raises(ValueError, match="methods"):
        animate_gif(values, SEED_EXAMPLE_BOX, settings, ["roi_magic"])
    with pytest.raises(ValueError, match="frame_ms"):
        animate_gif(values, SEED_EXAMPLE_BOX, settings, frame_ms=5)


def test_every_method_is_in_the_gif_past_the_sample_budget():
    """At 7 x 7 bins and sampling ratio 16 (12,544 samples a method) RoI Warp and RoI Align are
    in every frame (thinned traces), with the engine's outputs, and every frame says so."""
    from roiviz.features import image_feature_map
    from roiviz.methods import METHODS as ALL, trace_all as trace_every
    from roiviz.records import Settings as S
    from roiviz.samples import load_sample_image
    from roiviz.app.state import default_box

    values = image_feature_map(load_sample_image("astronaut"), 16).channel(0)
    box = default_box(values.shape, 16)
    settings = S(output_size=(7, 7), stride=16, sampling_ratio=16)
    anim = animate_gif(values, box, settings, ALL, steps=2)
    assert all(list(frame) == list(ALL) for frame in anim.outputs)
    assert anim.thinned.startswith("Sampling points thinned: RoI Warp and RoI Align take 16 x 16 per bin")
    for b, outputs in zip(anim.boxes, anim.outputs):
        reference = trace_every(values, b, settings, ALL, record_samples=False)
        for m in ALL:   # thinned traces hold the batched op's output: float32 order, a ulp apart
            np.testing.assert_allclose(outputs[m], reference[m].output, rtol=0, atol=1e-6)
