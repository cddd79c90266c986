"""roiviz: see how a two-stage detector turns a region proposal into a fixed-size feature.

Computing core (numpy and torch only, no Streamlit): :mod:`roiviz.geometry` (conventions),
:mod:`roiviz.bilinear`, one module per method (:mod:`roiviz.roi_pool`, :mod:`roiviz.roi_warp`,
:mod:`roiviz.roi_align`, :mod:`roiviz.precise_roi_pool`), :mod:`roiviz.ops` (batched ops),
:mod:`roiviz.methods` (all methods at once), :mod:`roiviz.records` (the records).
"""

__version__ = "0.1.0"
