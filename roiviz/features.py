"""Feature maps for the RoI pooling demos, built without any downloaded weights.

Three sources of a :class:`FeatureMap` (``float32 [C, h, w]``):

* :func:`image_feature_map` - a fixed, hand-designed bank of convolution filters
  applied to an RGB image and pooled down to a CNN-like stride (4, 8, 16 or 32);
* :func:`toy_grid` - a small grid of integers 0..9, like the hand-drawn examples in
  blog posts about RoI Pool / RoI Align;
* :func:`load_npy` - an array uploaded by the user as a ``.npy`` file, parsed without
  ever unpickling anything.

No Streamlit import; every function is deterministic and pure.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

__all__ = [
    "CHANNEL_NAMES",
    "MAX_NPY_CHANNELS",
    "MAX_NPY_ELEMENTS",
    "MAX_NPY_SIDE",
    "STRIDES",
    "FeatureMap",
    "feature_map_from_array",
    "image_feature_map",
    "load_npy",
    "toy_grid",
]


def _is_int(value: object) -> bool:
    """True for Python/numpy integers, False for bool and everything else."""
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


@dataclass(frozen=True, eq=False)
class FeatureMap:
    """An immutable stack of 2-D feature channels.

    Attributes:
        values: ``float32 [C, h, w]``, C-contiguous and read-only (a read-only copy is
            made on construction if the given array is writeable or of another dtype).
        channel_names: one human-readable name per channel (``len == C``).
        stride: image pixels per feature cell along each axis (cell ``(y, x)`` covers
            image pixels ``[y*stride, (y+1)*stride) x [x*stride, (x+1)*stride)``);
            1 for maps that are not derived from an image.
        source: short human description, e.g. ``"conv filter bank on 'coffee', stride 16"``.

    Equality and hashing are by identity (``eq=False``): comparing arrays element-wise
    is rarely what is meant; compare ``values`` explicitly instead.
    """

    values: np.ndarray
    channel_names: tuple[str, ...]
    stride: int
    source: str

    def __post_init__(self) -> None:
        values = self.values
        if not isinstance(values, np.ndarray):
            raise ValueError(f"values must be a numpy array, got {type(values).__name__}")
        if values.ndim != 3 or 0 in values.shape:
            raise ValueError(
                f"values must have shape [C, h, w] with all sizes >= 1, got {values.shape}"
            )
        if values.dtype != np.float32 or values.flags.writeable or not values.flags.c_contiguous:
            values = np.array(values, dtype=np.float32, order="C", copy=True)
            values.flags.writeable = False
            object.__setattr__(self, "values", values)
        names = tuple(self.channel_names)
        if len(names) != values.shape[0] or not all(isinstance(n, str) for n in names):
            raise ValueError(
                f"channel_names must be {values.shape[0]} strings (one per channel), "
                f"got {self.channel_names!r}"
            )
        object.__setattr__(self, "channel_names", names)
        if not _is_int(self.stride) or self.stride < 1:
            raise ValueError(f"stride must be an int >= 1, got {self.stride!r}")
        object.__setattr__(self, "stride", int(self.stride))
        if not isinstance(self.source, str):
            raise ValueError(f"source must be a str, got {type(self.source).__name__}")

    @property
    def shape(self) -> tuple[int, int, int]:
        """``(C, h, w)``."""
        c, h, w = self.values.shape
        return int(c), int(h), int(w)

    def channel(self, i: int) -> np.ndarray:
        """Channel ``i`` as a read-only ``float32 [h, w]`` view.

        Raises:
            ValueError: if ``i`` is not an int in ``0 .. C-1`` (negative indices are
                not accepted).
        """
        n = self.values.shape[0]
        if not _is_int(i) or not 0 <= i < n:
            raise ValueError(f"channel index must be an int in 0..{n - 1}, got {i!r}")
        return self.values[int(i)]


# ---------------------------------------------------------------------------------------
# Image -> feature map with a fixed filter bank
# ---------------------------------------------------------------------------------------

#: Strides accepted by :func:`image_feature_map` (those of common CNN backbones' stages).
STRIDES: tuple[int, ...] = (4, 8, 16, 32)

#: Channels of :func:`image_feature_map`, in order. See that function for definitions.
CHANNEL_NAMES: tuple[str, ...] = (
    "luminance",
    "red-green",
    "blue-yellow",
    "vertical edges",
    "horizontal edges",
    "diagonal edges",
    "blobs",
    "edge energy",
)

_LOG_SIGMA = 2.0  # pixels; Laplacian-of-Gaussian scale for the "blobs" channel
_LOG_RADIUS = 6  # kernel is (2 * radius + 1) ** 2 = 13 x 13 (3 sigma)


def _edge_kernels() -> torch.Tensor:
    """Four 3x3 gradient kernels, ``float32 [4, 1, 3, 3]``: Sobel x, Sobel y, two diagonals."""
    sobel_x = [[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]]
    sobel_y = [[-1.0, -2.0, -1.0], [0.0, 0.0, 0.0], [1.0, 2.0, 1.0]]
    diag_a = [[0.0, 1.0, 2.0], [-1.0, 0.0, 1.0], [-2.0, -1.0, 0.0]]
    diag_b = [[-2.0, -1.0, 0.0], [-1.0, 0.0, 1.0], [0.0, 1.0, 2.0]]
    return torch.tensor([sobel_x, sobel_y, diag_a, diag_b], dtype=torch.float32)[:, None]


def _negated_log_kernel(sigma: float = _LOG_SIGMA, radius: int = _LOG_RADIUS) -> torch.Tensor:
    """Negated, zero-mean Laplacian of Gaussian, ``float32 [1, 1, 2r+1, 2r+1]``.

    Responds positively to a bright spot of radius about ``sigma * sqrt(2)`` pixels on
    a darker surround; it sums to 0, so flat regions give 0.
    """
    ax = np.arange(-radius, radius + 1, dtype=np.float64)
    yy, xx = np.meshgrid(ax, ax, indexing="ij")
    r2 = (xx**2 + yy**2) / (2.0 * sigma**2)
    log = (r2 - 1.0) * np.exp(-r2) / (math.pi * sigma**4)  # LoG up to a positive factor
    log -= log.mean()
    return torch.from_numpy(-log.astype(np.float32))[None, None]


_EDGE_KERNELS = _edge_kernels()
_LOG_KERNEL = _negated_log_kernel()


def _normalise_channels(x: np.ndarray) -> np.ndarray:
    """Scale each channel of ``[C, h, w]`` to ``[0, 1]`` by its min/max (constant -> 0)."""
    out = np.zeros_like(x, dtype=np.float32)
    for c in range(x.shape[0]):
        lo, hi = float(x[c].min()), float(x[c].max())
        if hi - lo > 1e-12 * max(1.0, abs(hi), abs(lo)):
            out[c] = ((x[c] - lo) / (hi - lo)).astype(np.float32)
    return np.clip(out, 0.0, 1.0)


def image_feature_map(image: np.ndarray, stride: int, *, name: str = "image") -> FeatureMap:
    """Feature map of an RGB image from a fixed bank of hand-designed filters.

    Nothing is learned or downloaded; the result depends only on the pixels and the
    stride. Steps, all on ``float32`` in torch (``[1, C, H, W]``):

    1. Scale RGB to 0..1 and pad right/bottom by edge replication to ``Hp x Wp``, the
       next multiples of ``stride`` (so every output cell covers exactly
       ``stride x stride`` pixels; pixels beyond the image repeat the border).
    2. Per-pixel channels (``Y = 0.299 R + 0.587 G + 0.114 B``, Rec. 601 luma):

       * ``luminance``: ``Y`` (average-pooled);
       * ``red-green``: ``R - G``, a signed colour opponent (average);
       * ``blue-yellow``: ``B - (R + G) / 2``, a signed colour opponent (average);
       * ``vertical edges``: ``|Sx * Y|``, 3x3 Sobel along x, i.e. intensity changes
         from left to right (max-pooled);
       * ``horizontal edges``: ``|Sy * Y|``, 3x3 Sobel along y (max);
       * ``diagonal edges``: ``ReLU(max(|D45 * Y|, |D135 * Y|) - max(|Sx * Y|, |Sy * Y|))``
         with 3x3 diagonal Sobels; the subtraction removes their partial response to
         axis-aligned edges (max);
       * ``blobs``: ``ReLU(-LoG * Y)``, negated Laplacian of Gaussian (sigma 2 px,
         13x13): bright spots a few pixels across on a darker surround (average);
       * ``edge energy``: ``sqrt((Sx * Y)^2 + (Sy * Y)^2)``, gradient magnitude (average).

       Convolutions use replicate padding, so image borders do not create edges.
    3. Downsample with ``kernel = stride``, ``stride = stride`` pooling (average or
       max as listed) to ``h = ceil(H / stride)``, ``w = ceil(W / stride)``.
    4. Normalise each channel to ``[0, 1]`` by its own min/max over the map (a
       constant channel becomes all zeros), so colour scales are comparable. Values
       are therefore relative within one map: e.g. stripes whose edges fall in every
       cell give a constant, hence all-zero, edge channel.

    Args:
        image: ``uint8 [H, W, 3]`` RGB, ``H, W >= 1``.
        stride: image pixels per feature cell, one of :data:`STRIDES`.
        name: label used in ``FeatureMap.source`` (e.g. the sample image's name).

    Returns:
        ``FeatureMap`` with ``values`` ``float32 [8, ceil(H/stride), ceil(W/stride)]``,
        channel names :data:`CHANNEL_NAMES` and the given ``stride``.

    Raises:
        ValueError: naming the argument, the value received and what is allowed.

    Cost: linear in pixels; about 0.1 s for 1024 x 1024 on two CPU cores.
    """
    if not isinstance(image, np.ndarray):
        raise ValueError(f"image must be a numpy uint8 array [H, W, 3], got {type(image).__name__}")
    if image.dtype != np.uint8:
        raise ValueError(f"image must have dtype uint8, got {image.dtype}")
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"image must have shape [H, W, 3] (RGB), got {image.shape}")
    if image.shape[0] < 1 or image.shape[1] < 1:
        raise ValueError(f"image must be at least 1 x 1 pixels, got {image.shape}")
    if not _is_int(stride) or stride not in STRIDES:
        raise ValueError(f"stride must be one of {STRIDES}, got {stride!r}")
    stride = int(stride)
    if not isinstance(name, str):
        raise ValueError(f"name must be a str, got {type(name).__name__}")

    height, width = image.shape[:2]
    out_h, out_w = -(-height // stride), -(-width // stride)

    with torch.no_grad():
        # torch.tensor copies, so read-only input arrays are fine (from_numpy would warn).
        rgb = torch.tensor(image).permute(2, 0, 1)[None]
        rgb = rgb.to(torch.float32).mul_(1.0 / 255.0)  # [1, 3, H, W]
        pad_h, pad_w = out_h * stride - height, out_w * stride - width
        if pad_h or pad_w:
            rgb = F.pad(rgb, (0, pad_w, 0, pad_h), mode="replicate")
        r, g, b = rgb[:, 0:1], rgb[:, 1:2], rgb[:, 2:3]
        lum = 0.299 * r + 0.587 * g + 0.114 * b  # [1, 1, Hp, Wp]
        red_green = r - g
        blue_yellow = b - 0.5 * (r + g)

        grads = F.conv2d(F.pad(lum, (1, 1, 1, 1), mode="replicate"), _EDGE_KERNELS)
        gx, gy = grads[:, 0:1], grads[:, 1:2]
        vertical = gx.abs()
        horizontal = gy.abs()
        # Diagonal Sobels also answer ~3/4 as strongly to axis-aligned edges, so only
        # their excess over the stronger axis-aligned response counts as "diagonal".
        diagonal = F.relu(
            torch.maximum(grads[:, 2:3].abs(), grads[:, 3:4].abs())
            - torch.maximum(vertical, horizontal)
        )
        energy = torch.sqrt(gx * gx + gy * gy)
        lum_padded = F.pad(lum, (_LOG_RADIUS,) * 4, mode="replicate")
        blobs = F.relu(F.conv2d(lum_padded, _LOG_KERNEL))

        averaged = F.avg_pool2d(
            torch.cat([lum, red_green, blue_yellow, blobs, energy], dim=1), stride, stride
        )
        maxed = F.max_pool2d(torch.cat([vertical, horizontal, diagonal], dim=1), stride, stride)
        pooled = torch.cat([averaged[:, 0:3], maxed, averaged[:, 3:5]], dim=1)[0]

    values = _normalise_channels(pooled.numpy())
    values.flags.writeable = False
    return FeatureMap(
        values=values,
        channel_names=CHANNEL_NAMES,
        stride=stride,
        source=f"conv filter bank on {name!r}, stride {stride}",
    )


# ---------------------------------------------------------------------------------------
# Toy grid
# ---------------------------------------------------------------------------------------


def toy_grid(height: int = 8, width: int = 8, seed: int = 0, stride: int = 32) -> FeatureMap:
    """A small single-channel map of random integers 0..9, like a hand-drawn example.

    Args:
        height, width: grid size in cells, each in ``1..64``.
        seed: non-negative seed for ``numpy.random.default_rng``; the same
            ``(height, width, seed)`` always gives the same grid.
        stride: image pixels per cell recorded in the map (default 32, the stride of the
            classic RoI Pool blog example: VGG16 after pool5. Detectors pool VGG16's conv5_3,
            at stride 16).

    Returns:
        ``FeatureMap`` with ``values`` ``float32 [1, height, width]`` holding whole
        numbers 0..9, and one channel named ``"toy values"``.
    """
    for arg, value in (("height", height), ("width", width)):
        if not _is_int(value) or not 1 <= value <= 64:
            raise ValueError(f"{arg} must be an int in 1..64, got {value!r}")
    if not _is_int(seed) or seed < 0:
        raise ValueError(f"seed must be an int >= 0, got {seed!r}")
    if not _is_int(stride) or stride < 1:
        raise ValueError(f"stride must be an int >= 1, got {stride!r}")
    rng = np.random.default_rng(int(seed))
    values = rng.integers(0, 10, size=(1, int(height), int(width))).astype(np.float32)
    values.flags.writeable = False
    return FeatureMap(
        values=values,
        channel_names=("toy values",),
        stride=int(stride),
        source=f"toy grid {int(height)} x {int(width)}, seed {int(seed)}",
    )


# ---------------------------------------------------------------------------------------
# .npy upload
# ---------------------------------------------------------------------------------------

#: Largest accepted number of elements (C * h * w) in an uploaded ``.npy``.
MAX_NPY_ELEMENTS: int = 4_000_000
#: Largest accepted channel count C of an uploaded ``.npy``.
MAX_NPY_CHANNELS: int = 256
#: Largest accepted height or width of an uploaded ``.npy``.
MAX_NPY_SIDE: int = 1024

_NPY_SHAPE_HELP = (
    "Save a 2-D array [h, w] (one channel) or a 3-D array [C, h, w] (channels first) "
    "with numpy.save."
)
_FLOAT32_MAX = float(np.finfo(np.float32).max)


def _read_npy_header(fp: io.BytesIO) -> tuple[tuple[int, ...], bool, np.dtype]:
    """Read magic and header only. Returns ``(shape, fortran_order, dtype)``."""
    try:
        version = np.lib.format.read_magic(fp)
    except ValueError as exc:
        raise ValueError(
            "The file is not a .npy array file (it lacks the '\\x93NUMPY' signature). "
            + _NPY_SHAPE_HELP
        ) from exc
    try:
        if version == (1, 0):
            return np.lib.format.read_array_header_1_0(fp)
        if version == (2, 0):
            return np.lib.format.read_array_header_2_0(fp)
    except (ValueError, SyntaxError, TypeError, EOFError) as exc:
        raise ValueError(
            "The .npy file has a corrupt or unreadable header. " + _NPY_SHAPE_HELP
        ) from exc
    raise ValueError(
        f"The .npy file uses format version {version[0]}.{version[1]}, which is only "
        "needed for structured arrays and is not supported. " + _NPY_SHAPE_HELP
    )


def _check_npy_dtype(dtype: np.dtype) -> None:
    if dtype.hasobject:
        raise ValueError(
            "The .npy file holds Python objects (it needs pickle to load), which is "
            "refused for safety: it was not loaded. " + _NPY_SHAPE_HELP
        )
    if dtype.fields is not None or dtype.subdtype is not None or dtype.kind == "V":
        raise ValueError(
            f"The .npy file holds a structured/record array (dtype {dtype}); only plain "
            "numeric arrays (bool, int, uint, float) are supported."
        )
    if dtype.kind == "c":
        raise ValueError(
            f"The .npy file holds complex numbers (dtype {dtype}); only real numbers are "
            "supported. Save np.abs(a) or a.real instead."
        )
    if dtype.kind not in "biuf":
        raise ValueError(
            f"The .npy file holds values of dtype {dtype} (not numbers); only bool, int, "
            "uint and float arrays are supported."
        )


def _check_npy_shape(shape: tuple[int, ...], max_elements: int) -> None:
    if len(shape) not in (2, 3):
        raise ValueError(
            f"The .npy array has {len(shape)} dimension(s), shape {shape}; a feature map "
            "needs 2 or 3. " + _NPY_SHAPE_HELP
        )
    if any(s == 0 for s in shape):
        raise ValueError(f"The .npy array is empty (shape {shape}). " + _NPY_SHAPE_HELP)
    channels, h, w = (1, *shape) if len(shape) == 2 else shape
    if channels > MAX_NPY_CHANNELS:
        raise ValueError(
            f"The .npy array has {channels} channels (shape {shape}, read as [C, h, w]); "
            f"the limit is {MAX_NPY_CHANNELS}. If your array is [h, w, C], transpose it "
            "with a.transpose(2, 0, 1) before saving."
        )
    if h > MAX_NPY_SIDE or w > MAX_NPY_SIDE:
        raise ValueError(
            f"The .npy feature map is {h} x {w} cells (shape {shape}); height and width "
            f"must each be at most {MAX_NPY_SIDE}. Downsample it first."
        )
    elements = math.prod(shape)
    if elements > max_elements:
        raise ValueError(
            f"The .npy array has {elements:,} values (shape {shape}); the limit is "
            f"{max_elements:,}. Use fewer channels or a smaller map."
        )


def feature_map_from_array(values, *, stride: int = 1, channel_names=None,
                           source: str = "an array") -> FeatureMap:
    """A feature map from an array in memory, e.g. a layer's activations in a notebook.

    Args:
        values: ``[h, w]`` or ``[C, h, w]`` (channels first), a numpy array or a torch tensor
            (detached and copied to the CPU), of real numbers; ``h, w <= MAX_NPY_SIDE``.
        stride: image pixels per cell (``>= 1``).
        channel_names: one name per channel; default ``"channel 0"``, ``"channel 1"``, ...
        source: a short description for titles.

    Returns:
        :class:`FeatureMap` with a read-only ``float32 [C, h, w]`` copy of ``values``.

    Raises:
        ValueError: a sentence saying what is wrong (shape, type, non-finite values, size).
    """
    if hasattr(values, "detach"):      # a torch tensor, maybe on a GPU or requiring grad
        values = values.detach().to("cpu").float().numpy()
    arr = np.asarray(values)
    if arr.dtype.kind not in "biuf":
        raise ValueError(f"the feature map must hold real numbers, got dtype {arr.dtype}")
    if arr.ndim not in (2, 3) or 0 in arr.shape:
        raise ValueError(f"the feature map must be [h, w] or [C, h, w] with no empty side, "
                         f"got shape {tuple(arr.shape)}")
    if arr.shape[-1] > MAX_NPY_SIDE or arr.shape[-2] > MAX_NPY_SIDE:
        raise ValueError(f"the feature map is {arr.shape[-2]} x {arr.shape[-1]} cells; height and "
                         f"width must each be at most {MAX_NPY_SIDE}")
    out = np.array(arr if arr.ndim == 3 else arr[None], dtype=np.float32, order="C")
    if not np.isfinite(out).all():
        raise ValueError("the feature map has NaN or infinite values (or values beyond float32)")
    names = (tuple(f"channel {i}" for i in range(out.shape[0])) if channel_names is None
             else tuple(str(n) for n in channel_names))
    out.flags.writeable = False
    return FeatureMap(values=out, channel_names=names, stride=stride, source=source)


def load_npy(
    data: bytes, *, stride: int = 1, max_elements: int = MAX_NPY_ELEMENTS
) -> FeatureMap:
    """Parse an uploaded ``.npy`` file into a feature map, without unpickling.

    The header is read first (``numpy.lib.format.read_magic`` +
    ``read_array_header_1_0/2_0``) so that a dangerous dtype or a huge declared shape
    is refused before anything is allocated; then the array is read with
    ``np.load(..., allow_pickle=False)``.

    Accepted: 2-D ``[h, w]`` (one channel) or 3-D arrays, which are **always** read as
    ``[C, h, w]`` (channels first); dtype bool, int, uint or float (converted to
    ``float32``); ``C <= 256``, ``h, w <= 1024``, ``C*h*w <= max_elements``; all
    values finite and within ``float32`` range. ``.npz`` archives are not supported.

    Args:
        data: complete file contents.
        stride: image pixels per cell to record in the map (``>= 1``; 1 when the map is
            not tied to an image).
        max_elements: largest accepted ``C * h * w``.

    Returns:
        ``FeatureMap`` with ``values`` ``float32 [C, h, w]`` (values as in the file,
        not normalised) and channels named ``"channel 0"``, ``"channel 1"``, ...

    Raises:
        ValueError: with a user-facing message for any unacceptable file or argument.
        TypeError: if ``data`` is not bytes-like (a programming error).
    """
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError(f"data must be bytes, got {type(data).__name__}")
    if not _is_int(stride) or stride < 1:
        raise ValueError(f"stride must be an int >= 1, got {stride!r}")
    if not _is_int(max_elements) or max_elements < 1:
        raise ValueError(f"max_elements must be an int >= 1, got {max_elements!r}")
    data = bytes(data)
    if not data:
        raise ValueError("The file is empty (0 bytes). " + _NPY_SHAPE_HELP)
    if data.startswith(b"PK\x03\x04") or data.startswith(b"PK\x05\x06"):
        raise ValueError(
            "This is a .npz archive (or another zip file); .npz is not supported. Save a "
            "single array with numpy.save('map.npy', a) and upload that .npy file."
        )

    fp = io.BytesIO(data)
    shape, _fortran_order, dtype = _read_npy_header(fp)
    _check_npy_dtype(dtype)
    _check_npy_shape(tuple(int(s) for s in shape), int(max_elements))
    expected = math.prod(shape) * dtype.itemsize
    available = len(data) - fp.tell()
    if available < expected:
        raise ValueError(
            f"The .npy file is truncated: its header declares shape {tuple(shape)} of "
            f"{dtype} ({expected:,} bytes of data) but only {available:,} bytes follow. "
            "Upload the complete file."
        )

    try:
        arr = np.load(io.BytesIO(data), allow_pickle=False)
    except ValueError as exc:
        if "allow_pickle" in str(exc) or "Object arrays" in str(exc):
            raise ValueError(
                "The .npy file holds Python objects (it needs pickle to load), which is "
                "refused for safety. Save a plain numeric array instead."
            ) from exc
        raise ValueError(
            "The .npy file could not be read. " + _NPY_SHAPE_HELP
        ) from exc
    except Exception as exc:  # noqa: BLE001 - EOFError, OSError, ...
        raise ValueError(
            "The .npy file is corrupt and could not be read. " + _NPY_SHAPE_HELP
        ) from exc
    if not isinstance(arr, np.ndarray) or arr.shape != tuple(shape) or arr.dtype != dtype:
        raise ValueError("The .npy file could not be read consistently. " + _NPY_SHAPE_HELP)

    if arr.dtype.kind == "f":
        bad = int(np.count_nonzero(~np.isfinite(arr)))
        if bad:
            raise ValueError(
                f"The .npy array contains {bad:,} non-finite values (NaN or infinity) out "
                f"of {arr.size:,}. Replace them, e.g. with numpy.nan_to_num, and save again."
            )
        if arr.dtype.itemsize > 4:
            too_big = int(np.count_nonzero(np.abs(arr) > _FLOAT32_MAX))
            if too_big:
                raise ValueError(
                    f"{too_big:,} values of the .npy array are too large for float32 "
                    f"(magnitude above {_FLOAT32_MAX:.3g}). Rescale the array and save again."
                )

    values = arr.astype(np.float32, order="C")  # always a fresh copy
    if values.ndim == 2:
        values = values[None]
    values.flags.writeable = False
    return FeatureMap(
        values=values,
        channel_names=tuple(f"channel {i}" for i in range(values.shape[0])),
        stride=int(stride),
        source=f"uploaded .npy, shape {tuple(shape)}, dtype {dtype}",
    )
