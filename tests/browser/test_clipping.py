"""Nothing cut off, at any width, on either article page (part one, ``attention/``, and part two,
``writing/``): every widget's drawn content (SVG text, lines and rectangles, a canvas) lies inside
its widget box and inside the viewport, at 375, 768, 1280 and 1920 px, light and dark. Nothing too small to read either: no chart's SVG text renders below ``MIN_TEXT_PX`` CSS
px (its font size times the scale it is drawn at), so a chart scaled down to fit a phone fails
until it gets a narrow layout. Screenshots of every widget at 375 and 1280 px go to a folder printed by the test
(``$ATTN_SHOTS/<generator>/``, default pytest's temporary folder ``.../screenshots/<generator>/``),
named ``<page>-<widget>-<width>-<scheme>.png``, for a person to look at.
"""

import os
from pathlib import Path

import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from tests.browser.harness import OVERFLOW

pytestmark = pytest.mark.browser
WIDTHS = (375, 768, 1280, 1920)
SHOT_WIDTHS = (375, 1280)
MIN_TEXT_PX = 10  # CSS px: Vega's default axis-label size, drawn unscaled
# each page's widgets, by name: a chart's path with "/" as "-", else the widget's kind
PAGES = {
    "attention": {"head-view", "qkv-steps", "head-grid", "learning-training", "cost", "evidence-head-roles",
                  "evidence-winograd-heads", "evidence-pruning", "evidence-contribution", "senses-heads"},
    "writing": {"head-view", "sinks-layers", "sinks-heads", "sinks-perplexity", "induction-heads",
                "phase-change-chart", "kv-cache-size", "rope-offset", "rope-distance"},
}

# For each widget: its box, and every drawn element's box that sticks out of it or of the
# viewport's width (by more than half a pixel). An <svg> or <canvas> with overflow hidden would
# hide a cut-off chart, so the drawn elements are measured, not only the chart's box.
# Per widget, its SVG text drawn smaller than the limit: the rendered size is the font size times the
# scale of the text's screen transform (a chart wider than its box is scaled down by the CSS).
SMALL_TEXT = """(limit) => {
  const out = {};
  for (const w of document.querySelectorAll('[data-attn-widget]')) {
    for (const t of w.querySelectorAll('.attn-chart svg text')) {
      if (!t.textContent.trim() || t.getBoundingClientRect().width === 0) continue;
      const m = t.getScreenCTM();
      const px = parseFloat(getComputedStyle(t).fontSize) * Math.hypot(m.a, m.b);
      if (px >= limit - 0.05) continue;
      const kind = w.dataset.chart || w.dataset.attnWidget, seen = out[kind];
      if (!seen || px < seen.px) out[kind] = { px, text: t.textContent.slice(0, 30), count: (seen ? seen.count : 0) + 1 };
      else seen.count += 1;
    }
  }
  return Object.entries(out).map(([kind, s]) =>
    `${kind}: ${s.count} text(s) below ${limit} px, the smallest ${s.px.toFixed(1)} px (${JSON.stringify(s.text)})`);
}"""


def shots_dir(tmp_path_factory, generator: str) -> Path:
    base = Path(os.environ["ATTN_SHOTS"]) if os.environ.get("ATTN_SHOTS") else tmp_path_factory.getbasetemp() / "screenshots"
    out = base / generator
    out.mkdir(parents=True, exist_ok=True)
    return out


def js(page, expression: str, timeout: int = 30_000):
    """Run a JS expression in the page and return its value, failing after ``timeout`` ms.

    ``page.evaluate`` has no timeout, and on a busy machine a page at 1920 px once never answered;
    ``wait_for_function`` on an expression that is always truthy does the same work with one.
    """
    handle = page.wait_for_function(f"(() => [({expression})])()", timeout=timeout)
    return handle.json_value()[0]


def measure(browser, site, page_name, width, scheme, tmp_path_factory):
    """One try: open the page, draw every widget, return (widget kinds, problems, page errors,
    widgets with text smaller than ``MIN_TEXT_PX``)."""
    context = browser.new_context(viewport={"width": width, "height": 900}, color_scheme=scheme,
                                  device_scale_factor=1, is_mobile=width < 500, has_touch=width < 500)
    try:
        page = context.new_page()
        errors = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(site["url"] + page_name + "/")
        height = js(page, "document.body.scrollHeight")
        for y in range(0, height + 800, 700):  # scroll down in steps: widgets mount lazily
            js(page, f"window.scrollTo(0, {y})")
            page.wait_for_timeout(60)
        kinds = js(page, "[...document.querySelectorAll('[data-attn-widget]')]"
                         ".map(w => (w.dataset.chart || w.dataset.attnWidget).replaceAll('/', '-'))")
        for i in range(len(kinds)):  # each widget in view, until it has drawn
            js(page, f"document.querySelectorAll('[data-attn-widget]')[{i}].scrollIntoView({{block: 'center'}})")
            page.wait_for_function(f"document.querySelectorAll('[data-attn-widget]')[{i}]"
                                   ".querySelector('.attn-chart svg, .attn-chart canvas') !== null")
        # the head view's picker gets the gallery's long sentences (where it has a gallery) after its first drawing
        page.wait_for_function("document.querySelector('[data-attn-widget=head-view]').dataset.galleryLoaded !== undefined")
        # The head view re-lays out once its box has its final width; on a busy machine that can take
        # a while, so wait (up to 10 s) for a clean layout before measuring. A real overflow stays.
        try:
            page.wait_for_function(f"({OVERFLOW})().length === 0", timeout=10_000)
        except PlaywrightTimeout:
            pass
        problems = js(page, f"({OVERFLOW})()")
        small = js(page, f"({SMALL_TEXT})({MIN_TEXT_PX})")
        if width in SHOT_WIDTHS:
            folder = shots_dir(tmp_path_factory, site["generator"])
            for i, kind in enumerate(kinds):
                js(page, f"document.querySelectorAll('[data-attn-widget]')[{i}].scrollIntoView({{block: 'center'}})")
                page.locator("[data-attn-widget]").nth(i).screenshot(path=str(folder / f"{page_name}-{kind}-{width}-{scheme}.png"))
            print(f"screenshots of {len(kinds)} widgets of {page_name}/ at {width} px ({scheme}): {folder}")
        return kinds, problems, errors, small
    finally:
        context.close()


@pytest.mark.timeout(300)
@pytest.mark.parametrize("scheme", ["light", "dark"])
@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("page_name", sorted(PAGES))
def test_no_widget_is_cut_off(browser, site, page_name, width, scheme, tmp_path_factory):
    try:
        kinds, problems, errors, small = measure(browser, site, page_name, width, scheme, tmp_path_factory)
    except PlaywrightTimeout:  # a page that stopped answering on a busy machine: one more try
        kinds, problems, errors, small = measure(browser, site, page_name, width, scheme, tmp_path_factory)
    assert errors == []
    assert PAGES[page_name] <= set(kinds)
    assert problems == [], "\n".join(problems)
    assert small == [], "\n".join(small)
