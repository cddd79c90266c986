"""The lessons: what the pages teach, computed by the library (numpy and torch, no drawing).

:mod:`~roiviz.lessons.walkthrough` (the Walkthrough's steps), :mod:`~roiviz.lessons.examples`
(the seed article's worked example), :mod:`~roiviz.lessons.evidence` (the papers' measured
numbers), :mod:`~roiviz.lessons.sweeps` (a box slid across cells), :mod:`~roiviz.lessons.gradients`
(where the gradient goes, and box-gradient sweeps), :mod:`~roiviz.lessons.refinement` (IoU-Net's
box refinement as an experiment).

Layer rule (``tests/test_package.py``): lessons import the library (:mod:`roiviz`), never
:mod:`roiviz.drawing` or :mod:`roiviz.app`.
"""
