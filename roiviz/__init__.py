"""roiviz: see how a two-stage detector turns a region proposal into a fixed-size feature.

The library is the modules at this level (numpy and torch only):

* the ops, torchvision's signatures: :mod:`roiviz.ops` (``roi_pool``, ``roi_warp``, ``roi_align``,
  ``precise_roi_pool``, ``MultiScaleRoIAlign``), :mod:`roiviz.modules` (their ``nn.Module``\\ s);
* one module per method, each with its op, its teaching trace and a readable reference:
  :mod:`roiviz.roi_pool`, :mod:`roiviz.roi_warp`, :mod:`roiviz.roi_align`,
  :mod:`roiviz.precise_roi_pool`; :mod:`roiviz.methods` (all of them in one registry);
* what they share: :mod:`roiviz.geometry` (box conventions and snapping), :mod:`roiviz.bilinear`
  (the one bilinear-weights function), :mod:`roiviz.box_grad` and :mod:`roiviz.box_gradients`
  (gradients with respect to the box), :mod:`roiviz.records` (the traces' records),
  :mod:`roiviz.fpn` (feature pyramids), :mod:`roiviz.features`, :mod:`roiviz.images`,
  :mod:`roiviz.samples` (feature maps and sample images), :mod:`roiviz.conventions` (other
  frameworks' RoI conventions and the detective), :mod:`roiviz.resources` (where the package's
  files are).

Above the library, each importing only the layers below it (``tests/test_package.py``):
:mod:`roiviz.lessons` (what the pages teach), :mod:`roiviz.drawing` (figures and exports),
:mod:`roiviz.app` (the web app's glue). Two front doors may use every layer: :mod:`roiviz.cli`
(the ``roiviz`` command) and :mod:`roiviz.notebook` (the stage in Jupyter).
"""

__version__ = "0.1.0"
