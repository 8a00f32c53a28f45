"""Try your own sentence, in a real browser: the exported encoder run by onnxruntime-web in a Web
Worker, compared with the JAX forward on sentences that are not in the site."""

import gzip
import json
import re
import time
from urllib.parse import urlparse
from urllib.request import urlopen

import numpy as np
import pytest

from attn_jax.errors import AttnJaxError

from tests.browser.harness import (
    LINE, NEW, OVERFLOW, STATE, WIDGET, open_article, query_word, readout_matches_jax, readout_weights, serving, submit,
)

pytestmark = pytest.mark.browser


def _info(site):
    return json.loads((site["dir"] / "generated" / "live" / "model.json").read_text())


def _served_gzip(site, urls) -> int:
    """Gzipped size of the files behind ``urls`` (what a gzip-serving host sends)."""
    total = 0
    for url in set(urls):
        path = site["dir"] / urlparse(url).path.lstrip("/")
        path = path / "index.html" if path.is_dir() else path
        if path.is_file():
            total += len(gzip.compress(path.read_bytes(), 9))
    return total


def test_own_sentence_matches_jax_within_the_stated_error(watched, site, encoder):
    page = watched
    info = _info(site)
    urls = []
    page.on("request", lambda r: urls.append(r.url))
    open_article(page, site)
    page.wait_for_function(f"{STATE}.galleryLoaded !== undefined")
    page.wait_for_selector(f"{WIDGET} .attn-live-load")
    # nothing of it loads until asked: the first load gains only the control's markup
    assert not [u for u in urls if "/live" in u or "onnxruntime" in u or "tokenizers" in u]
    first_load = _served_gzip(site, urls)
    if site["generator"] == "mkdocs":  # the site benchmark's target, for the default generator's build
        assert first_load <= 350 * 1024
    note = page.inner_text(f"{WIDGET} .attn-live-note")
    assert f"within {info['error']['max_abs']:.3f} of JAX" in note

    t0 = time.perf_counter()
    page.click(f"{WIDGET} .attn-live-load")
    page.wait_for_function(f"{STATE}.liveReady === '1'", timeout=180_000)
    loaded = time.perf_counter() - t0
    first = submit(page, NEW)
    tokens, word = readout_matches_jax(page, encoder, info["error"]["max_abs"])

    # the tokens box says the sentence is shown in WordPiece tokens, and cannot switch to words
    assert page.is_checked(f"{WIDGET} input[name=tokens]") and page.is_disabled(f"{WIDGET} input[name=tokens]")

    # the control with its form and message fits a phone, as every widget does before loading
    width = page.viewport_size["width"]
    page.set_viewport_size({"width": 375, "height": 800})
    page.wait_for_timeout(200)
    assert page.evaluate(OVERFLOW) == []
    page.set_viewport_size({"width": width, "height": 800})

    # the same keys as for any sentence: the next word becomes the query
    page.focus(f"{WIDGET} .attn-chart")
    page.keyboard.press("ArrowRight")
    page.wait_for_function(f"{STATE}.query === '{tokens[tokens.index(word) + 1]}'")

    # a further sentence, then the same with the network gone: nothing more is fetched
    further = submit(page, "Quiet rivers rarely carry boats past the old mill.")
    page.context.set_offline(True)
    offline = submit(page, "Offline, the page still computes attention.")
    page.context.set_offline(False)
    print(f"\nlive ({site['generator']}): article first load {first_load / 1024:.0f} KB gzipped; click to ready {loaded:.1f} s, first sentence {first:.2f} s, "
          f"further {further:.2f} s, offline {offline:.2f} s; click to first result {loaded + first:.1f} s")


def test_over_long_and_html_input(watched, site, encoder):
    page = watched
    open_article(page, site)
    page.click(f"{WIDGET} .attn-live-load")
    page.wait_for_function(f"{STATE}.liveReady === '1'", timeout=180_000)
    long_text = "word " * 600
    submit(page, long_text, state="error")
    with pytest.raises(AttnJaxError) as cli:  # what `python -m attn_jax dump` says for the same text
        encoder.tokenize([long_text])
    same = str(cli.value).split(" is ", 1)[1]  # "602 tokens long (...) at most 512; shorten it ..."
    assert same in page.inner_text(f"{WIDGET} .attn-live-message")
    html = '<img src=x onerror="window.pwned=1"><b>bold</b> words'
    submit(page, html)
    assert page.evaluate("window.pwned") is None
    assert page.locator(f"{WIDGET} img, {WIDGET} b").count() == 0
    labels = page.eval_on_selector_all(f"{WIDGET} .attn-chart svg text", "ts => ts.map(t => t.textContent)")
    [tok] = encoder.tokenize([html])  # the same WordPieces as the Python tokenizer, as plain text
    assert set(tok.tokens) <= set(labels) and "<" in labels


def test_page_tokenizer_equals_python_tokenizer_on_the_corpus(watched, site, encoder):
    """The worker's tokenizer (@huggingface/tokenizers with the shipped tokenizer files) gives the
    same ids as attn_jax's on every Winograd sentence and on accents, CJK, emoji and markup."""
    from build_scripts.pipeline import winograd

    page = watched
    texts = [s.text for s in winograd.load_collection()]
    texts += ["Café naïve résumé: <b>bold</b> & \"quotes\" 東京 😀 don't", "A " + "supercalifragilistic" * 8]
    page.goto(site["url"])
    got = page.evaluate("""async (texts) => {
      const { Tokenizer } = await import(new URL("assets/vendor/tokenizers/tokenizers.min.mjs", document.baseURI).href);
      const get = (name) => fetch(new URL("generated/live/" + name, document.baseURI)).then((r) => r.json());
      const t = new Tokenizer(await get("tokenizer.json"), await get("tokenizer_config.json"));
      return texts.map((text) => t.encode(text).ids);
    }""", texts)
    want = [list(map(int, t.ids)) for t in encoder.tokenize(texts)]
    assert got == want


def test_page_reloads_and_computes_offline_once_loaded(watched, site):
    """After the model has loaded once, the page reloads and computes a new sentence with its server
    gone: the service worker serves the page, the worker's cache the model and runtime."""
    page = watched

    def ready():
        page.locator(WIDGET).scroll_into_view_if_needed()
        page.click(f"{WIDGET} .attn-live-load")
        page.wait_for_function(f"{STATE}.liveReady === '1'", timeout=180_000)

    def read_through():  # every widget mounts (and loads its data) when it comes into view
        # with the mouse wheel, as a reader scrolls: scrolling by script this fast sometimes left
        # headless Chromium drawing no more frames (so nothing could mount or be clicked)
        page.mouse.move(300, 300)
        while page.evaluate("window.scrollY + innerHeight < document.documentElement.scrollHeight - 1"):
            page.mouse.wheel(0, 360)
            page.wait_for_timeout(100)
        page.wait_for_load_state("networkidle")

    with serving(site["dir"]) as root:  # a server of this test's own, to take away
        article = root + "attention/"
        page.goto(article)
        read_through()
        ready()
        page.wait_for_function(f"{STATE}.liveOffline !== undefined", timeout=60_000)
        kept = int(page.evaluate(f"{STATE}.liveOffline"))
        assert kept >= 5, "the page and its scripts, styles and data should be kept"
        page.wait_for_function("navigator.serviceWorker.controller !== null", timeout=30_000)
    with pytest.raises(Exception):  # the server is really gone
        urlopen(article, timeout=5)
    page.reload()
    read_through()
    ready()
    submit(page, "Without a network the cached model still answers.")
    assert "Without" not in page.inner_text(f"{WIDGET} .attn-live-message")  # the count, not the text
    labels = page.eval_on_selector_all(f"{WIDGET} .attn-chart svg text", "ts => ts.map(t => t.textContent)")
    assert "network" in labels and "answers" in labels, labels
