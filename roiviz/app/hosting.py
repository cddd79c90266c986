"""The app's public address, for the links and iframe snippets it hands out.

A link or snippet made from the address the server sees (``http://localhost:8501`` on a laptop,
``http://127.0.0.1:8502`` behind ``make serve``'s proxy) works for no reader. The address
readers reach is a setting: the environment variable :data:`PUBLIC_URL_ENV`
(``ROIVIZ_PUBLIC_URL=https://roiviz.example.org make serve``). Without it the pages show a
placeholder and say how to set it (:data:`HOW_TO_SET`).
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlencode, urlsplit, urlunsplit

#: The environment variable holding the app's public address (scheme, host, optional port and
#: path prefix), e.g. ``https://roiviz.example.org`` or ``https://example.org/roiviz``.
PUBLIC_URL_ENV = "ROIVIZ_PUBLIC_URL"
#: Stands in for the address in a snippet while it is not set.
PLACEHOLDER = "https://YOUR-ROIVIZ-ADDRESS"
#: How to set it (shown on the page next to a placeholder snippet).
HOW_TO_SET = (f"Start the app with its public address in `{PUBLIC_URL_ENV}`, e.g. "
              f"`{PUBLIC_URL_ENV}=https://roiviz.example.org make serve` (or `make run`); "
              "the README's \"Host it for a blog\" has the steps.")


@dataclass(frozen=True)
class PublicAddress:
    """The public address setting, read by :func:`public_address`.

    Attributes:
        base: ``scheme://host[:port][/prefix]`` without a trailing slash, or ``None`` when the
            setting is missing or unusable.
        problem: why ``base`` is ``None`` (one sentence), or ``""``.
    """

    base: str | None
    problem: str = ""


def _loopback(host: str) -> bool:
    if host in ("localhost", "") or host.endswith(".localhost"):
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return address.is_loopback or address.is_unspecified


def public_address(environ: Mapping[str, str] | None = None) -> PublicAddress:
    """The app's public address from :data:`PUBLIC_URL_ENV` in ``environ`` (default ``os.environ``).

    Refused (``base=None`` with a ``problem``): a missing or empty value, a value without
    ``http://`` or ``https://`` and a host, one with a query or fragment, and a loopback or
    unspecified host (``localhost``, ``127.0.0.1``, ``0.0.0.0``, ``::1``), which no reader reaches.
    """
    raw = (os.environ if environ is None else environ).get(PUBLIC_URL_ENV, "").strip()
    if not raw:
        return PublicAddress(None, f"The app's public address is not set ({PUBLIC_URL_ENV}).")
    parts = urlsplit(raw)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return PublicAddress(None, f"{PUBLIC_URL_ENV} must start with http:// or https:// and name a host.")
    if parts.query or parts.fragment:
        return PublicAddress(None, f"{PUBLIC_URL_ENV} must not hold a query (?...) or fragment (#...).")
    if _loopback(parts.hostname):
        return PublicAddress(None, f"{PUBLIC_URL_ENV} names this machine ({parts.hostname}), which "
                                   "readers cannot reach.")
    return PublicAddress(urlunsplit((parts.scheme, parts.netloc, parts.path.rstrip("/"), "", "")))


def public_link(base: str | None, page_url: str, query: Mapping[str, str]) -> str:
    """The link to the page of ``page_url`` on the public address ``base``, with ``query``.

    Args:
        base: :attr:`PublicAddress.base`; ``None`` gives :data:`PLACEHOLDER` in its place.
        page_url: the address the browser shows (``st.context.url``); only its path is kept.
        query: the page's state as query parameters.

    Example: ``public_link("https://ex.org/roiviz", "http://127.0.0.1:8502/walkthrough?x=1",
    {"step": "4"})`` is ``"https://ex.org/roiviz/walkthrough?step=4"``.
    """
    root = urlsplit(base or PLACEHOLDER)
    path = root.path + "/" + urlsplit(page_url or "").path.lstrip("/")
    encoded = urlencode([(str(k), str(v)) for k, v in query.items()])
    return urlunsplit((root.scheme, root.netloc, path, encoded, ""))
