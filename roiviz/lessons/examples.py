"""The seed article's worked example, as numbers the app and the tests share.

The article ("Detailed Explanation of RoI Pooling vs RoI Align vs RoI Warping") uses VGG16 with
a stride of 32: a region proposal in image pixels is mapped to the feature map, where it covers
a **4 x 6** region of cells (4 rows high, 6 columns wide) after its corners are quantized; that
region is pooled to **3 x 3**, so every bin is 4 // 3 = 1 row by 6 // 3 = 2 columns and the
last row of cells (6 of the 24 cells, 25%) is dropped.

The article gives no coordinates, so roiviz picks a proposal that reproduces its picture:

    SEED_EXAMPLE_BOX = (40, 72, 240, 200)  image pixels (x1, y1, x2, y2), 200 x 128 px
    / 32  ->  (1.25, 2.25, 7.5, 6.25)     feature units, 6.25 wide x 4 high (25 cells)

Under the **article** convention (integer part of corner and size, see
:func:`roiviz.geometry.snap_box`) it snaps to columns ``[1, 7)`` and rows ``[2, 6)``: exactly
4 x 6. Because the corners are fractional, the first quantization both loses and gains area:

- lost (red): the strips ``x in [7, 7.5]`` and ``y in [6, 6.25]`` of the RoI,
  25 - 5.75 * 3.75 = 3.4375 cells = 3520 px = 13.75% of the RoI;
- gained (green): the strips ``x in [1, 1.25]`` and ``y in [2, 2.25]`` of the snapped region,
  24 - 21.5625 = 2.4375 cells = 2496 px = 9.75%.

Pooling to 3 x 3 then drops row 5 (6 cells), so the read region is ``[1, 7) x [2, 5)`` and the
RoI Pool trace reports 9.1875 cells lost (9408 px, 36.75%) and 2.1875 gained (2240 px, 8.75%).

Under the **library** convention (torchvision, Caffe, ONNX ``MaxRoiPool``) the same proposal
snaps differently, and this is worth saying next to the figure: corners are rounded
(``round(1.25) = 1``, ``round(7.5) = 8``, halves away from zero; ``round(2.25) = 2``,
``round(6.25) = 6``) and read as *inclusive* cell indices, so the snapped region is columns
1..8 and rows 2..6: **5 x 8** cells ``[1, 9) x [2, 7)``, not 4 x 6 (no proposal snaps to 4 x 6
under both conventions: 6 columns need ``floor(w) = 6`` in one and ``round(x2) - round(x1) = 5``
in the other). Its 3 x 3 bins overlap (5/3 rows and 8/3 columns each) and drop nothing; the
RoI loses nothing and gains 15 cells (15360 px, 60%).

``tests/test_methods.py::test_seed_worked_example_article`` and
``::test_seed_worked_example_library`` check every number above.
"""

from __future__ import annotations

from ..records import Settings

__all__ = [
    "SEED_EXAMPLE_BOX",
    "SEED_EXAMPLE_STRIDE",
    "SEED_EXAMPLE_OUTPUT",
    "SEED_EXAMPLE_IMAGE_SHAPE",
    "SEED_EXAMPLE_MAP_SHAPE",
    "seed_example_settings",
]

#: The proposal ``(x1, y1, x2, y2)`` in image pixels; ``(1.25, 2.25, 7.5, 6.25)`` in cells.
SEED_EXAMPLE_BOX: tuple[float, float, float, float] = (40.0, 72.0, 240.0, 200.0)
#: VGG16's stride as the article states it (image pixels per feature cell).
SEED_EXAMPLE_STRIDE: float = 32.0
#: The pooled output ``(PH, PW)``.
SEED_EXAMPLE_OUTPUT: tuple[int, int] = (3, 3)
#: An image ``(height, width)`` in pixels that holds both conventions' snapped regions.
SEED_EXAMPLE_IMAGE_SHAPE: tuple[int, int] = (320, 320)
#: The feature map ``(H, W)`` of that image at stride 32.
SEED_EXAMPLE_MAP_SHAPE: tuple[int, int] = (10, 10)


def seed_example_settings(convention: str = "article", **changes) -> Settings:
    """:class:`~roiviz.records.Settings` for the worked example (3 x 3 output, stride 32).

    Args:
        convention: ``"article"`` (default: the seed's picture) or ``"library"``.
        changes: any other :class:`~roiviz.records.Settings` field, e.g. ``aligned=False``.
    """
    return Settings(output_size=SEED_EXAMPLE_OUTPUT, stride=SEED_EXAMPLE_STRIDE,
                    convention=convention, **changes)
