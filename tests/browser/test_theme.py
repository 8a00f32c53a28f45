"""What the site takes from its theme, under each generator: search finds the article (offline, from
the built index), the palette toggle switches to dark and back and survives instant navigation."""

import pytest

pytestmark = pytest.mark.browser


def test_search_finds_a_section_of_the_article(watched, site):
    page = watched
    page.goto(site["url"])
    # Material shows the search field in the header; Zensical a button that opens its search dialog.
    page.locator(".md-search__input, .md-search__button").first.click()
    page.keyboard.type("softmax")
    # The home page has no such heading: only a search result can show it (locators pierce shadow roots).
    result = page.get_by_text("Step 3: scale, then softmax").first
    result.wait_for(state="visible")
    result.click()
    page.wait_for_url("**/attention/**")
    page.locator("h3#step-3-scale-then-softmax").wait_for(state="visible")  # instant navigation swaps content


def test_palette_toggle_switches_and_persists(watched, site):
    page = watched
    page.emulate_media(color_scheme="light")
    page.goto(site["url"])
    scheme = "() => document.body.getAttribute('data-md-color-scheme')"
    assert page.evaluate(scheme) == "default"
    page.locator('label[title="Switch to dark mode"]:visible').click()
    page.wait_for_function(f"({scheme})() === 'slate'")
    page.click("a.md-nav__link[href$='attention/']")  # instant navigation keeps the choice
    page.wait_for_url("**/attention/")
    assert page.evaluate(scheme) == "slate"
    page.locator('label[title="Switch to light mode"]:visible').click()
    page.wait_for_function(f"({scheme})() === 'default'")
