"""The live stage in a notebook: ``Stage(features, box=..., stride=16)`` on your own feature map.

Jupyter (Lab and Notebook 7), VS Code, Colab and marimo show :class:`Stage` through
`anywidget <https://anywidget.dev>`_ (``pip install "roiviz[notebook]"``). It is the app's stage,
not a copy: the widget's module is the same bundle of ``assets/stage/`` as the app's component
(:func:`roiviz.drawing.stage_bundle.stage_module`) plus a small entry (``assets/stage/widget.js``) in
which the widget's model stands in for Streamlit.

As in the app, every drag is computed in the browser by the stage's JavaScript engine; on
release the kernel traces the box with roiviz (the reference), and the stage shows how far its
numbers are from the kernel's. The box syncs both ways::

    stage = Stage(features, box=(32, 48, 160, 144), stride=16)
    stage            # shows the stage; drag the box
    stage.box        # the box drawn last, image pixels (x1, y1, x2, y2)
    stage.box = (0, 0, 64, 64)   # moves the drawing
    stage.traces()   # roiviz's traces of that box (dict method -> MethodTrace)
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import anywidget
import numpy as np
import traitlets

from .features import FeatureMap, feature_map_from_array
from .methods import METHODS, trace_all
from .records import MethodTrace, Settings
from .resources import STAGE_DIR
from .app.stage import encode_display_image, parse_stage_value, stage_data
from .drawing.stage_bundle import stage_module
from .app.state import box_problem, default_box

__all__ = ["Stage", "widget_module"]


@functools.lru_cache(maxsize=1)
def widget_module() -> str:
    """The widget's ES module: the stage's bundle with its entry renamed, then widget.js."""
    return (stage_module(default_as="mountStage") + "\n"
            + (STAGE_DIR / "widget.js").read_text(encoding="utf-8"))


#: The stage's height in a notebook cell (CSS pixels): the app's stage at its default, the two
#: surfaces and the four panels in one view of a cell; and the bounds a ``height`` may take.
DEFAULT_HEIGHT, MIN_HEIGHT, MAX_HEIGHT = 640, 360, 2000


class Stage(anywidget.AnyWidget):
    """The live stage on a feature map of yours (and, if given, the image it comes from).

    Args:
        features: ``[H, W]`` or ``[C, H, W]`` numpy array or torch tensor (e.g. a layer's
            activations for one image); cell ``(y, x)`` covers image pixels
            ``[y*stride, (y+1)*stride) x [x*stride, (x+1)*stride)``.
        image: optional ``uint8 [h, w, 3]`` (or ``[h, w]``) image the map was computed from,
            drawn beside the map, at ``stride`` pixels per cell.
        box: ``(x1, y1, x2, y2)`` in image pixels; default a central box.
        stride: image pixels per cell (``spatial_scale = 1 / stride``), an int >= 1.
        methods: keys of :data:`roiviz.methods.METHODS` to show, in any order.
        output_size, sampling_ratio, aligned, reduce, convention: the methods' settings
            (:class:`roiviz.records.Settings`).
        channel: the channel shown first (a picker above the stage switches it).
        channel_names: one name per channel.
        height: the stage's height in the cell (CSS pixels, 360 to 2000): its two surfaces and
            four panels fit in it, whatever the window's height (``stage.height = 800`` resizes).

    Raises:
        ValueError: a sentence saying which argument is wrong.
    """

    _esm = widget_module()
    data = traitlets.Dict().tag(sync=True)
    released = traitlets.Dict().tag(sync=True)
    channel = traitlets.Int(0).tag(sync=True)
    channel_names = traitlets.List(traitlets.Unicode()).tag(sync=True)
    stage_css = traitlets.Unicode().tag(sync=True)
    #: The stage's height in the notebook cell (CSS pixels).
    height = traitlets.Int(DEFAULT_HEIGHT).tag(sync=True)
    #: The last message about a refused release or setting ("" when all is well).
    message = traitlets.Unicode("").tag(sync=True)

    def __init__(self, features, image=None, *, box: Sequence[float] | None = None, stride: int = 16,
                 methods: Sequence[str] = METHODS, output_size: int | tuple[int, int] = (7, 7),
                 sampling_ratio: int = 2, aligned: bool = True, reduce: str = "avg",
                 convention: str = "library", channel: int = 0,
                 channel_names: Sequence[str] | None = None, height: int = DEFAULT_HEIGHT) -> None:
        fmap = feature_map_from_array(features, stride=stride, channel_names=channel_names,
                                      source="your feature map")
        unknown = [m for m in methods if m not in METHODS]
        if unknown or not methods:
            raise ValueError(f"methods must be some of {list(METHODS)}, got {list(methods)}")
        if isinstance(output_size, int):
            output_size = (output_size, output_size)
        settings = Settings(output_size=tuple(int(v) for v in output_size), stride=float(fmap.stride),
                            sampling_ratio=int(sampling_ratio), aligned=bool(aligned), reduce=reduce,
                            convention=convention)
        if isinstance(height, bool) or not isinstance(height, int) or not MIN_HEIGHT <= height <= MAX_HEIGHT:
            raise ValueError(f"height must be an int of pixels in {MIN_HEIGHT}..{MAX_HEIGHT}, got {height!r}")
        if not 0 <= channel < fmap.shape[0]:
            raise ValueError(f"channel must be in 0..{fmap.shape[0] - 1}, got {channel}")
        self._fmap: FeatureMap = fmap
        self._settings = settings
        self._methods = tuple(m for m in METHODS if m in methods)   # teaching order
        self._image_uri, self._image_shape = None, None
        if image is not None:
            pixels = np.asarray(image)
            if pixels.dtype != np.uint8 or pixels.ndim not in (2, 3) or (pixels.ndim == 3 and pixels.shape[2] != 3):
                raise ValueError(f"image must be uint8 [h, w, 3] or [h, w], got {pixels.dtype} "
                                 f"{tuple(pixels.shape)}")
            self._image_uri, self._image_shape = encode_display_image(pixels), pixels.shape[:2]
        map_shape = fmap.shape[1:]
        self._box = default_box(map_shape, fmap.stride) if box is None else self._checked(box)
        self._seq = 0
        super().__init__(channel=int(channel), channel_names=list(fmap.channel_names), height=height,
                         stage_css=(STAGE_DIR / "stage.css").read_text(encoding="utf-8"))
        self._update_stage()

    # -- the box, both ways -------------------------------------------------------------------

    @property
    def box(self) -> tuple[float, float, float, float]:
        """The box in use, image pixels ``(x1, y1, x2, y2)``: the last release, or the last set."""
        return self._box

    @box.setter
    def box(self, value: Sequence[float]) -> None:
        self._box = self._checked(value)
        self._update_stage()

    @property
    def settings(self) -> Settings:
        return self._settings

    def traces(self, *, record_samples: bool = True) -> dict[str, MethodTrace]:
        """roiviz's traces of the current box on the current channel (the reference numbers)."""
        return trace_all(self._values(), self._box, self._settings, self._methods,
                         record_samples=record_samples)

    # -- internals ------------------------------------------------------------------------------

    def _values(self) -> np.ndarray:
        return self._fmap.channel(self.channel)

    def _checked(self, box: Sequence[float]) -> tuple[float, float, float, float]:
        values = tuple(float(v) for v in box)
        if len(values) != 4:
            raise ValueError(f"box must be (x1, y1, x2, y2), got {box!r}")
        problem = box_problem(values, self._fmap.shape[1:], self._fmap.stride)
        if problem:
            raise ValueError(problem)
        x1, y1, x2, y2 = values
        return (min(x1, x2), min(y1, y2), max(x1, x2), max(y1, y2))

    def _update_stage(self) -> None:
        values = self._values()
        traces = trace_all(values, self._box, self._settings, self._methods, record_samples=False)
        h, w = values.shape
        self.data = stage_data(
            values, self._box, self._settings, self._methods, traces,
            image_uri=self._image_uri, image_shape=self._image_shape,
            image_title="" if self._image_shape is None else
            f"Image ({self._image_shape[1]} x {self._image_shape[0]} px)",
            map_title=f"Feature map {w} x {h} cells (stride {self._fmap.stride}, "
                      f"'{self._fmap.channel_names[self.channel]}')",
            seq=self._seq, notices=[self.message] if self.message else [])

    @traitlets.validate("height")
    def _valid_height(self, proposal):
        value = proposal["value"]
        if not MIN_HEIGHT <= value <= MAX_HEIGHT:
            raise traitlets.TraitError(f"height must be {MIN_HEIGHT}..{MAX_HEIGHT} pixels, got {value}")
        return value

    @traitlets.observe("released")
    def _on_release(self, change) -> None:
        try:
            released = parse_stage_value(change["new"], self._fmap.shape[1:], self._fmap.stride)
        except ValueError as exc:   # the previous box stays; the stage says why
            self.message = f"{exc} The previous box is kept."
        else:
            self.message = ""
            self._box, self._seq = released.box, released.seq
        self._update_stage()

    @traitlets.observe("channel")
    def _on_channel(self, change) -> None:
        if not 0 <= change["new"] < self._fmap.shape[0]:
            self.channel = change["old"]
            return
        if self.data:   # after __init__
            self._update_stage()
