"""The web app's glue: what the Streamlit pages share.

:mod:`~roiviz.app.params` (a page's settings from its URL), :mod:`~roiviz.app.state` (the
Playground's state), :mod:`~roiviz.app.stage` (the live stage's data and the values it sends
back), :mod:`~roiviz.app.hosting` (the public address), and the only modules that import
Streamlit: :mod:`~roiviz.app.ui` (shared widgets) and :mod:`~roiviz.app.ui_stage` (the stage as a
component).

Layer rule (``tests/test_package.py``): nothing below (library, lessons, drawing) imports this
package; the front doors :mod:`roiviz.cli` and :mod:`roiviz.notebook` may.
"""
