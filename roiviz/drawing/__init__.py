"""The drawing: figures, animations, exports and tables of the library's records.

:mod:`~roiviz.drawing.style` (colours and sizes), :mod:`~roiviz.drawing.render_mpl` (matplotlib
figures), :mod:`~roiviz.drawing.render_pyramid`, :mod:`~roiviz.drawing.render_box_gradients`,
:mod:`~roiviz.drawing.render_conventions`, :mod:`~roiviz.drawing.animate` (GIFs),
:mod:`~roiviz.drawing.export` (files), :mod:`~roiviz.drawing.thinned` (traces thinned for
drawing), :mod:`~roiviz.drawing.legible` (text sizes), :mod:`~roiviz.drawing.tables` and
:mod:`~roiviz.drawing.summary_table` (HTML tables), :mod:`~roiviz.drawing.stage_bundle` (the
live stage's JavaScript as one module).

Layer rule (``tests/test_package.py``): drawing imports the library and the lessons, never
:mod:`roiviz.app`; matplotlib is imported here, Streamlit never.
"""
