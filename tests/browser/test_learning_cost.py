"""The training-step widget and the cost chart in a real browser: the slider and the play button
change what is drawn; expected numbers come from the generated result, not from the page."""

import json

import pytest

pytestmark = pytest.mark.browser
TRAINING = '[data-attn-widget="training"]'


def show(page, site, selector):
    page.goto(site["url"] + "attention/")
    page.locator(selector).scroll_into_view_if_needed()
    page.wait_for_selector(f"{selector} .attn-chart svg text")
    page.wait_for_function(f"document.querySelector('{selector}').dataset.step !== undefined")


def labels(page, selector):
    return page.eval_on_selector_all(f"{selector} .attn-chart svg text", "ts => ts.map(t => t.textContent)")


def set_slider(page, value):
    page.eval_on_selector(f"{TRAINING} input[type=range]",
                          "(el, v) => { el.value = v; el.dispatchEvent(new Event('input', {bubbles: true})); }", value)
    page.wait_for_function(f"document.querySelector('{TRAINING}').dataset.step === '{value}'")


def test_slider_changes_the_attention_shown(watched, site):
    page = watched
    show(page, site, TRAINING)
    result = json.loads((site["dir"] / "generated" / "learning" / "learning.json").read_text())
    steps = result["models"]["transformer"]["steps"]
    assert page.get_attribute(TRAINING, "data-step") == str(steps[-1])  # opens on the trained model
    at_end = labels(page, TRAINING)
    set_slider(page, steps[0])
    at_start = labels(page, TRAINING)
    assert at_start != at_end
    svg_start = page.inner_html(f"{TRAINING} .attn-chart svg")
    set_slider(page, steps[len(steps) // 2])
    assert page.inner_html(f"{TRAINING} .attn-chart svg") != svg_start


def test_play_button_advances_the_steps(watched, site):
    page = watched
    show(page, site, TRAINING)
    set_slider(page, 0)
    page.click(f"{TRAINING} button.attn-play")
    page.wait_for_function(f"Number(document.querySelector('{TRAINING}').dataset.step) >= 80")
    page.click(f"{TRAINING} button.attn-play")  # pause
    assert page.inner_text(f"{TRAINING} button.attn-play") == "Play training"


def test_cost_chart_renders_measured_points(watched, site):
    page = watched
    page.goto(site["url"] + "attention/")
    page.locator('[data-chart="cost"]').scroll_into_view_if_needed()
    page.wait_for_selector('[data-chart="cost"] .attn-chart svg text')
    facts = json.loads((site["dir"] / "generated" / "cost" / "facts.json").read_text())
    text = " ".join(labels(page, '[data-chart="cost"]'))
    assert facts["backend"] in text and "T (sequence length)" in text
