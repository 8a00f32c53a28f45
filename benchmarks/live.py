"""``make bench`` (live part): "Try your own sentence" in headless Chromium, side by side with JAX.

Measured on loopback against a fresh ``mkdocs build``: from the button press to the model being
ready (download of runtime, tokenizer and model, then session start; and again after a reload,
reading them from the browser's cache), the first sentence, and
the median of further sentences (each: tokenize, run the exported graph in the Web Worker,
redraw the head view). The same sentences through ``attn_jax.Encoder`` (JAX on this CPU, after its
compile) give the baseline; the ratio is browser / JAX. Sentences are new to the site.
"""

from __future__ import annotations

import statistics
import time

from tests.browser.harness import CHROMIUM, CHROMIUM_ARGS, STATE, WIDGET, submit

from .site import ARTICLE, served_site

SENTENCES = [
    "My grandmother's parrot whistles whenever the kettle boils.",
    "Quiet rivers rarely carry boats past the old mill.",
    "The committee postponed the vote because the chairwoman was ill.",
    "A lighthouse keeper counted ships until dawn broke over the bay.",
    "Engineers rewrote the parser after the tests found a subtle bug.",
    "Snow fell on the village, and the children built a crooked snowman.",
    "The violinist tuned her instrument twice before the concert began.",
    "Nobody expected the small bakery to win the national prize.",
]


def _load_model(page) -> float:
    """Seconds from pressing "Load the model" to the model being ready."""
    page.locator(WIDGET).scroll_into_view_if_needed()
    page.wait_for_selector(f"{WIDGET} .attn-live-load")
    t0 = time.perf_counter()
    page.click(f"{WIDGET} .attn-live-load")
    page.wait_for_function(f"{STATE}.liveReady === '1'", timeout=300_000)
    return time.perf_counter() - t0


def browser_times() -> dict:
    from playwright.sync_api import sync_playwright

    res: dict = {}
    with served_site() as (url, _), sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page()
        page.goto(url + ARTICLE)
        res["ready_s"] = _load_model(page)
        times = []
        for text in SENTENCES:
            times.append(submit(page, text))
            page.evaluate(f"{STATE}.liveState = ''")
        res["first_s"], res["further_s"] = times[0], statistics.median(times[1:])
        # a second visit: the worker reads every file from its Cache Storage, nothing is downloaded
        page.reload()
        res["ready_cached_s"] = _load_model(page)
        browser.close()
    return res


def jax_times() -> float:
    from attn_jax import Encoder

    enc = Encoder.load()
    for text in SENTENCES:  # compile every padded length first
        enc.run([text])
    times = []
    for text in SENTENCES:
        t0 = time.perf_counter()
        enc.run([text])
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    b = browser_times()
    j = jax_times()
    print(f"live: button to ready {b['ready_s']:.1f} s (download + session, loopback); first sentence "
          f"{b['first_s'] * 1e3:.0f} ms; further sentences median {b['further_s'] * 1e3:.0f} ms (n={len(SENTENCES) - 1}, "
          f"incl. redraw) vs JAX {j * 1e3:.1f} ms per sentence: {b['further_s'] / j:.1f}x")
    print(f"live, second visit (files from the browser's cache): button to ready {b['ready_cached_s']:.1f} s, "
          f"{b['ready_cached_s'] / b['ready_s']:.2f}x the first")


if __name__ == "__main__":
    main()
