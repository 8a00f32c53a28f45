"""The head view in a real browser: clicks, keyboard, multi-head colours, readout, instant navigation,
offline, accessibility. Expected values come from the generated data, not from the page."""

import json

import pytest

from build_scripts.pipeline import payloads as hv

from tests.browser.harness import WIDGET, axe_violations, open_article, query_word

pytestmark = pytest.mark.browser


def load(site, name):
    return json.loads((site["dir"] / "generated" / "head-view" / name).read_text())


THICKEST_END = """(sel) => {
  // The thickest line, and the key-row word nearest to where it ends.
  const root = document.querySelector(sel + ' .attn-chart svg');
  const lines = [...root.querySelectorAll('line')];
  const thick = lines.reduce((a, b) => (+b.getAttribute('stroke-width') > +a.getAttribute('stroke-width') ? b : a));
  const end = new DOMPoint(+thick.getAttribute('x2'), +thick.getAttribute('y2')).matrixTransform(thick.getScreenCTM());
  const texts = [...root.querySelectorAll('text')].map((t) => ({ t, r: t.getBoundingClientRect() }));
  const bottom = Math.max(...texts.map((x) => x.r.y));
  const keys = texts.filter((x) => Math.abs(x.r.y - bottom) < 2);
  keys.sort((a, b) => Math.abs(a.r.x + a.r.width / 2 - end.x) - Math.abs(b.r.x + b.r.width / 2 - end.x));
  return keys[0].t.textContent;
}"""


def test_click_it_draws_thickest_line_to_the_largest_weight(watched, site):
    page = watched
    open_article(page, site)
    index, cat = load(site, "index.json"), load(site, "cat-mat.json")
    d = index["default"]
    labels = cat["word"]["labels"]
    before = page.inner_text(f"{WIDGET} .attn-readout")
    query_word(page, "sat").click()
    page.wait_for_function(f"document.querySelector('{WIDGET}').dataset.query === 'sat'")
    assert page.inner_text(f"{WIDGET} .attn-readout") != before  # the readout follows the selection
    query_word(page, "it").click()
    page.wait_for_function(f"document.querySelector('{WIDGET}').dataset.query === 'it'")
    row = hv.dequantise(cat["word"]["attention"])[d["layer"], d["head"], labels.index("it")]
    expected = labels[int(row.argmax())]
    assert page.evaluate(THICKEST_END, WIDGET) == expected
    assert expected == "cat"  # what the article says about this head
    readout = page.inner_text(f"{WIDGET} .attn-readout")
    assert readout.startswith(f"head {d['head'] + 1}: 'it' → {expected} {max(row):.2f}")


def test_multi_head_shows_distinct_colours(watched, site):
    page = watched
    open_article(page, site)
    page.check(f"{WIDGET} input[value=multi]")
    page.wait_for_function(f"document.querySelector('{WIDGET} .attn-readout').innerText.split('\\n').length > 1")
    checked = page.locator(f'{WIDGET} input[name="heads"]:checked').count()
    colours = set(page.eval_on_selector_all(f"{WIDGET} .attn-chart svg line", "ls => ls.map(l => l.getAttribute('stroke'))"))
    assert checked >= 2 and len(colours) == checked
    assert len(page.inner_text(f"{WIDGET} .attn-readout").splitlines()) == checked


def test_keyboard_only_selection(watched, site):
    page = watched
    open_article(page, site)
    page.focus(f"{WIDGET} select[name=sentence]")  # start at the widget's first control
    for _ in range(40):  # then Tab through its controls until the chart has focus
        page.keyboard.press("Tab")
        if page.evaluate(f"document.activeElement === document.querySelector('{WIDGET} .attn-chart')"):
            break
    else:
        pytest.fail("the chart cannot be reached with Tab")
    labels = load(site, "cat-mat.json")["word"]["labels"]
    start = page.get_attribute(WIDGET, "data-query")
    page.keyboard.press("ArrowRight")
    page.wait_for_function(f"document.querySelector('{WIDGET}').dataset.query !== '{start}'")
    assert page.get_attribute(WIDGET, "data-query") == labels[labels.index(start) + 1]
    assert f"'{labels[labels.index(start) + 1]}' →" in page.inner_text(f"{WIDGET} .attn-readout")
    # The query <select> works from the keyboard too.
    page.focus(f"{WIDGET} select[name=query]")
    page.keyboard.press("Home")
    page.wait_for_function(f"document.querySelector('{WIDGET}').dataset.query === '[CLS]'")


def test_tokens_and_special_toggles(watched, site):
    page = watched
    open_article(page, site)
    page.select_option(f"{WIDGET} select[name=sentence]", "animal-tired")
    page.wait_for_function(f"[...document.querySelectorAll('{WIDGET} svg text')].some(t => t.textContent === \"didn't\")")
    assert page.get_attribute(WIDGET, "data-query") == "it"
    page.check(f"{WIDGET} input[name=tokens]")
    page.wait_for_function(f"[...document.querySelectorAll('{WIDGET} svg text')].some(t => t.textContent === 'didn')")
    assert page.get_attribute(WIDGET, "data-query") == "it"
    page.uncheck(f"{WIDGET} input[name=special]")
    page.wait_for_function(f"![...document.querySelectorAll('{WIDGET} svg text')].some(t => t.textContent === '[CLS]')")
    assert "of the attention removed" in page.inner_text(f"{WIDGET} .attn-readout")


def test_instant_navigation_rerenders(watched, site):
    page = watched
    page.goto(site["url"])
    page.evaluate("window.__still_same_document = true")
    page.click("a.md-nav__link[href$='attention/']")
    page.locator(WIDGET).scroll_into_view_if_needed()
    page.wait_for_selector(f"{WIDGET} .attn-chart svg text")
    page.click("a.md-nav__link[href$='glossary/']")
    page.wait_for_selector("h1:has-text('Glossary')")
    page.click("a.md-nav__link[href$='attention/']")
    page.locator(WIDGET).scroll_into_view_if_needed()
    page.wait_for_selector(f"{WIDGET} .attn-chart svg text")
    assert page.evaluate("window.__still_same_document === true"), "navigation fell back to a full page load"
    assert page.locator(f"{WIDGET} .attn-chart svg").count() == 1


def test_no_javascript_fallback(browser, site):
    context = browser.new_context(java_script_enabled=False)
    page = context.new_page()
    page.goto(site["url"] + "attention/")
    facts = load(site, "facts.json")
    assert page.inner_text(f"{WIDGET} .attn-readout") == facts["default_readout"]
    html = page.inner_html(f"{WIDGET} .attn-chart")
    assert "default.svg" in html  # the <noscript> image
    context.close()


def test_axe_no_serious_violations(watched, site):
    page = watched
    open_article(page, site)
    assert axe_violations(page) == []
