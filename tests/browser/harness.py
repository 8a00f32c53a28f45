"""What the browser tests and the benchmarks share: Chromium's path and flags, a local server, axe-core,
and the steps that drive the head view (open it, pick a word, type a sentence, compare the readout
with JAX). Test modules import from here, never from each other."""

from __future__ import annotations

import contextlib
import functools
import os
import re
import threading
import time
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("CHROMIUM") or "/usr/bin/chromium"  # `make test` finds or installs it (chromium.py)
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
AXE = ROOT / "tests" / "vendor" / "axe-core" / "axe.min.js"
WIDGET = '[data-attn-widget="head-view"]'
STATE = f"document.querySelector('{WIDGET}').dataset"
NEW = "My grandmother's parrot whistles whenever the kettle boils."  # in no page, gallery or corpus
LINE = re.compile(r"head (\d+): '(.*?)' → (.*)")
# a widget's Vega view, for reading its data and signals: `view` is the view of the element `sel`
VIEW = """async ([sel, body]) => {
  const src = document.querySelector('script[src*="widgets.js"]').src;
  const core = await import(new URL("core.js", src).href);
  const view = core.viewOf(document.querySelector(sel));
  return new Function("view", body)(view);
}"""


def view_eval(page, selector: str, body: str):
    """Run ``body`` (a function body of ``view``, e.g. ``return view.data('links')``) on the Vega view
    of the widget at ``selector``, through core.js's viewOf."""
    return page.evaluate(VIEW, [selector, body])


class Quiet(SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@contextlib.contextmanager
def serving(directory: Path, handler=Quiet):
    """``directory`` served on 127.0.0.1 at a free port, in a thread, as ``python -m http.server``
    would; yields the root URL. The server is gone when the block ends."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(handler, directory=str(directory)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


def axe_violations(page, impacts=("serious", "critical")):
    """Run axe-core (vendored, injected) on the page; return the violations of the given impacts."""
    page.add_script_tag(path=str(AXE))
    result = page.evaluate("async () => await axe.run(document, {resultTypes: ['violations']})")
    return [(v["id"], v["impact"], [n["target"] for n in v["nodes"]][:3]) for v in result["violations"]
            if v["impact"] in impacts]


def open_article(page, site):
    page.goto(site["url"] + "attention/")
    page.locator(WIDGET).scroll_into_view_if_needed()  # widgets mount when they come into view
    page.wait_for_selector(f"{WIDGET} .attn-chart svg text")
    page.wait_for_function(f"document.querySelector('{WIDGET}').dataset.query !== undefined")


def query_word(page, label):
    """The word in the query (top) row."""
    words = page.locator(f"{WIDGET} .attn-chart svg text", has_text=label)
    boxes = [(words.nth(i).bounding_box()["y"], i) for i in range(words.count()) if words.nth(i).text_content() == label]
    return words.nth(min(boxes)[1])


def submit(page, text, state="shown"):
    page.fill(f"{WIDGET} .attn-live-form input", text)
    t0 = time.perf_counter()
    page.click(f"{WIDGET} .attn-live-form button[type=submit]")
    page.wait_for_function(f"{STATE}.liveState === '{state}'", timeout=60_000)
    return time.perf_counter() - t0


def readout_weights(page, head):
    lines = page.inner_text(f"{WIDGET} .attn-readout").splitlines()
    [line] = [m for m in map(LINE.match, lines) if m and int(m.group(1)) == head + 1]
    parts = [p.rsplit(" ", 1) for p in line.group(3).rstrip(", …").split(", ")]
    return line.group(2), [(label, float(w)) for label, w in parts]


def readout_matches_jax(page, encoder, max_abs, word="parrot"):
    """With :data:`NEW` shown live: click ``word`` and check the readout's weights against JAX's
    for the same sentence, layer and head. Returns the sentence's tokens and the word."""
    [r] = encoder.run([NEW])
    tokens = list(r.tokens)
    assert tokens.count(word) == 1
    query_word(page, word).click()
    page.wait_for_function(f"{STATE}.query === '{word}'")
    layer = int(page.input_value(f"{WIDGET} select[name=layer]"))
    head = int(page.input_value(f"{WIDGET} select[name=head]"))
    label, shown = readout_weights(page, head)
    assert label == word
    row = np.sort(r.attentions[layer, head, tokens.index(word)])[::-1]
    # the k-th largest weight moves at most as much as any weight; the readout rounds to 2 decimals
    for k, (_, w) in enumerate(shown):
        assert abs(w - row[k]) <= max_abs + 0.005, (k, shown, row[:5])
    assert shown[0][0] == tokens[int(r.attentions[layer, head, tokens.index(word)].argmax())] or row[0] - row[1] < 0.06
    return tokens, word


OVERFLOW = """() => {
  const vw = document.documentElement.clientWidth;
  const out = [];
  for (const w of document.querySelectorAll('[data-attn-widget]')) {
    const box = w.getBoundingClientRect();
    const drawn = [...w.querySelectorAll('.attn-chart svg text, .attn-chart svg line, .attn-chart svg path, '
      + '.attn-chart svg rect, .attn-chart canvas, .attn-chart svg, .attn-controls, .attn-controls *, .attn-readout, '
      + '.attn-live, .attn-live *')];
    for (const d of drawn) {
      const r = d.getBoundingClientRect();
      if (r.width === 0 && r.height === 0) continue;
      const left = Math.min(r.left - box.left, r.left);
      const right = Math.max(r.right - box.right, r.right - vw);
      if (left < -0.5 || right > 0.5) {
        out.push(`${w.dataset.attnWidget}: <${d.tagName.toLowerCase()}> ${JSON.stringify((d.textContent || '').slice(0, 20))}`
          + ` spans ${r.left.toFixed(0)}..${r.right.toFixed(0)}, box ${box.left.toFixed(0)}..${box.right.toFixed(0)}, viewport ${vw}`);
      }
    }
    // a chart scrolled inside its box is cut off too
    for (const s of w.querySelectorAll('.attn-chart, .attn-chart *')) {
      if (s.scrollWidth > s.clientWidth + 1 && getComputedStyle(s).overflowX !== 'visible') {
        out.push(`${w.dataset.attnWidget}: <${s.tagName.toLowerCase()}.${s.className}> scrolls (${s.scrollWidth} > ${s.clientWidth})`);
      }
    }
  }
  return out;
}"""
