"""Every page in a real browser: accessibility (axe-core), dark mode, a 375 px phone, no stray
shortcodes, no broken internal links, nothing fetched from another host."""

import re
from pathlib import Path
from urllib.parse import urljoin, urlparse

import pytest

from tests.browser.harness import axe_violations

pytestmark = pytest.mark.browser
PAGES = ["", "rnns-lstms/", "attention/", "writing/", "glossary/", "model/"]


def scroll_through(page):
    """Scroll to the bottom in steps so every lazily mounted widget renders."""
    height = page.evaluate("document.body.scrollHeight")
    for y in range(0, height + 800, 700):
        page.evaluate(f"window.scrollTo(0, {y})")
        page.wait_for_timeout(60)
    page.wait_for_load_state("networkidle")
    page.wait_for_timeout(300)


@pytest.mark.parametrize("path", PAGES)
def test_axe_on_every_page(watched, site, path):
    page = watched
    page.goto(site["url"] + path)
    scroll_through(page)
    assert axe_violations(page) == []


@pytest.mark.parametrize("path", ["attention/", "writing/"])
def test_dark_mode_charts_are_readable(watched, site, path):
    page = watched
    page.emulate_media(color_scheme="dark")
    page.goto(site["url"] + path)
    assert page.evaluate("document.body.getAttribute('data-md-color-scheme')") == "slate"
    scroll_through(page)
    colours = page.evaluate("""() => {
      const bg = getComputedStyle(document.body).backgroundColor;
      const texts = [...document.querySelectorAll('[data-attn-widget] .attn-chart svg text')];
      return { bg, fills: [...new Set(texts.map((t) => getComputedStyle(t).fill))], n: texts.length };
    }""")
    assert colours["n"] > 0
    assert colours["bg"] not in colours["fills"]
    lum = lambda c: sum(int(x) for x in re.findall(r"\d+", c)[:3])  # noqa: E731
    assert all(lum(f) > lum(colours["bg"]) + 200 for f in colours["fills"]), colours  # light text on dark
    assert axe_violations(page) == []


@pytest.mark.parametrize("path", PAGES)
def test_phone_width_has_no_horizontal_scroll(browser, site, path):
    context = browser.new_context(viewport={"width": 375, "height": 740}, device_scale_factor=2, is_mobile=True)
    page = context.new_page()
    page.goto(site["url"] + path)
    scroll_through(page)
    width = page.evaluate("document.scrollingElement.scrollWidth")
    context.close()
    assert width <= 375


def test_no_unexpanded_shortcodes_and_no_broken_links(site):
    root: Path = site["dir"]
    for html_file in root.rglob("*.html"):
        text = html_file.read_text()
        assert "{{" not in re.sub(r"<(code|pre)[^>]*>.*?</\1>", "", text, flags=re.S), html_file
        base = "http://site/" + str(html_file.relative_to(root).parent).replace(".", "") + "/"
        for href in re.findall(r'(?:href|src)="([^"#?]+)', text):
            url = urlparse(urljoin(base, href))
            if url.scheme not in ("http", "https") or url.netloc != "site":
                continue
            target = root / url.path.lstrip("/")
            assert target.exists() or (target / "index.html").exists(), f"{html_file}: broken link {href}"
