"""Tests for roiviz.samples: the shipped photographs and the name-only registry."""

from __future__ import annotations

import numpy as np
import pytest

from roiviz.samples import ASSETS_DIR, SAMPLE_IMAGES, load_sample_image, sample_image_names


def test_registry_names_and_files():
    names = sample_image_names()
    assert names == tuple(SAMPLE_IMAGES) and len(names) >= 2
    license_text = (ASSETS_DIR / "LICENSE.md").read_text(encoding="utf-8")
    for file_name in SAMPLE_IMAGES.values():
        assert "/" not in file_name and "\\" not in file_name and ".." not in file_name
        path = ASSETS_DIR / file_name
        assert path.is_file() and path.stat().st_size < 300_000
        assert f"`{file_name}`" in license_text


@pytest.mark.parametrize("name", list(SAMPLE_IMAGES))
def test_samples_load_as_read_only_rgb(name):
    img = load_sample_image(name)
    assert img.dtype == np.uint8 and img.ndim == 3 and img.shape[2] == 3
    assert not img.flags.writeable and img.flags.c_contiguous
    assert 400 <= max(img.shape[:2]) <= 512
    assert img.std() > 20  # a real photograph, not a blank
    assert load_sample_image(name) is img  # cached


def test_one_sample_is_exactly_512_square():
    assert load_sample_image("astronaut").shape == (512, 512, 3)


@pytest.mark.parametrize(
    "bad",
    ["../etc/passwd", "/etc/passwd", "astronaut.jpg", "Astronaut", "", None, 3, ["astronaut"]],
)
def test_unknown_names_rejected_with_allowed_list(bad):
    with pytest.raises(ValueError) as exc:
        load_sample_image(bad)  # type: ignore[arg-type]
    for name in SAMPLE_IMAGES:
        assert repr(name) in str(exc.value)
