"""Tests for roiviz.features: filter-bank maps, toy grids and .npy uploads."""

from __future__ import annotations

import dataclasses
import io
import math
import pickle

import numpy as np
import pytest

from roiviz.features import (
    CHANNEL_NAMES,
    MAX_NPY_ELEMENTS,
    STRIDES,
    FeatureMap,
    image_feature_map,
    load_npy,
    toy_grid,
)


def noise_rgb(h: int, w: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def npy_bytes(arr: np.ndarray, **kwargs) -> bytes:
    buf = io.BytesIO()
    np.save(buf, arr, **kwargs)
    return buf.getvalue()


def npy_header_only(shape: tuple[int, ...], descr: str = "<f4", payload: bytes = b"") -> bytes:
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        buf, {"descr": descr, "fortran_order": False, "shape": shape}
    )
    return buf.getvalue() + payload


def channel(fm: FeatureMap, name: str) -> np.ndarray:
    return fm.channel(fm.channel_names.index(name))


# -- FeatureMap -------------------------------------------------------------------------


def test_feature_map_copies_writeable_input_and_is_read_only():
    src = np.arange(24, dtype=np.float64).reshape(2, 3, 4)
    fm = FeatureMap(values=src, channel_names=("a", "b"), stride=4, source="test")
    assert fm.shape == (2, 3, 4)
    assert fm.values.dtype == np.float32 and not fm.values.flags.writeable
    src[0, 0, 0] = 99.0
    assert fm.values[0, 0, 0] == 0.0
    with pytest.raises(ValueError):
        fm.values[0, 0, 0] = 1.0
    with pytest.raises(dataclasses.FrozenInstanceError):
        fm.stride = 8  # type: ignore[misc]
    np.testing.assert_array_equal(fm.channel(1), src[1].astype(np.float32))


@pytest.mark.parametrize("bad", [-1, 2, 1.0, True, "0"])
def test_channel_bad_index_names_allowed_range(bad):
    fm = FeatureMap(np.zeros((2, 3, 3), np.float32), ("a", "b"), 1, "t")
    with pytest.raises(ValueError, match=r"0\.\.1"):
        fm.channel(bad)


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(values=np.zeros((3, 3), np.float32), channel_names=("a",)),
        dict(values=np.zeros((1, 0, 3), np.float32), channel_names=("a",)),
        dict(values=np.zeros((2, 3, 3), np.float32), channel_names=("a",)),
        dict(values=np.zeros((1, 3, 3), np.float32), channel_names=("a",), stride=0),
    ],
)
def test_feature_map_validation(kwargs):
    kwargs = {"stride": 1, "source": "t", **kwargs}
    with pytest.raises(ValueError):
        FeatureMap(**kwargs)


# -- image_feature_map --------------------------------------------------------------------


def test_image_feature_map_is_deterministic():
    img = noise_rgb(70, 90, seed=1)
    a, b = image_feature_map(img, 8), image_feature_map(img.copy(), 8)
    np.testing.assert_array_equal(a.values, b.values)
    assert a.channel_names == CHANNEL_NAMES and a.stride == 8


@pytest.mark.parametrize("stride", STRIDES)
def test_image_feature_map_shapes(stride):
    fm = image_feature_map(noise_rgb(100, 130), stride)
    assert fm.shape == (len(CHANNEL_NAMES), math.ceil(100 / stride), math.ceil(130 / stride))
    assert fm.stride == stride


def test_shape_example_stride_32():
    assert image_feature_map(noise_rgb(100, 130), 32).shape[1:] == (4, 5)
    assert image_feature_map(noise_rgb(1, 1), 32).shape == (8, 1, 1)


def test_channels_normalised_to_unit_interval_and_read_only():
    fm = image_feature_map(noise_rgb(96, 64, seed=2), 4)
    assert fm.values.dtype == np.float32 and not fm.values.flags.writeable
    for c in range(fm.shape[0]):
        ch = fm.channel(c)
        assert ch.min() == 0.0 and ch.max() == 1.0, fm.channel_names[c]


def test_vertical_stripes_light_vertical_edges_only():
    img = np.zeros((64, 64, 3), np.uint8)
    img[:, 8:16] = 255
    img[:, 40:48] = 255
    fm = image_feature_map(img, 8)
    vertical, horizontal = channel(fm, "vertical edges"), channel(fm, "horizontal edges")
    assert vertical.max() == 1.0 and vertical.sum() > 4 * horizontal.sum()
    # The transposed image swaps the roles.
    fm_t = image_feature_map(np.ascontiguousarray(img.transpose(1, 0, 2)), 8)
    assert channel(fm_t, "horizontal edges").sum() > 4 * channel(fm_t, "vertical edges").sum()


def test_diagonal_edge_lights_diagonal_channel_not_for_stripes():
    y, x = np.mgrid[:64, :64]
    diagonal = np.repeat(((x > y) * 255).astype(np.uint8)[..., None], 3, axis=2)
    fm = image_feature_map(diagonal, 8)
    diag = channel(fm, "diagonal edges")
    assert diag.max() == 1.0
    assert np.all(np.diag(diag) > 0.5) and diag[7, 0] == 0.0  # on vs. off the edge
    stripes = np.zeros((64, 64, 3), np.uint8)
    stripes[:, 8:16] = 255
    assert not np.any(channel(image_feature_map(stripes, 8), "diagonal edges"))


def test_bright_dot_is_a_blob_and_red_is_red():
    img = np.zeros((64, 64, 3), np.uint8)
    img[37:40, 21:24] = 255  # bright 3x3 dot in cell (4, 2) at stride 8
    img[:8, 56:] = (255, 0, 0)  # red patch in cell (0, 7)
    fm = image_feature_map(img, 8)
    blobs = channel(fm, "blobs")
    assert np.unravel_index(np.argmax(blobs), blobs.shape) == (4, 2)
    red_green = channel(fm, "red-green")
    assert np.unravel_index(np.argmax(red_green), red_green.shape) == (0, 7)
    luminance = channel(fm, "luminance")
    assert luminance[0, 0] == 0.0 and luminance.max() == 1.0
    assert np.unravel_index(np.argmax(luminance), luminance.shape) == (0, 7)  # 0.299 vs 9/64


def test_constant_image_gives_finite_zeros_without_border_artefacts():
    img = np.full((100, 130, 3), 77, np.uint8)  # not a multiple of any stride
    for stride in STRIDES:
        fm = image_feature_map(img, stride)
        assert np.all(np.isfinite(fm.values)) and not np.any(fm.values)


def test_source_mentions_name_and_stride():
    assert image_feature_map(noise_rgb(8, 8), 16, name="coffee").source == (
        "conv filter bank on 'coffee', stride 16"
    )


@pytest.mark.parametrize(
    "image, stride, argument",
    [
        (noise_rgb(8, 8), 3, "stride"),
        (noise_rgb(8, 8), 64, "stride"),
        (noise_rgb(8, 8), True, "stride"),
        (noise_rgb(8, 8), 8.0, "stride"),
        (noise_rgb(8, 8).astype(np.float32), 8, "image"),
        (noise_rgb(8, 8)[..., 0], 8, "image"),
        (np.zeros((8, 8, 4), np.uint8), 8, "image"),
        (np.zeros((0, 8, 3), np.uint8), 8, "image"),
        (noise_rgb(2, 2).tolist(), 8, "image"),
    ],
)
def test_image_feature_map_bad_arguments(image, stride, argument):
    with pytest.raises(ValueError, match=argument):
        image_feature_map(image, stride)


# -- toy_grid -------------------------------------------------------------------------------


def test_toy_grid_values_and_determinism():
    fm = toy_grid()
    assert fm.shape == (1, 8, 8) and fm.channel_names == ("toy values",) and fm.stride == 32
    assert fm.values.dtype == np.float32 and not fm.values.flags.writeable
    assert np.all(fm.values == np.round(fm.values))
    assert fm.values.min() >= 0 and fm.values.max() <= 9
    assert len(np.unique(fm.values)) > 5
    np.testing.assert_array_equal(fm.values, toy_grid(8, 8, 0).values)
    assert not np.array_equal(fm.values, toy_grid(8, 8, 1).values)


def test_toy_grid_size_and_stride():
    fm = toy_grid(height=5, width=7, seed=3, stride=16)
    assert fm.shape == (1, 5, 7) and fm.stride == 16
    assert toy_grid(1, 64).shape == (1, 1, 64)


@pytest.mark.parametrize(
    "kwargs, argument",
    [
        (dict(height=0), "height"),
        (dict(height=65), "height"),
        (dict(width=0), "width"),
        (dict(width=2.5), "width"),
        (dict(height=True), "height"),
        (dict(seed=-1), "seed"),
        (dict(stride=0), "stride"),
    ],
)
def test_toy_grid_bad_arguments(kwargs, argument):
    with pytest.raises(ValueError, match=argument):
        toy_grid(**kwargs)


# -- load_npy -------------------------------------------------------------------------------


def test_load_npy_two_d_int():
    arr = np.arange(12, dtype=np.int64).reshape(3, 4)
    fm = load_npy(npy_bytes(arr), stride=16)
    assert fm.shape == (1, 3, 4) and fm.stride == 16
    assert fm.channel_names == ("channel 0",)
    assert fm.values.dtype == np.float32 and not fm.values.flags.writeable
    np.testing.assert_array_equal(fm.channel(0), arr.astype(np.float32))


@pytest.mark.parametrize(
    "arr",
    [
        np.random.default_rng(0).normal(size=(3, 5, 6)),  # float64
        np.random.default_rng(0).normal(size=(2, 4, 4)).astype(">f4"),  # big-endian
        np.asfortranarray(np.arange(60, dtype=np.uint8).reshape(3, 4, 5)),
        np.eye(4, dtype=bool)[None],
        np.arange(16, dtype=np.float16).reshape(4, 4),
    ],
)
def test_load_npy_accepted_dtypes_and_layouts(arr):
    fm = load_npy(npy_bytes(arr))
    expected = arr.astype(np.float32)
    if expected.ndim == 2:
        expected = expected[None]
    np.testing.assert_array_equal(fm.values, expected)
    assert fm.values.flags.c_contiguous
    assert fm.channel_names == tuple(f"channel {i}" for i in range(expected.shape[0]))


def test_load_npy_version_2_header():
    buf = io.BytesIO()
    arr = np.ones((2, 3, 3), np.float32)
    np.lib.format.write_array(buf, arr, version=(2, 0))
    assert buf.getvalue()[6:8] == b"\x02\x00"
    np.testing.assert_array_equal(load_npy(buf.getvalue()).values, arr)


UNPICKLED: list[str] = []


def _record_unpickling() -> str:
    UNPICKLED.append("unpickled!")
    return "payload"


class Payload:
    def __reduce__(self):
        return (_record_unpickling, ())


def test_pickled_object_npy_refused_without_unpickling():
    data = npy_bytes(np.array([Payload(), Payload()], dtype=object), allow_pickle=True)
    # Sanity check: the payload really does run when unpickled.
    np.load(io.BytesIO(data), allow_pickle=True)
    assert UNPICKLED
    UNPICKLED.clear()
    with pytest.raises(ValueError, match="pickle"):
        load_npy(data)
    assert UNPICKLED == []
    # A 2-D object array (right shape for a map) and a raw pickle are refused too.
    data_2d = npy_bytes(np.array([[Payload()]], dtype=object), allow_pickle=True)
    with pytest.raises(ValueError, match="pickle"):
        load_npy(data_2d)
    with pytest.raises(ValueError, match="not a .npy"):
        load_npy(pickle.dumps(Payload()))
    assert UNPICKLED == []


def test_npz_refused():
    buf = io.BytesIO()
    np.savez(buf, a=np.ones((2, 2)))
    with pytest.raises(ValueError, match=r"\.npz is not supported"):
        load_npy(buf.getvalue())


@pytest.mark.parametrize(
    "data, fragment",
    [
        (b"", "empty"),
        (b"just some text, not numpy", "not a .npy"),
        (npy_bytes(np.arange(5.0)), "1 dimension"),
        (npy_bytes(np.array(3.0)), "0 dimension"),
        (npy_bytes(np.ones((2, 2, 2, 2))), "4 dimension"),
        (npy_bytes(np.ones((0, 4))), "empty"),
        (npy_bytes(np.ones((2, 0, 4))), "empty"),
        (npy_bytes(np.ones((2, 2), np.complex64)), "complex"),
        (npy_bytes(np.zeros((2, 2), dtype=[("a", "<f4"), ("b", "<i4")])), "structured"),
        (npy_bytes(np.array([["a", "b"]])), "not numbers"),
        (npy_bytes(np.zeros((2, 2), "datetime64[s]")), "not numbers"),
        (npy_bytes(np.ones((257, 2, 2), np.uint8)), "257 channels"),
        (npy_bytes(np.ones((1025, 2), np.uint8)), "1025 x 2"),
        (npy_header_only((256, 1024, 1024)), "268,435,456 values"),
        (npy_header_only((10, 10), payload=bytes(40)), "truncated"),
        (npy_header_only((2, 2), descr="<f4", payload=b"\x00" * 16)[:-20], "corrupt"),
        (b"\x93NUMPY\x03\x00" + bytes(20), "version 3.0"),
    ],
)
def test_load_npy_rejections(data, fragment):
    with pytest.raises(ValueError) as exc:
        load_npy(data)
    msg = str(exc.value)
    assert fragment.lower() in msg.lower(), msg
    assert "Traceback" not in msg and msg[0].isupper()


def test_huge_declared_shape_refused_quickly():
    # Header only, no body: refusing it from the header proves nothing was allocated or read
    # (reading the body would fail with a different, truncation error).
    data = npy_header_only((256, 1024, 1024))  # would be 1 GiB of float32
    with pytest.raises(ValueError, match="limit"):
        load_npy(data)


def test_max_elements():
    data = npy_bytes(np.ones((4, 10, 10), np.float32))
    assert load_npy(data, max_elements=400).shape == (4, 10, 10)
    with pytest.raises(ValueError, match="400"):
        load_npy(data, max_elements=399)
    assert MAX_NPY_ELEMENTS == 4_000_000
    with pytest.raises(ValueError, match="max_elements"):
        load_npy(data, max_elements=0)


def test_non_finite_values_counted():
    arr = np.ones((3, 3), np.float64)
    arr[0, 0], arr[1, 1], arr[2, 2] = np.nan, np.inf, -np.inf
    with pytest.raises(ValueError, match="3 non-finite"):
        load_npy(npy_bytes(arr))


def test_float32_overflow_refused():
    arr = np.ones((2, 2), np.float64)
    arr[0, 1] = -1e39
    with pytest.raises(ValueError, match="1 values .* too large for float32"):
        load_npy(npy_bytes(arr))
    arr[0, 1] = 3e38  # still representable
    assert load_npy(npy_bytes(arr)).values[0, 0, 1] == np.float32(3e38)


def test_load_npy_bad_arguments():
    data = npy_bytes(np.ones((2, 2)))
    with pytest.raises(ValueError, match="stride"):
        load_npy(data, stride=0)
    with pytest.raises(TypeError):
        load_npy("map.npy")  # type: ignore[arg-type]
