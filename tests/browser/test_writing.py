"""Part two (``writing/``) in a real browser: the decoder's head view steps through a text the model
wrote, one token at a time, and its readout agrees with SmolLM2 run by JAX on the same tokens; its
head labels name the shared key/value heads; the phase-change widget's one slider moves all three
of its panels. Expected numbers come from JAX and the generated files, never from the page."""

import json

import numpy as np
import pytest

from build_scripts.pipeline.payloads import Q8_MAX_ERROR
from tests.browser.harness import LINE, STATE, WIDGET, axe_violations, view_eval

pytestmark = pytest.mark.browser
PHASE = '[data-chart="phase-change/chart"]'
READOUT_ROUNDING = 0.005  # the readout prints 2 decimals
CACHE_VS_FULL = 1e-4  # rows written with the KV cache against one full forward pass: float32 sums in another order


def open_writing(page, site):
    page.goto(site["url"] + "writing/")
    page.locator(WIDGET).scroll_into_view_if_needed()  # widgets mount when they come into view
    page.wait_for_selector(f"{WIDGET} .attn-chart svg text")
    page.wait_for_function(f"{STATE}.step !== undefined")


def default_text(site):
    """The decoder view's default text: its payload and the [[prompt]] it was written from."""
    generated = site["dir"] / "generated" / "decoder-view"
    default = json.loads((generated / "index.json").read_text())["default"]
    return default, json.loads((generated / f"{default['sentence']}.json").read_text())


def readout(page):
    return page.inner_text(f"{WIDGET} .attn-readout")


def head_line(text, head):
    """The shown label and (token, weight) pairs of ``head`` (0-based) in the readout."""
    [m] = [m for m in map(LINE.match, text.splitlines()) if m and int(m.group(1)) == head + 1]
    parts = [p.rsplit(" ", 1) for p in m.group(3).rstrip(", …").split(", ")]
    return m.group(2), [(label, float(w)) for label, w in parts]


def step_to(page, k):
    while int(page.get_attribute(WIDGET, "data-step")) != k:
        button = "forward" if int(page.get_attribute(WIDGET, "data-step")) < k else "back"
        before = page.get_attribute(WIDGET, "data-step")
        page.click(f"{WIDGET} button[name={button}]")
        page.wait_for_function(f"{STATE}.step !== '{before}'")


def test_watch_it_write_steps_token_by_token_like_jax(watched, site, decoder):
    page = watched
    open_writing(page, site)
    default, payload = default_text(site)
    p, written = payload["generated_from"], payload["next_tokens"]
    prompt = next(s for s in json.loads((site["dir"] / "generated" / "decoder-view" / "index.json").read_text())["sentences"]
                  if s["id"] == default["sentence"])
    assert page.get_attribute(WIDGET, "data-step") == str(payload["query"] - p + 2)
    # the model writes its text again, greedily; one full forward pass over it gives every row
    gen = decoder.generate(payload["text"], max_new_tokens=len(written) - 1)
    [full] = decoder.run_ids([gen.ids])
    assert len(gen.ids) == p + len(written) - 1 and prompt["text"].startswith(payload["text"])
    layer = int(page.input_value(f"{WIDGET} select[name=layer]"))
    head = int(page.input_value(f"{WIDGET} select[name=head]"))
    for k in (1, 2, len(written)):
        step_to(page, k)
        text = readout(page)
        assert text.startswith(f"Writing '{written[k - 1]}': ")
        query = p + k - 2  # the last token read while writing token k
        assert int(page.input_value(f"{WIDGET} select[name=query]")) == query
        # nothing after the query is written yet: the keys drawn are the tokens 0..query
        assert view_eval(page, WIDGET, "return view.data('shown').length") == query + 1
        label, shown = head_line(text.removeprefix(f"Writing '{written[k - 1]}': "), head)
        row = full.attentions[layer, head, query, : query + 1]
        order = np.argsort(-row, kind="stable")
        for j, (_, w) in enumerate(shown):
            assert abs(w - row[order[j]]) <= Q8_MAX_ERROR + READOUT_ROUNDING + CACHE_VS_FULL, (k, j, shown, row[order[:5]])
    # clicking a word while stepping shows that word's lines, no longer the token being written
    page.locator(f"{WIDGET} .attn-chart svg text").first.click()
    page.wait_for_function(f"!document.querySelector('{WIDGET} .attn-readout').textContent.startsWith('Writing')")


def test_heads_name_their_shared_key_value_head(watched, site):
    page = watched
    open_writing(page, site)
    index = json.loads((site["dir"] / "generated" / "decoder-view" / "index.json").read_text())
    per_kv = index["heads"] // index["kv_heads"]
    names = page.eval_on_selector_all(f"{WIDGET} select[name=head] option", "os => os.map(o => o.textContent)")
    assert names == [f"head {h + 1} · K/V {h // per_kv + 1}" for h in range(index["heads"])]
    assert page.is_hidden(f"{WIDGET} input[name=tokens]")  # a decoder's text is its tokens: no WordPiece switch


def test_decoder_view_by_keyboard_and_axe(watched, site):
    page = watched
    open_writing(page, site)
    page.focus(f"{WIDGET} button[name=forward]")
    before = page.get_attribute(WIDGET, "data-step")
    page.keyboard.press("Enter")
    page.wait_for_function(f"{STATE}.step !== '{before}'")
    assert axe_violations(page) == []


def test_one_slider_moves_all_three_phase_change_panels(watched, site):
    page = watched
    page.goto(site["url"] + "writing/")
    page.locator(PHASE).scroll_into_view_if_needed()
    page.wait_for_selector(f"{PHASE} .attn-chart svg text")
    page.wait_for_function(f"document.querySelector('{PHASE}').dataset.step !== undefined")
    facts = json.loads((site["dir"] / "generated" / "phase-change" / "facts.json").read_text())
    slider = f"{PHASE} input[type=range]"
    lo, hi = (int(page.get_attribute(slider, a)) for a in ("min", "max"))
    assert (lo, hi) == (0, facts["steps"])
    # every mark group's drawing: rules (the step marker), rectangles (two attention maps, the score bars)
    marks = """el => [...el.querySelectorAll('.attn-chart svg g.role-mark')]
                     .map(g => [g.getAttribute('class'), g.innerHTML])"""

    def set_step(value):
        page.eval_on_selector(slider, "(el, v) => { el.value = v; el.dispatchEvent(new Event('input', {bubbles: true})); }", value)
        page.wait_for_function(f"document.querySelector('{PHASE}').dataset.step === '{value}'")
        return page.eval_on_selector(PHASE, marks)

    before, after = set_step(lo), set_step(hi)
    assert len(before) == len(after)
    changed = [b[0] for b, a in zip(before, after) if b[1] != a[1]]
    assert sum("mark-rule" in c for c in changed) >= 1, changed  # the loss panel's step marker
    assert sum("mark-rect" in c for c in changed) >= 3, changed  # both attention maps and the score bars
    play = f"{PHASE} button.attn-play"
    page.click(play)
    page.wait_for_function(f"Number(document.querySelector('{PHASE}').dataset.step) > 0")
    page.click(play)


def test_a_layer_loads_when_first_shown(watched, site):
    page = watched
    fetched = []
    page.on("request", lambda r: fetched.append(r.url.rsplit("/", 2)[-2:]) if "/decoder-view/" in r.url else None)
    open_writing(page, site)
    default, _ = default_text(site)
    layers = [f for f in fetched if f[1].startswith("layer-")]
    assert layers == [[default["sentence"], f"layer-{default['layer'] + 1}.json"]]  # one layer of 30 on the first view
    before = readout(page)
    page.select_option(f"{WIDGET} select[name=layer]", "0")
    page.wait_for_function(f"document.querySelector('{WIDGET} .attn-readout').textContent !== {json.dumps(before)}")
    assert [f for f in fetched if f[1].startswith("layer-")][1:] == [[default["sentence"], "layer-1.json"]]
