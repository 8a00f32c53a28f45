"""Real-browser test set-up: the site built by each generator (MkDocs, Zensical) and served on
127.0.0.1, Chromium driven by Playwright. Every test that uses ``site`` runs once per generator.

Chromium is ``$CHROMIUM`` (default Debian's /usr/bin/chromium); ``make test`` finds or installs one
first (tests/browser/chromium.py). Every test's page records requests, console errors and page
errors; a test fails if any request leaves 127.0.0.1 or anything is logged as an error.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlparse

import pytest

from tests.browser.harness import CHROMIUM, CHROMIUM_ARGS, serving
from tests.helpers import GENERATORS, build_site

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session", params=GENERATORS)
def site(request, tmp_path_factory):
    """Build the site for the port it is served on (instant navigation needs site_url to match)."""
    out = tmp_path_factory.mktemp("site") / request.param
    with serving(out) as url:
        proc = build_site(request.param, out, env={"SITE_URL": url})
        assert proc.returncode == 0, proc.stderr
        yield {"url": url, "dir": out, "generator": request.param}


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    if not Path(CHROMIUM).exists():
        pytest.fail(f"the browser tests need Chromium at {CHROMIUM}: run `make test` (it installs one) "
                    f"or set CHROMIUM=/path/to/chromium", pytrace=False)
    return {
        **browser_type_launch_args,
        "executable_path": CHROMIUM,
        "args": CHROMIUM_ARGS,
    }


@pytest.fixture()
def watched(page):
    """The page, plus lists of foreign requests and errors that must stay empty."""
    foreign, errors = [], []
    page.on("request", lambda r: foreign.append(r.url) if urlparse(r.url).hostname not in ("127.0.0.1", None) and not r.url.startswith("data:") else None)
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    yield page
    assert foreign == [], f"requests left 127.0.0.1: {foreign}"
    assert errors == [], f"console errors: {errors}"


