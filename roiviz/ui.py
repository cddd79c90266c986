"""Streamlit widgets shared by the pages: the link state, presenter mode and the export row.

The one module of the package that imports Streamlit: only ``app.py`` and ``pages/`` import it,
and nothing in the computing core does (``tests/test_package.py`` checks that importing the core
does not load Streamlit).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import streamlit as st
from streamlit.errors import StreamlitAPIException

from roiviz.export import PNG_SIGNATURE, embed_snippet, read_query, share_link
from roiviz.style import Style

#: Plain (non-widget) session key shared by every page's presenter toggle.
PRESENTER = "presenter_mode"


def load_link(prefix: str, spec: Mapping[str, tuple[str, ...]],
              apply: Callable[[dict[str, str]], None]) -> None:
    """On the page's first run in this session, apply the link's valid values, warn about the rest.

    Args:
        prefix: the page's widget prefix (``"walk"``...); one flag per page and session.
        spec: ``{query key: allowed values}`` (see :func:`roiviz.export.read_query`).
        apply: sets the widgets' session state from the valid values.
    """
    flag = f"_{prefix}_linked"
    if st.session_state.get(flag):
        return
    st.session_state[flag] = True
    try:
        values, notices = read_query(st.query_params.to_dict(), spec)
    except Exception:  # a link must never break the page
        values, notices = {}, ["The link could not be read; showing the defaults."]
    if values.get("presenter") in ("0", "1"):
        st.session_state[PRESENTER] = values["presenter"] == "1"
    apply(values)
    st.session_state[f"_{prefix}_notices"] = notices


def show_link_notices(prefix: str) -> None:
    """The warnings about ignored link parameters (shown once; never echoing their values)."""
    for notice in st.session_state.pop(f"_{prefix}_notices", []):
        st.warning(notice)


def _store_presenter(key: str) -> None:
    st.session_state[PRESENTER] = bool(st.session_state[key])


#: Presenter mode's page style, for a 1280 x 720 projector: every text at least
#: :data:`PRESENTER_MIN_PX` (headings larger), the page as wide as the window, the header thin,
#: and a figure never taller than the window below the page's title and controls.
PRESENTER_MIN_PX = 20
PRESENTER_CSS = f"""<style>
.stApp *:not(h1, h1 *, h2, h2 *, h3, h3 *, svg, svg *) {{
  font-size: max({PRESENTER_MIN_PX}px, 1em) !important; }}
.stApp h1, .stApp h1 * {{ font-size: 34px !important; line-height: 1.2 !important; padding-top: 0 !important; }}
.stApp h2, .stApp h2 * {{ font-size: 28px !important; }}
.stApp h3, .stApp h3 * {{ font-size: 24px !important; }}
.stApp .stMainBlockContainer {{ max-width: 100% !important; padding: 2.6rem 1.2rem 3rem !important; }}
.stApp header[data-testid="stHeader"] {{ height: 2.4rem !important; min-height: 2.4rem !important; }}
.stApp [data-testid="stImage"] img {{ max-height: calc(100vh - var(--roiviz-above, 260px)) !important;
  width: auto !important; max-width: 100% !important; object-fit: contain; }}
.stApp button p {{ white-space: nowrap !important; }}
.stApp div:has(> [data-testid="stMultiSelectTagsContainer"]),
.stApp [data-testid="stMultiSelectTagsContainer"] {{ max-height: none !important; height: auto !important;
  overflow: visible !important; }}
.stApp [data-testid="stMultiSelectTagsContainer"] span {{ max-width: none !important;
  height: auto !important; white-space: normal !important; overflow: visible !important;
  text-overflow: clip !important; }}
</style>"""


def presenter_toggle(prefix: str, container=None) -> Style:
    """The page's presenter toggle (key ``<prefix>_presenter``), synced with ``presenter_mode``.

    In presenter mode the page also gets :data:`PRESENTER_CSS`.

    Returns:
        The :class:`~roiviz.style.Style` to draw with.
    """
    key = f"{prefix}_presenter"
    st.session_state[key] = bool(st.session_state.get(PRESENTER, False))
    (container or st).toggle("Presenter mode", key=key, on_change=_store_presenter, args=(key,),
                             help="For a projector: larger text everywhere, thicker lines in the "
                                  "figures, and each figure fitted to the screen. The setting "
                                  "follows you to the other pages.")
    style = Style(presenter=bool(st.session_state.get(PRESENTER, False)))
    if style.presenter:
        presenter_css()
    return style


def presenting() -> bool:
    """Whether presenter mode is on (before the page has drawn its toggle)."""
    return bool(st.session_state.get(PRESENTER, False))


def presenter_css() -> None:
    """Apply :data:`PRESENTER_CSS` to the page (a style element only: it takes no room)."""
    st.html(PRESENTER_CSS)


def exports(prefix: str, stem: str, png: bytes, svg: bytes, json_text: str,
            query: Mapping[str, str]) -> None:
    """Download buttons (PNG, SVG, JSON) and a copyable link that reopens this view.

    Args:
        prefix: widget key prefix.
        stem: file name without extension, e.g. ``"roiviz-walkthrough-step4"``.
        png, svg: the figure (see :func:`roiviz.export.figure_png`, ``figure_svg``).
        json_text: the trace export (:func:`roiviz.export.trace_json`).
        query: the page's state as query parameters.
    """
    if not png.startswith(PNG_SIGNATURE):
        st.error("The figure could not be rendered as PNG.")
        return
    st.markdown("**Take it with you**")
    c1, c2, c3 = st.columns(3)
    c1.download_button("Figure as PNG", png, file_name=f"{stem}.png", mime="image/png",
                       key=f"{prefix}_dl_png", icon=":material/image:", on_click="ignore")
    c2.download_button("Figure as SVG", svg, file_name=f"{stem}.svg", mime="image/svg+xml",
                       key=f"{prefix}_dl_svg", icon=":material/draw:", on_click="ignore")
    c3.download_button("Trace as JSON", json_text.encode("utf-8"), file_name=f"{stem}.json",
                       mime="application/json", key=f"{prefix}_dl_json", icon=":material/data_object:",
                       on_click="ignore")
    copy_link(query, title=stem)


def copy_link(query: Mapping[str, str], title: str) -> None:
    """The copyable link that reopens this view, and an iframe snippet that embeds it in a post."""
    link = share_link(st.context.url or "", query)
    st.caption("Copy link (reopens this page in this state; the copy button is at the right):")
    st.code(link, language=None, wrap_lines=True)
    with st.expander("Embed the live app in a post (iframe)", icon=":material/code:"):
        st.caption("Paste this into a blog post or slide: the frame shows this view of the running "
                   "app, without its menu and sidebar (Streamlit's embed=true). Readers can drag and "
                   "change settings; the app must stay online at this address.")
        st.code(embed_snippet(link, f"roiviz: {title}"), language="html", wrap_lines=True)


def animation_download(prefix: str, stem: str, make_gif: Callable[[], bytes]) -> None:
    """A download button for an animated GIF, drawn only when clicked (a few seconds).

    Args:
        prefix: widget key prefix.
        stem: file name without extension.
        make_gif: returns the GIF's bytes (e.g. ``lambda: animate_gif(...).gif``).
    """
    st.download_button("Animation as GIF", make_gif, file_name=f"{stem}.gif", mime="image/gif",
                       key=f"{prefix}_dl_gif", icon=":material/animation:", on_click="ignore",
                       help="The box slides across one feature cell and back in sub-pixel steps "
                            "(or grows by one cell), every method side by side: for a post or a "
                            "slide. Drawing it takes a few seconds.")


def sync_query(query: Mapping[str, str]) -> None:
    """Write the page's state into the address bar (so reloading or sharing keeps it)."""
    if st.query_params.to_dict() != dict(query):
        st.query_params.from_dict(dict(query))


#: The lesson's order after the walkthrough: ``(page file, label)``.
LESSON_ORDER = (("pages/walkthrough.py", "Walkthrough"), ("pages/sensitivity.py", "Sub-pixel sensitivity"),
                ("pages/gradients.py", "Gradient flow"), ("pages/evidence.py", "Evidence"))


def next_in_lesson(current: str) -> None:
    """A link to the lesson's next page (nothing when the page runs alone, outside app.py)."""
    files = [f for f, _ in LESSON_ORDER]
    index = files.index(current) + 1
    if index >= len(files):
        return
    path, label = LESSON_ORDER[index]
    try:
        st.page_link(path, label=f"Next in the lesson: {label}", icon=":material/arrow_forward:")
    except (StreamlitAPIException, KeyError):   # not registered: the page runs on its own
        pass
