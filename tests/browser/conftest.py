"""Real-browser test set-up: the site built by each generator (MkDocs, Zensical) and served on
127.0.0.1, Chromium driven by Playwright. Every test that uses ``site`` runs once per generator.

Chromium is ``$CHROMIUM`` (default Debian's /usr/bin/chromium); ``make test`` finds or installs one
first (tests/browser/chromium.py). Every test's page records requests, console errors and page
errors; a test fails if any request leaves 127.0.0.1 or anything is logged as an error.
"""

from __future__ import annotations

import contextlib
import functools
import os
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlparse

import pytest

from sitebuild import GENERATORS, build_site

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("CHROMIUM") or "/usr/bin/chromium"
AXE = ROOT / "tests" / "vendor" / "axe-core" / "axe.min.js"


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@contextlib.contextmanager
def serving(directory: Path, handler=_Quiet):
    """``directory`` served on 127.0.0.1 at a free port, in a thread, as ``python -m http.server``
    would; yields the root URL. The server is gone when the block ends."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(handler, directory=str(directory)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


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
        "args": ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"],
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


def axe_violations(page, impacts=("serious", "critical")):
    """Run axe-core (vendored, injected) on the page; return the violations of the given impacts."""
    page.add_script_tag(path=str(AXE))
    result = page.evaluate("async () => await axe.run(document, {resultTypes: ['violations']})")
    return [(v["id"], v["impact"], [n["target"] for n in v["nodes"]][:3]) for v in result["violations"]
            if v["impact"] in impacts]
