"""The head view on a phone (two columns, touch-sized taps), its sentence gallery (filtered, a
Winograd pair opened), and the standalone export opened from file:// with every request to
anything but the file itself blocked; exported with ``--live`` and served over HTTP, a sentence
typed into it is computed in the page and checked against JAX. Expected values come from the
generated data."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from build_scripts.pipeline import payloads as hv

from tests.browser.harness import NEW, STATE, Quiet, readout_matches_jax, serving, submit

pytestmark = pytest.mark.browser
WIDGET = '[data-attn-widget="head-view"]'
ROOT = Path(__file__).resolve().parents[2]


def open_head_view(page, site):
    page.goto(site["url"] + "attention/")
    page.locator(WIDGET).scroll_into_view_if_needed()
    page.wait_for_function(f"document.querySelector('{WIDGET}').dataset.query !== undefined")


def test_phone_layout_two_columns_and_taps(browser, site):
    context = browser.new_context(viewport={"width": 375, "height": 740}, device_scale_factor=2, is_mobile=True,
                                  has_touch=True)
    page = context.new_page()
    open_head_view(page, site)
    assert page.get_attribute(WIDGET, "data-layout") == "columns"
    labels = json.loads((site["dir"] / "generated" / "head-view" / "cat-mat.json").read_text())["word"]["labels"]
    texts = page.locator(f"{WIDGET} .attn-chart svg text")
    boxes = [texts.nth(i).bounding_box() for i in range(texts.count())]
    left = [b for b in boxes if b["x"] + b["width"] < 375 / 2]
    assert len(left) == len(labels)  # every word, in the left column, inside the screen
    assert all(b["x"] >= 0 and b["x"] + b["width"] <= 375 for b in boxes)
    ys = sorted(b["y"] for b in left)
    assert min(b - a for a, b in zip(ys, ys[1:])) >= 24  # rows a finger can hit
    # tap "sat" in the left column: the readout and the lines follow
    sat = next(i for i in range(texts.count()) if texts.nth(i).text_content() == "sat"
               and boxes[i]["x"] < 375 / 2)
    b = boxes[sat]
    page.touchscreen.tap(b["x"] + b["width"] / 2, b["y"] + b["height"] / 2)
    page.wait_for_function(f"document.querySelector('{WIDGET}').dataset.query === 'sat'")
    assert "'sat' →" in page.inner_text(f"{WIDGET} .attn-readout")
    context.close()


def test_gallery_filter_and_a_winograd_pair(watched, site):
    page = watched
    open_head_view(page, site)
    page.wait_for_function(f"document.querySelector('{WIDGET}').dataset.galleryLoaded === 'true'")
    gallery = json.loads((site["dir"] / "generated" / "gallery" / "index.json").read_text())
    own = json.loads((site["dir"] / "generated" / "head-view" / "index.json").read_text())
    total = len(own["sentences"]) + len(gallery["sentences"])
    assert page.locator(f"{WIDGET} select[name=sentence] option").count() == total
    assert page.locator(f"{WIDGET} select[name=sentence] optgroup").count() == 1 + len(gallery["groups"])
    # the first pair: both halves listed one after the other
    a, b = gallery["groups"][0]["sentences"][:2]
    values = page.eval_on_selector_all(f"{WIDGET} select[name=sentence] option", "os => os.map(o => o.value)")
    assert values.index(b) == values.index(a) + 1
    page.fill(f"{WIDGET} input[name=filter]", "trophy suitcase")
    page.wait_for_function(f"document.querySelectorAll('{WIDGET} select[name=sentence] option').length < {total}")
    shown = page.eval_on_selector_all(f"{WIDGET} select[name=sentence] option", "os => os.map(o => o.textContent)")
    others = [t for t in shown if t != page.eval_on_selector(f"{WIDGET} select[name=sentence]", "s => s.selectedOptions[0].textContent")]
    assert others and all("trophy" in t.lower() and "suitcase" in t.lower() for t in others)
    sid = next(s["id"] for s in gallery["sentences"] if "trophy" in s["title"])
    fetched = []
    page.on("request", lambda r: fetched.append(r.url))
    page.select_option(f"{WIDGET} select[name=sentence]", sid)
    page.wait_for_function(f"document.querySelector('{WIDGET}').dataset.sentence === '{sid}'")
    assert any(u.endswith(f"gallery/{gallery['files'][sid]}") for u in fetched)  # loaded when chosen
    payload = json.loads((site["dir"] / "generated" / "gallery" / gallery["files"][sid]).read_text())
    labels = payload["word"]["labels"]
    assert page.get_attribute(WIDGET, "data-query") == labels[payload["query"]]
    # the readout's first weight is the decoded weight of the strongest key, as NumPy finds it
    f = page.eval_on_selector(f"{WIDGET} form", "f => [Number(f.elements.layer.value), Number(f.elements.head.value)]")
    row = hv.dequantise(payload["word"]["attention"])[f[0], f[1], payload["query"]]
    top = int(row.argmax())
    assert page.inner_text(f"{WIDGET} .attn-readout").startswith(
        f"head {f[1] + 1}: '{labels[payload['query']]}' → {labels[top]} {row[top]:.2f}")
    assert page.is_disabled(f"{WIDGET} input[name=tokens]")  # word level only in the gallery
    # the other half of the pair, one click away
    other = gallery["partner"][sid]
    page.click(f"{WIDGET} button.attn-partner")
    page.wait_for_function(f"document.querySelector('{WIDGET}').dataset.sentence === '{other}'")
    assert gallery["partner"][other] == sid
    assert page.is_hidden(f"{WIDGET} button.attn-partner") is False


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    out = tmp_path_factory.mktemp("export") / "view.html"
    cmd = [sys.executable, "-m", "build_scripts.view", "--text", "The trophy doesn't fit into the brown suitcase "
           "because it is too large.", "--text", "The trophy doesn't fit into the brown suitcase because it is too small.",
           "--out", str(out), "--layer", "4", "--head", "2", "--query", "it"]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    return out


def test_export_works_from_file_with_every_request_blocked(browser, exported):
    page = browser.new_page()
    blocked, errors = [], []
    page.route("**/*", lambda r: r.continue_() if r.request.url == exported.as_uri() or r.request.url.startswith("blob:")
               else (blocked.append(r.request.url), r.abort()))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(exported.as_uri())
    page.wait_for_function(f"document.querySelector('{WIDGET}').dataset.query === 'it'")
    assert page.inner_text(f"{WIDGET} .attn-readout").startswith("head 2: 'it' → ")
    widths = lambda: page.eval_on_selector_all(f"{WIDGET} svg line", "ls => ls.map(l => l.getAttribute('stroke-width'))")  # noqa: E731
    before = widths()
    page.locator(f"{WIDGET} .attn-chart svg text", has_text="trophy").first.click()
    page.wait_for_function(f"document.querySelector('{WIDGET}').dataset.query === 'trophy'")
    assert widths() != before
    page.select_option(f"{WIDGET} select[name=sentence]", "s2")
    page.wait_for_function(f"[...document.querySelectorAll('{WIDGET} svg text')].some(t => t.textContent === 'small')")
    assert blocked == [] and errors == []
    # the same file inside an iframe (as IPython.display.IFrame / HTML(srcdoc) shows it)
    page.set_content(f'<iframe srcdoc="{exported.read_text().replace("&", "&amp;").replace(chr(34), "&quot;")}" '
                     'width="900" height="700"></iframe>')
    frame = page.frames[1]
    frame.wait_for_function(f"document.querySelector('{WIDGET}').dataset.query === 'it'")
    assert errors == []
    page.close()


TROPHY = "The trophy doesn't fit into the brown suitcase because it is too large."


@pytest.fixture(scope="module")
def exported_live(tmp_path_factory):
    """``view.html --live`` in a folder of its own, served on 127.0.0.1 (as ``python -m http.server`` would)."""
    folder = tmp_path_factory.mktemp("export-live")
    out = folder / "view.html"
    cmd = [sys.executable, "-m", "build_scripts.view", "--text", TROPHY, "--out", str(out), "--layer", "4", "--head", "2",
           "--query", "it", "--live"]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    served = []

    class Handler(Quiet):
        def log_request(self, code="-", size="-"):
            served.append((self.path, int(code)))

        def do_GET(self):
            if self.path == "/favicon.ico":  # the browser asks on its own; the page has none
                self.send_response(204)
                self.end_headers()
            else:
                super().do_GET()

    with serving(folder, Handler) as url:
        yield {"url": url, "file": out, "served": served}


def test_export_with_live_computes_a_typed_sentence_like_jax(browser, exported_live, encoder):
    context = browser.new_context()
    page = context.new_page()
    origin = exported_live["url"]
    requests, errors = [], []
    context.on("request", lambda r: requests.append(r.url))  # the page's and its worker's
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(origin + "view.html")
    page.wait_for_function(f"{STATE}.query === 'it'")
    assert [u for u in requests if u.startswith(origin)] == [origin + "view.html"]  # nothing more until asked
    page.click(f"{WIDGET} .attn-live-load")
    page.wait_for_function(f"{STATE}.liveReady === '1'", timeout=180_000)
    submit(page, NEW)
    info = json.loads((exported_live["file"].parent / "view-live" / "model.json").read_text())
    readout_matches_jax(page, encoder, info["error"]["max_abs"])  # as on the site
    # every file came from the folder beside the page, and no request left the server's origin
    assert {"/view-live/model.onnx", "/view-live/live-worker.js", "/view-live/onnxruntime-web/ort-wasm-simd-threaded.wasm",
            "/view-live/tokenizers/tokenizers.min.mjs"} <= {p for p, _ in exported_live["served"]}
    assert [(p, c) for p, c in exported_live["served"] if c not in (200, 204)] == []
    assert origin + "view-live/model.onnx" in requests  # the worker's requests are seen too
    assert [u for u in requests if not u.startswith((origin, "blob:", "data:"))] == []
    assert errors == []
    print(f"\nstandalone --live over HTTP: click to ready {page.evaluate(STATE + '.liveLoadMs')} ms, "
          f"first sentence {page.evaluate(STATE + '.liveMs')} ms")
    context.close()


def test_export_with_live_opened_from_file_says_to_serve_it(browser, exported_live):
    page = browser.new_page()
    file_url = exported_live["file"].as_uri()
    blocked, errors = [], []
    page.route("**/*", lambda r: r.continue_() if r.request.url == file_url or r.request.url.startswith("blob:")
               else (blocked.append(r.request.url), r.abort()))
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(file_url)
    page.wait_for_function(f"{STATE}.query === 'it'")
    page.click(f"{WIDGET} .attn-live-load")
    page.wait_for_function(f"document.querySelector('{WIDGET} .attn-live-message')?.textContent.includes('http.server')")
    assert page.is_disabled(f"{WIDGET} .attn-live-load")
    assert blocked == [] and errors == []
    page.close()
