"""Streamlit widgets shared by the pages: the link state, presenter mode and the export row.

The one module of the package that imports Streamlit: only ``app.py`` and ``pages/`` import it,
and nothing in the computing core does (``tests/test_package.py`` checks that importing the core
does not load Streamlit).
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import streamlit as st
from streamlit.errors import StreamlitAPIException

from roiviz.drawing.export import PNG_SIGNATURE, embed_snippet, share_link
from roiviz.app.hosting import HOW_TO_SET, public_address, public_link
from roiviz.drawing.legible import PHONE_MAX_WIDTH_PX, PROJECTOR_MIN_PX
from roiviz.app.params import PageParams
from roiviz.drawing.style import Style
from roiviz.drawing.tables import html_table

#: Plain (non-widget) session key shared by every page's presenter toggle.
PRESENTER = "presenter_mode"
#: Session key of a list that :func:`timed` functions append ``(name, seconds)`` to, when a
#: benchmark has put one there (benchmarks/latency.py); absent otherwise.
TIMINGS = "_timings"


def timed(fn):
    """Record ``fn``'s duration in ``session_state[TIMINGS]`` when that list exists (benchmarks).

    Lets ``benchmarks/latency.py`` time a page's part (the Playground's fragment) as the page
    runs, without patching the page.
    """
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        timings = st.session_state.get(TIMINGS)
        if timings is None:
            return fn(*args, **kwargs)
        start = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            timings.append((fn.__name__, time.perf_counter() - start))
    return wrapper


def load_link(table: PageParams,
              apply: Callable[[dict[str, Any], dict[str, Any]], None] | None = None) -> None:
    """On the page's first run in this session, set its widgets from the link, with a notice
    per refused parameter (shown by :func:`show_link_notices`).

    Args:
        table: the page's parameters (:mod:`roiviz.app.params`).
        apply: ``apply(values, given)`` sets the widgets from the values (defaults where the
            link has none) and the link's valid values; by default each widget
            ``table.widget_key(key)`` gets its value.
    """
    leave_legacy_pages()
    flag = f"_{table.page}_linked"
    if st.session_state.get(flag):
        return
    st.session_state[flag] = True
    try:
        given, notices = table.parse(st.query_params.to_dict())
    except Exception:  # a link must never break the page
        given, notices = {}, ["The link could not be read; showing the defaults."]
    if "presenter" in given:
        st.session_state[PRESENTER] = bool(given["presenter"])
    values = table.values(given)
    if apply is not None:
        apply(values, given)
    else:
        for p in table:
            if p.key != "presenter" and values.get(p.key) is not None:
                value = values[p.key]
                st.session_state[table.widget_key(p.key)] = list(value) if p.kind == "multi" else value
    st.session_state[f"_{table.page}_notices"] = notices


def show_link_notices(table: PageParams) -> None:
    """The warnings about refused link parameters (shown once; never echoing their values)."""
    for notice in st.session_state.pop(f"_{table.page}_notices", []):
        st.warning(notice)


def widget(table: PageParams, key: str, kind: str = "selectbox", container=None, **kwargs):
    """The widget of one parameter: label, help, options and option names from its table.

    Args:
        table, key: the parameter.
        kind: ``"selectbox"``, ``"radio"``, ``"select_slider"``, ``"multiselect"`` or
            ``"toggle"``.
        container: where to draw it (default: the page).
        kwargs: more widget arguments (``horizontal=True``, ``options=`` to offer fewer...).
    """
    p = table[key]
    make = getattr(container or st, kind)
    kwargs.setdefault("help", p.help)
    if kind == "toggle":
        return make(p.label, key=table.widget_key(key), **kwargs)
    options = kwargs.pop("options", p.options)
    kwargs.setdefault("format_func", p.format)
    return make(p.label, options, key=table.widget_key(key), **kwargs)


def _store_presenter(key: str) -> None:
    st.session_state[PRESENTER] = bool(st.session_state[key])


#: Presenter mode's page style, for a 1280 x 720 projector: every text at least
#: :data:`PRESENTER_MIN_PX` (headings larger), the page as wide as the window, the header thin,
#: chosen options wrapped instead of cut, and every figure as wide as its column (never shrunk
#: to the window's height: the figures' own texts are sized for that width,
#: :func:`roiviz.drawing.legible.for_projector`).
PRESENTER_MIN_PX = PROJECTOR_MIN_PX
PRESENTER_CSS = f"""<style>
.stApp *:not(h1, h1 *, h2, h2 *, h3, h3 *, svg, svg *) {{
  font-size: max({PRESENTER_MIN_PX}px, 1em) !important; }}
.stApp h1, .stApp h1 * {{ font-size: 34px !important; line-height: 1.2 !important; padding-top: 0 !important; }}
.stApp h2, .stApp h2 * {{ font-size: 28px !important; }}
.stApp h3, .stApp h3 * {{ font-size: 24px !important; }}
.stApp .stMainBlockContainer {{ max-width: 100% !important; padding: 2.6rem 1.2rem 3rem !important; }}
.stApp header[data-testid="stHeader"] {{ height: 2.4rem !important; min-height: 2.4rem !important; }}
.stApp button p {{ white-space: nowrap !important; }}
.stApp div:has(> [data-testid="stMultiSelectTagsContainer"]),
.stApp [data-testid="stMultiSelectTagsContainer"] {{ max-height: none !important; height: auto !important;
  overflow: visible !important; }}
.stApp [data-testid="stMultiSelectTagsContainer"] span {{ max-width: none !important;
  height: auto !important; white-space: normal !important; overflow: visible !important;
  text-overflow: clip !important; }}
.stApp [data-testid="stSidebarNav"] span {{ white-space: normal !important; overflow: visible !important;
  text-overflow: clip !important; }}
</style>"""


#: Which variant of a page-wide figure shows (:func:`figure`): the phone's on windows at most
#: :data:`~roiviz.drawing.legible.PHONE_MAX_WIDTH_PX` wide, the page's on wider ones.
PHONE_FIGURE_CSS = f"""<style>
@media (max-width: {PHONE_MAX_WIDTH_PX}px) {{ .stApp [class*="st-key-fig-wide-"] {{ display: none !important; }} }}
@media (min-width: {PHONE_MAX_WIDTH_PX + 1}px) {{ .stApp [class*="st-key-fig-phone-"] {{ display: none !important; }} }}
</style>"""


def figure(png: bytes, phone_png: bytes | None, name: str) -> None:
    """A page-wide static figure, as wide as its column; with ``phone_png``, that variant on a
    phone instead (laid out by :func:`roiviz.drawing.legible.for_phone`: shown about 360 px wide,
    the page's figure would have 3-4 px texts). The window's width picks one (CSS): the server
    does not know it. Both are sent (the phone's is about 100 kB).

    Args:
        png: the figure (PNG bytes).
        phone_png: its phone variant, or ``None`` (presenter mode: a projector).
        name: the figure's name on the page (its containers' keys).
    """
    if phone_png is None:
        st.image(png, width="stretch")
        return
    st.html(PHONE_FIGURE_CSS)
    with st.container(key=f"fig-wide-{name}"):
        st.image(png, width="stretch")
    with st.container(key=f"fig-phone-{name}"):
        st.image(phone_png, width="stretch")


def presenter_toggle(table: PageParams, container=None) -> Style:
    """The page's presenter toggle (its table's ``presenter``), synced with ``presenter_mode``.

    In presenter mode the page also gets :data:`PRESENTER_CSS` and a collapsed sidebar.

    Returns:
        The :class:`~roiviz.drawing.style.Style` to draw with.
    """
    key = table.widget_key("presenter")
    st.session_state[key] = bool(st.session_state.get(PRESENTER, False))
    sidebar_for_presenter(presenting())
    widget(table, "presenter", "toggle", container, on_change=_store_presenter, args=(key,))
    style = Style(presenter=presenting())
    if style.presenter:
        presenter_css()
    return style


def sidebar_for_presenter(presenter: bool) -> None:
    """Collapse the sidebar in presenter mode (the page gets the projector's whole width; the
    sidebar still opens from its arrow), and let Streamlit choose otherwise."""
    st.set_page_config(initial_sidebar_state="collapsed" if presenter else "auto")


def presenting() -> bool:
    """Whether presenter mode is on (also before the page has drawn its toggle)."""
    return bool(st.session_state.get(PRESENTER, False))


def presenter_css() -> None:
    """Apply :data:`PRESENTER_CSS` to the page (a style element only: it takes no room)."""
    st.html(PRESENTER_CSS)


LINK_CAPTION = "Copy link (reopens this page in this state; the copy button is at the right):"


def exports(table: PageParams, stem: str, png, svg, json_text, query: Mapping[str, str],
            link_caption: str = LINK_CAPTION, title: str | None = None, blog_png=None,
            share_toggle: bool = False) -> None:
    """Download buttons (PNG, SVG, JSON) and a copyable link that reopens this view.

    Args:
        table: the page's parameters; the buttons' keys start with its prefix.
        stem: file name without extension, e.g. ``"roiviz-walkthrough-step4"``.
        png, svg: the figure (see :func:`roiviz.drawing.export.figure_png`, ``figure_svg``), as bytes or
            as a function returning them (drawn only when the button is clicked).
        json_text: the trace export (:func:`roiviz.drawing.export.trace_json`), or a function returning it.
        query: the page's state as query parameters (:meth:`PageParams.to_query`).
        link_caption: the line above the link.
        title: the view's title for the embed snippet (default: ``stem``).
        blog_png: a figure laid out for a 700-px blog column (bytes or a function returning
            them), offered next to the PNG as ``{stem}-blog.png``; ``None``: no such button.
        share_toggle: show the link and the embed snippet only once a toggle is on (their
            ``st.code`` blocks make the browser fetch Streamlit's 1.56 MB syntax highlighter
            before the page is usable: the Playground's first paint does without them).
    """
    if isinstance(png, bytes) and not png.startswith(PNG_SIGNATURE):
        st.error("The figure could not be rendered as PNG.")
        return
    data = json_text.encode("utf-8") if isinstance(json_text, str) else lambda: json_text().encode("utf-8")
    st.markdown("**Take it with you**")
    c1, c2, c3 = st.columns(3)
    prefix = table.prefix
    c1.download_button("Figure as PNG", png, file_name=f"{stem}.png", mime="image/png",
                       key=f"{prefix}dl_png", on_click="ignore")
    if blog_png is not None:
        c1.download_button("PNG for a blog column", blog_png, file_name=f"{stem}-blog.png", mime="image/png",
                           key=f"{prefix}dl_blog_png", on_click="ignore",
                           help="The same view laid out for a 700-pixel-wide column: the methods as "
                                "a 2 x 2 grid, every text at least 12 px when shown 700 px wide.")
    c2.download_button("Figure as SVG", svg, file_name=f"{stem}.svg", mime="image/svg+xml",
                       key=f"{prefix}dl_svg", on_click="ignore")
    c3.download_button("Trace as JSON", data, file_name=f"{stem}.json", mime="application/json",
                       key=f"{prefix}dl_json", on_click="ignore")
    if share_toggle and not st.toggle("Share this view: its link and the code to embed it", key=f"{prefix}share_view",
                                      help="The address bar holds this view too: copying it shares "
                                           "the box and the settings."):
        return
    copy_link(query, link_caption, title=title)


def copy_link(query: Mapping[str, str], caption: str = LINK_CAPTION, title: str | None = None) -> None:
    """The copyable link that reopens this view, and an iframe snippet that embeds it in a post.

    Both use the app's public address (:func:`roiviz.app.hosting.public_address`) when it is set; the
    link falls back to the browser's address, the snippet to a placeholder with a note saying
    how to set the address (a snippet pointing at ``localhost`` would work for no reader).

    Args:
        title: the iframe's title (default: the page's title, :func:`page_title`).
    """
    address = public_address()
    link = (public_link(address.base, st.context.url or "", query) if address.base
            else share_link(st.context.url or "", query))
    st.caption(caption)
    st.code(link, language=None, wrap_lines=True)
    with st.expander("Embed the live app in a post (iframe)"):
        st.caption("Paste this into a blog post or slide: the frame shows this view of the running "
                   "app, without its menu and sidebar (Streamlit's embed=true). Readers can drag and "
                   "change settings; the app must stay online at this address.")
        if not address.base:
            # Page text, not a warning box: the page itself is fine, only this snippet needs the setting.
            st.markdown(f":orange[**{address.problem}**] The snippet below holds a placeholder in its "
                        f"place. {HOW_TO_SET}")
        snippet_link = public_link(address.base, st.context.url or "", query)
        st.code(embed_snippet(snippet_link, title or st.session_state.get(PAGE_TITLE, "roiviz")),
                language="html", wrap_lines=True)


#: Session key of the current page's title (set by :func:`page_title`, read by :func:`copy_link`).
PAGE_TITLE = "_roiviz_page_title"


def page_title(page: str, details: str = "") -> str:
    """Set the browser tab's title to the page and its settings, e.g. ``"Walkthrough: step 6 of
    13, article rounding · roiviz"``; the iframe snippet's title is the same. Returns it."""
    title = f"{page}: {details} · roiviz" if details else f"{page} · roiviz"
    st.session_state[PAGE_TITLE] = title
    st.set_page_config(page_title=title)
    return title


def animation_download(table: PageParams, stem: str, make_gif: Callable[[], bytes]) -> None:
    """A download button for an animated GIF, drawn only when clicked (a few seconds).

    Args:
        table: the page's parameters; the button's key starts with its prefix.
        stem: file name without extension.
        make_gif: returns the GIF's bytes (e.g. ``lambda: animate_gif(...).gif``).
    """
    st.download_button("Animation as GIF", make_gif, file_name=f"{stem}.gif", mime="image/gif",
                       key=f"{table.prefix}dl_gif", on_click="ignore",
                       help="The box slides across one feature cell and back in sub-pixel steps "
                            "(or grows by one cell), every method side by side: for a post or a "
                            "slide. It is drawn when you click: about 2 to 3 seconds at 7 x 7 "
                            "bins on an idle server (benchmarks/bench_exports.py).")


def sync_query(query: Mapping[str, str]) -> None:
    """Write the page's state into the address bar (so reloading or sharing keeps it)."""
    if st.query_params.to_dict() != dict(query):
        st.query_params.from_dict(dict(query))


#: The app's pages, in menu and lesson order: ``(page file, title, URL path)``. The
#: Playground is the default page (at ``/``).
PAGES = (("pages/playground.py", "Playground", "playground"),
         ("pages/walkthrough.py", "Walkthrough", "walkthrough"),
         ("pages/sensitivity.py", "Sub-pixel sensitivity", "sensitivity"),
         ("pages/gradients.py", "Gradient flow", "gradients"),
         ("pages/refinement.py", "Box refinement lab", "refinement"),
         ("pages/pyramids.py", "Feature pyramids", "pyramids"),
         ("pages/evidence.py", "Evidence", "evidence"),
         ("pages/conventions.py", "Why don't my numbers match?", "conventions"))


def navigation(root: Path) -> None:
    """Build the app's menu from :data:`PAGES` and run the page the URL asks for.

    Args:
        root: the folder holding ``app.py`` and ``pages/``.
    """
    leave_legacy_pages()
    pages = [st.Page(str(root / path), title=title, url_path=url, default=(i == 0))
             for i, (path, title, url) in enumerate(PAGES)]
    st.navigation(pages).run()


def leave_legacy_pages() -> None:
    """Make sure Streamlit runs ``app.py``'s navigation, not its legacy ``pages/`` menu.

    Because a ``pages/`` folder sits next to ``app.py``, a fresh Streamlit server starts in its
    legacy multipage mode (``PagesManager.uses_pages_directory``, streamlit 1.67
    ``runtime/pages_manager.py`` and ``scriptrunner/script_runner.py::_mpa_v1``): until some run
    calls ``st.navigation``, it lists the files of ``pages/`` under their file names and runs a
    deep-linked page (``/walkthrough?step=5``) without ``app.py``, so the very first visitor of
    a new server got another menu and layout. This turns the legacy mode off (what
    ``st.navigation`` itself does) and reruns, so that the first request is served by ``app.py``
    like every later one. It does nothing once the mode is off.
    """
    from streamlit.runtime.pages_manager import PagesManager

    if PagesManager.uses_pages_directory:
        PagesManager.uses_pages_directory = False
        st.rerun()


def next_in_lesson(current: str) -> None:
    """A link to the lesson's next page (nothing when the page runs alone, outside app.py)."""
    files = [f for f, _, _ in PAGES]
    index = files.index(current) + 1
    if index >= len(files):
        return
    path, label, _ = PAGES[index]
    link_to(path, f"Next in the lesson: {label}")


def link_to(path: str, label: str) -> None:
    """A link to another page of :data:`PAGES` (nothing when the page runs alone, outside app.py)."""
    try:
        st.page_link(path, label=label)
    except (StreamlitAPIException, KeyError):   # not registered: the page runs on its own
        pass


def interactive_download(table: PageParams, stem: str, make_html: Callable[[], bytes]) -> None:
    """A download button for the standalone interactive page (:func:`roiviz.drawing.export.interactive_page`)."""
    st.download_button("Download interactive page", make_html, file_name=f"{stem}.html", mime="text/html",
                       key=f"{table.prefix}dl_html", on_click="ignore",
                       help="One HTML file, no server needed: open it, or put it on a blog (an iframe "
                            "or a link), and readers drag the box while the four panels follow, "
                            "computed in their browser.")


def embedded() -> bool:
    """Whether the page is shown with ``?embed=true`` (an iframe in a post). Streamlit hides the
    ``embed`` parameter from ``st.query_params``, so this reads the session's own copy."""
    try:
        from streamlit.runtime.scriptrunner_utils.script_run_context import get_script_run_ctx

        with get_script_run_ctx().session_state.query_params() as params:
            value = params._query_params.get("embed", "")
    except Exception:   # outside a script run (AppTest without a session, a future Streamlit)
        return False
    values = value if isinstance(value, list) else [value]
    return any(str(v).lower() == "true" for v in values)


#: Session key: the learner dismissed the first-visit tip (it stays away for the session).
TIP_DISMISSED = "_roiviz_tip_dismissed"
#: The tip: one line, itself the link to the Walkthrough (short enough for a phone's width).
TIP_TEXT = "New here? Start with the Walkthrough"


def _dismiss_tip() -> None:
    st.session_state[TIP_DISMISSED] = True


def first_visit_tip_due(current: str) -> bool:
    """Whether :func:`first_visit_tip` shows the tip on the page ``current`` in this run."""
    return not (current == "pages/walkthrough.py" or st.session_state.get(TIP_DISMISSED) or presenting()
                or embedded())


def first_visit_tip(current: str) -> None:
    """A one-line "New here? Start with the Walkthrough" (a link there) and a dismiss button.

    Shown on every page but the Walkthrough until dismissed (for the rest of the session). Not
    in presenter mode (a teacher at a projector is past it, and the class follows the teacher)
    nor in an embedded frame (a post's author chose the view; a link there would leave the
    post's frame for another page).

    Args:
        current: the page's file (``"pages/playground.py"``), as in :data:`PAGES`.
    """
    if not first_visit_tip_due(current):
        return
    with st.container(horizontal=True, vertical_alignment="center", gap="small", key="roiviz_tip"):
        try:
            st.page_link("pages/walkthrough.py", label=TIP_TEXT, icon=":material/school:")
        except (StreamlitAPIException, KeyError):   # the page runs alone (AppTest of one file)
            st.markdown(f":material/school: {TIP_TEXT}", width="content")
        st.button(":material/close:", key="roiviz_tip_dismiss", on_click=_dismiss_tip, type="tertiary",
                  help="Dismiss: hide this tip for the rest of the visit")


def header_table(rows: list[Mapping[str, Any]], header_help: Mapping[str, str]) -> None:
    """A small table whose column headers explain themselves on hover (a ``title`` tooltip and a
    dotted underline), drawn as HTML: lighter than an Arrow table, and every cell as given.

    Args:
        rows: one mapping per row, the same keys in each (the columns, in order).
        header_help: plain-words help per column name (every column must have one).

    Raises:
        KeyError: a column has no help.
    """
    st.markdown(html_table(rows, header_help), unsafe_allow_html=True)
