"""The Q/K/V steps widget and the all-heads grid in a real browser, on the article (which also holds
the head view). Expected values come from the generated files and build_scripts, not from the page."""

import json
import math
import re

import pytest

from build_scripts.groups.head_grid import charts as hg

from tests.browser.harness import axe_violations, view_eval

pytestmark = pytest.mark.browser
QKV = '[data-attn-widget="qkv-steps"]'
GRID = '[data-attn-widget="head-grid"]'
HEAD_VIEW = '[data-attn-widget="head-view"]'


def load(site, group, name):
    return json.loads((site["dir"] / "generated" / group / name).read_text())


def show(page, sel, ready):
    """Bring a widget near the viewport (widgets mount lazily) and wait until it has drawn."""
    page.locator(sel).scroll_into_view_if_needed()
    page.wait_for_function(f"(() => {{ const el = document.querySelector('{sel}'); return {ready}; }})()")


def open_qkv(page, site):
    page.goto(site["url"] + "attention/")
    show(page, QKV, "el.dataset.query !== undefined")


def open_grid(page, site):
    page.goto(site["url"] + "attention/")
    show(page, HEAD_VIEW, "el.dataset.query !== undefined")
    show(page, GRID, "el.dataset.layer !== undefined")


def shown_rows(page):
    """The readout table as the reader sees it: [word, raw, scaled, weight] per key token."""
    rows = page.eval_on_selector_all(f"{QKV} .attn-numbers tbody tr",
                                     "trs => trs.map(tr => [...tr.children].map(c => c.textContent))")
    return [[w, float(a), float(b), float(c)] for w, a, b, c in rows]


def wait_rendered(page, sel, **expected):
    cond = " && ".join(f"el.dataset.{k} === {json.dumps(str(v))}" for k, v in expected.items())
    page.wait_for_function(f"(() => {{ const el = document.querySelector('{sel}'); return {cond}; }})()")


def test_changing_the_query_changes_the_shown_scores(watched, site):
    page = watched
    open_qkv(page, site)
    index, facts = load(site, "qkv-steps", "index.json"), load(site, "qkv-steps", "facts.json")
    d = index["default"]
    assert page.get_attribute(QKV, "data-query") == "it"
    assert page.inner_text(f"{QKV} .attn-readout") == facts["default_readout"]  # the same spec signal, read by the build
    before = shown_rows(page)
    assert before == facts["default_table"]
    def bars():
        return page.eval_on_selector_all(f"{QKV} .attn-chart svg text", "ts => ts.map(t => t.textContent)")

    labels_before = bars()
    page.select_option(f"{QKV} select[name=query]", label="cat")
    wait_rendered(page, QKV, query="cat")
    after = shown_rows(page)
    payload = load(site, "qkv-steps", index["files"]["cat-mat"][d["layer"]])
    q = payload["tokens"].index("cat")
    assert after != before
    assert [r[1] for r in after] == payload["raw"][d["head"]][q]
    assert [r[3] for r in after] == payload["weights"][d["head"]][q]
    assert bars() != labels_before  # the chart's bar labels follow
    assert "query 'cat'" in page.inner_text(f"{QKV} .attn-readout")
    # a click on a token's bar label makes that token the query
    mat = payload["tokens"].index("mat")
    label = f"{payload['raw'][d['head']][q][mat]:.1f}"
    page.locator(f"{QKV} .attn-chart svg text").filter(has_text=re.compile(f"^{re.escape(label)}$")).first.click()
    wait_rendered(page, QKV, query="mat")


def softmax_error(rows):
    scaled = [r[2] for r in rows]
    top = max(scaled)
    e = [math.exp(s - top) for s in scaled]
    return max(abs(x / sum(e) - r[3]) for x, r in zip(e, rows))


def test_shown_weights_are_softmax_of_shown_scaled_scores(watched, site):
    page = watched
    open_qkv(page, site)
    index = load(site, "qkv-steps", "index.json")
    sqrt_d = math.sqrt(index["head_dim"])
    assert softmax_error(shown_rows(page)) < 2e-3
    # another sentence, layer and head: a file fetched on demand
    page.select_option(f"{QKV} select[name=sentence]", "bank-river")
    wait_rendered(page, QKV, sentence="bank-river", query="bank")
    page.select_option(f"{QKV} select[name=layer]", "1")
    wait_rendered(page, QKV, layer=1)
    page.select_option(f"{QKV} select[name=head]", "3")
    wait_rendered(page, QKV, head=3)
    rows = shown_rows(page)
    assert softmax_error(rows) < 2e-3
    assert all(abs(raw / sqrt_d - scaled) < 1.5e-3 for _, raw, scaled, _ in rows)  # step 3 follows from step 2


def test_browser_picks_the_files_numbers(watched, site):
    """What the spec computed in the browser, against the layer file indexed here by hand."""
    page = watched
    open_qkv(page, site)
    page.select_option(f"{QKV} select[name=sentence]", "bank-river")
    wait_rendered(page, QKV, sentence="bank-river")
    page.select_option(f"{QKV} select[name=head]", "4")
    wait_rendered(page, QKV, head=4)
    page.select_option(f"{QKV} select[name=query]", label="river")
    wait_rendered(page, QKV, query="river")
    index = load(site, "qkv-steps", "index.json")
    layer = index["default"]["layer"]
    p = load(site, "qkv-steps", index["files"]["bank-river"][layer])
    q = p["tokens"].index("river")
    data = lambda name: view_eval(page, QKV, f"return view.data('{name}')")  # noqa: E731
    scores = sorted(data("scores"), key=lambda r: r["index"])
    assert [r["raw"] for r in scores] == p["raw"][4][q] and [r["weight"] for r in scores] == p["weights"][4][q]
    assert [r["word"] for r in scores if r["query"]] == ["river"]
    assert [r["value"] for r in sorted(data("q"), key=lambda r: r["dim"])] == p["q"][4][q]
    assert [r["value"] for r in sorted(data("out"), key=lambda r: r["dim"])] == p["out"][4][q]
    k = {(r["row"][:2], r["dim"]): r["value"] for r in data("k")}
    assert all(k[f"{i:02d}", d] == p["k"][4][i][d] for i in range(len(p["tokens"])) for d in (0, 7, 31))
    v = data("v")
    assert {r["weight"] for r in v if r["row"].startswith("01|")} == {p["weights"][4][q][1]}
    top = max(range(len(scores)), key=lambda i: (p["weights"][4][q][i], -i))
    assert page.inner_text(f"{QKV} .attn-readout") == (
        f"Layer {layer + 1}, head 5, query 'river': the largest weight goes to '{p['tokens'][top]}': "
        f"q · k = {p['raw'][4][q][top]:.3f}, ÷ √{p['head_dim']} = {p['scaled'][4][q][top]:.3f}, "
        f"softmax = {p['weights'][4][q][top]:.3f}.")


def grid_cell_point(page, layer, head, n):
    """Screen point inside the small map of (layer, head), from the canvas box, the view's origin
    and the map geometry in build_scripts.groups.head_grid.charts (the canvas may be scaled down to fit)."""
    x0, y0, scale, ox, oy = view_eval(page, GRID, """
        const c = document.querySelector('%s .attn-chart canvas');
        const r = c.getBoundingClientRect();
        const [ox, oy] = view.origin();
        return [r.x, r.y, r.width / parseFloat(c.style.width), ox, oy];""" % GRID)
    step = n * hg.CELL + hg.GAP
    return (x0 + (ox + hg.LEFT + head * step + n * hg.CELL / 2) * scale,
            y0 + (oy + hg.TOP + layer * step + n * hg.CELL / 2) * scale)


def assert_head_view_shows(page, layer, head):
    page.wait_for_function(f"""() => {{
        const f = document.querySelector('{HEAD_VIEW} form').elements;
        return f.layer.value === '{layer}' && f.head.value === '{head}' && f.sentence.value === 'cat-mat'
          && document.querySelector('{HEAD_VIEW} .attn-readout').innerText.startsWith('head {head + 1}:');
    }}""")
    assert page.is_checked(f"{HEAD_VIEW} input[name=mode][value=single]")


def test_clicking_a_grid_cell_selects_that_head_in_the_head_view(watched, site):
    page = watched
    open_grid(page, site)
    n = load(site, "head-grid", "facts.json")["sentence"]["words"]
    page.check(f"{HEAD_VIEW} input[name=mode][value=multi]")  # the grid must switch it back to one head
    page.select_option(f"{HEAD_VIEW} select[name=sentence]", "bank-river")
    page.wait_for_function(f"document.querySelector('{HEAD_VIEW}').dataset.query === 'bank'")
    show(page, GRID, "true")
    x, y = grid_cell_point(page, 2, 7, n)
    page.mouse.click(x, y)
    wait_rendered(page, GRID, layer=2, head=7)
    assert_head_view_shows(page, 2, 7)
    assert page.inner_text(f"{GRID} .attn-readout").startswith("Selected: layer 3, head 8:")
    # the head view was scrolled into view
    page.wait_for_function(f"Math.abs(document.querySelector('{HEAD_VIEW}').getBoundingClientRect().top) < 150")


def test_grid_by_keyboard_and_selects(watched, site):
    page = watched
    open_grid(page, site)
    d = load(site, "head-grid", "index.json")["default"]
    page.focus(f"{GRID} .attn-chart")
    page.keyboard.press("ArrowUp")
    page.keyboard.press("ArrowLeft")
    wait_rendered(page, GRID, layer=d["layer"] - 1, head=d["head"] - 1)
    page.keyboard.press("Enter")
    assert_head_view_shows(page, d["layer"] - 1, d["head"] - 1)
    # the <select> pair and the button
    show(page, GRID, "true")
    page.select_option(f"{GRID} select[name=layer]", "0")
    page.select_option(f"{GRID} select[name=head]", "2")
    wait_rendered(page, GRID, layer=0, head=2)
    page.click(f"{GRID} button[type=submit]")
    assert_head_view_shows(page, 0, 2)


def test_grid_maps_put_each_weight_at_its_row_and_column(watched, site):
    page = watched
    open_grid(page, site)
    spec = load(site, "head-grid", "spec.json")
    cells = next(d for d in spec["data"] if d["name"] == "cells")["values"]
    source = next(m["from"]["data"] for m in spec["marks"] if m["type"] == "rect" and "cursor" in json.dumps(m))
    shown = view_eval(page, GRID, f"return view.data('{source}').map(t => [t.layer, t.head, t.i, t.j, t.weight])")
    assert len(shown) == sum(len(c["w"]) for c in cells)
    by_head = {(c["layer"], c["head"]): c for c in cells}
    for layer, head, i, j, weight in shown:
        c = by_head[layer, head]
        assert weight == c["w"][i * c["n"] + j]


def test_no_javascript_fallback(browser, site):
    context = browser.new_context(java_script_enabled=False)
    page = context.new_page()
    page.goto(site["url"] + "attention/")
    facts = load(site, "qkv-steps", "facts.json")
    assert page.inner_text(f"{QKV} .attn-readout") == facts["default_readout"]
    assert "default.svg" in page.inner_html(f"{QKV} .attn-chart")
    assert "default.svg" in page.inner_html(f"{GRID} .attn-chart")
    grid = load(site, "head-grid", "facts.json")
    assert page.inner_text(f"{GRID} .attn-readout") == grid["default_readout"]
    assert page.text_content(f"{GRID} .attn-summary ul").count("layer ") == len(grid["summary_lines"])
    context.close()


def test_axe_no_serious_violations(watched, site):
    page = watched
    open_grid(page, site)
    show(page, QKV, "el.dataset.query !== undefined")
    page.click(f"{QKV} .attn-numbers summary")  # open the table, so axe checks it too
    page.click(f"{GRID} .attn-summary summary")
    assert axe_violations(page) == []
