"""roiviz.app.hosting: the public address for links and iframe snippets, never localhost."""

from __future__ import annotations

import pytest

from roiviz.app.hosting import PLACEHOLDER, PUBLIC_URL_ENV, public_address, public_link


@pytest.mark.parametrize("raw, base", [
    ("https://roiviz.example.org", "https://roiviz.example.org"),
    ("https://roiviz.example.org/", "https://roiviz.example.org"),
    ("  http://10.0.0.5:8501/roiviz/ ", "http://10.0.0.5:8501/roiviz"),
    ("https://example.org/courses/cv/roiviz", "https://example.org/courses/cv/roiviz"),
])
def test_a_public_address_is_kept_without_its_trailing_slash(raw, base):
    assert public_address({PUBLIC_URL_ENV: raw}) == (public_address({PUBLIC_URL_ENV: raw}).__class__(base, ""))


@pytest.mark.parametrize("raw, words", [
    ("", "not set"),
    ("roiviz.example.org", "http:// or https://"),
    ("ftp://roiviz.example.org", "http:// or https://"),
    ("https://", "http:// or https://"),
    ("https://roiviz.example.org/?a=1", "query"),
    ("https://roiviz.example.org/#top", "query"),
    ("http://localhost:8501", "cannot reach"),
    ("http://127.0.0.1:8501", "cannot reach"),
    ("http://0.0.0.0:8501", "cannot reach"),
    ("http://[::1]:8501", "cannot reach"),
    ("http://app.localhost", "cannot reach"),
])
def test_unusable_addresses_are_refused_with_a_reason(raw, words):
    address = public_address({PUBLIC_URL_ENV: raw})
    assert address.base is None and words in address.problem


def test_missing_variable_and_the_process_environment(monkeypatch):
    assert public_address({}).base is None
    monkeypatch.setenv(PUBLIC_URL_ENV, "https://class.example.edu")
    assert public_address().base == "https://class.example.edu"


def test_public_link_keeps_the_page_path_and_replaces_host_and_query():
    link = public_link("https://ex.org/roiviz", "http://127.0.0.1:8502/walkthrough?old=1#x",
                       {"step": "4", "conv": "article"})
    assert link == "https://ex.org/roiviz/walkthrough?step=4&conv=article"
    assert public_link("https://ex.org", "http://localhost:8501/", {"img": "a b"}) == "https://ex.org/?img=a+b"
    assert public_link("https://ex.org", "", {}) == "https://ex.org/"
    # Without an address: the placeholder, never the server's own address.
    placeholder = public_link(None, "http://localhost:8501/gradients", {"shift": "0.5"})
    assert placeholder == f"{PLACEHOLDER}/gradients?shift=0.5" and "localhost" not in placeholder


def test_make_serve_hands_the_address_to_the_workers():
    """`make serve PUBLIC_URL=...` runs deploy/serve.py --public-url, which sets the variable for
    the workers it starts (they inherit the environment)."""
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    assert "--public-url '$(PUBLIC_URL)'" in (root / "Makefile").read_text()
    out = subprocess.run([sys.executable, str(root / "deploy" / "serve.py"), "--help"], capture_output=True,
                         text=True, check=True).stdout
    assert "--public-url" in out and PUBLIC_URL_ENV in out
    source = (root / "deploy" / "serve.py").read_text()
    assert "os.environ[PUBLIC_URL_ENV] = args.public_url" in source
