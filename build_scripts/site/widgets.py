"""The HTML of the site's widgets and charts, for the shortcodes of :mod:`build_scripts.site.markdown`.

Fallback images sit in ``<noscript>`` with ``loading="lazy"``: Material's instant navigation
parses a page without scripting, so its ``<noscript>`` images become real images; lazy, they are
fetched only near the viewport, not all at once on every page view.

Each function takes the page context (:class:`build_scripts.site.markdown.PageContext`: ``load`` reads a generated
JSON file or fails naming the page, ``base`` is the relative path to the site root) and returns the
HTML that replaces one shortcode: the widget's root element with ``data-attn-widget``, its controls
(hidden until JavaScript fills them), and a text alternative and static SVG for readers without
JavaScript.

- ``head-view`` - the interactive head view (controls, chart, text readout).
- ``decoder-view`` - the same head view on the decoder's texts: causal, key/value heads named, and
  for a continuation the model wrote, a step control to watch it write token by token.
- ``qkv-steps`` - one head's q, k, scores, softmax and output step by step, with a table of every
  word's numbers (the default view's, filled in here, so it reads without JavaScript).
- ``head-grid`` - every layer x head as a small attention map; choosing one shows it in the head
  view on the same page. A per-layer summary is its text alternative.
- ``chart(ctx, 'NAME "caption"')`` - a precomputed Vega chart with its SVG fallback, drawn by the
  widget its spec names (``usermeta.widget``; none: a plain chart).

Every widget that has a layout for phones carries the same three attributes (:func:`specs`):
``data-spec``, ``data-spec-narrow`` and ``data-narrow-below`` (from ``usermeta.narrow_below`` of
``spec-narrow.json``); ``docs/assets/js/core.js``'s ``pickSpec`` chooses between them.
"""

from __future__ import annotations

import html
import re

GENERATED = "generated"


def _head_view(ctx) -> str:
    base = ctx.base
    index = ctx.load("head-view/index.json")
    facts = ctx.load("head-view/facts.json")
    default = index["default"]
    # the sentence gallery: the picker lists it after the article's examples
    ctx.require("gallery/index.json")
    alt = (f"Head view of layer {default['layer'] + 1}, head {default['head'] + 1}: lines from the query word "
           f"to every word, thicker for more attention. {facts['default_readout']}")
    return head_view_html(index, facts["default_readout"], f"{base}{GENERATED}/head-view/",
                          gallery=f"{base}{GENERATED}/gallery/",
                          live=(f"{base}{GENERATED}/live/", live_control(ctx.load("live/model.json"))),
                          service_worker=f"{base}sw.js",
                          fallback=f'<noscript><img loading="lazy" src="{base}{GENERATED}/head-view/default.svg" alt="{html.escape(alt)}" width="100%"></noscript>')


def _decoder_view(ctx) -> str:
    """The head view of the decoder (part two): the same widget on SmolLM2's texts, no gallery."""
    base = ctx.base
    index = ctx.load("decoder-view/index.json")
    facts = ctx.load("decoder-view/facts.json")
    default = index["default"]
    alt = (f"Head view of the decoder, layer {default['layer'] + 1}, head {default['head'] + 1}: lines from the "
           f"token being read to every earlier token, thicker for more attention. {facts['default_readout']}")
    return head_view_html(index, facts["default_readout"], f"{base}{GENERATED}/decoder-view/",
                          fallback=f'<noscript><img loading="lazy" src="{base}{GENERATED}/decoder-view/default.svg" '
                                   f'alt="{html.escape(alt)}" width="100%"></noscript>')


def live_control(model: dict) -> str:
    """"Try your own sentence" (hidden until the head view's script shows it; docs/assets/js/live.js
    loads only when the button is pressed): the note on what runs and its stated error, from
    ``live/model.json``, and the button with the download size."""
    err, mb = model["error"], lambda b: f"{b / 1e6:.1f} MB"
    total = model["bytes"] + model["runtime"]["bytes"] + model["tokenizer"]["bytes"]
    gz = model["bytes_gzip"] + model["runtime"]["bytes_gzip"] + model["tokenizer"]["bytes_gzip"]
    note = (f"Runs in your browser: the exported graph of the same JAX function that computes every other sentence "
            f"here (ONNX, run by onnxruntime-web), checked against it by the project's tests. Its weights are stored "
            f"as 8-bit integers: over all {err['sentences']} Winograd sentences each attention weight stays within "
            f"{err['max_abs']:.3f} of JAX's, and {100 * err['strongest_key_same']:.1f}% of rows keep the same "
            f"strongest token. Download: {mb(model['bytes'])} model + {mb(model['runtime']['bytes'])} runtime "
            f"({mb(gz)} compressed), kept by your browser: once loaded it also works offline. Your sentence is "
            f"shown in WordPiece tokens.")
    return (f'<fieldset class="attn-live" hidden><legend>Try your own sentence</legend>\n'
            f'<p class="attn-live-note">{html.escape(note)}</p>\n'
            f'<button type="button" class="attn-live-load" data-bytes="{total}">Load the model ({mb(total)})</button>\n'
            f'</fieldset>')


def head_view_html(index: dict, readout: str, src: str, gallery: str | None = None, fallback: str = "",
                   live: tuple[str, str] | None = None, live_code: tuple[str, str] | None = None,
                   service_worker: str | None = None) -> str:
    """The head view's root element: controls (hidden until the widget fills them), chart, readout.

    ``index``: the head view's ``index.json`` (sentences, default); ``src``: the folder the widget
    loads ``index.json``, ``spec.json`` and ``<id>.json`` from; ``gallery``: the gallery folder.
    ``live``: the live model's folder and :func:`live_control` (adds "Try your own sentence").
    ``live_code``: the onnxruntime-web folder and live-worker.js; by default live.js finds them where
    the site keeps them, next to itself (the standalone export, whose scripts are inline, sets them).
    ``service_worker``: the site's ``sw.js``, which live.js registers to keep the page for offline use.
    Also used by the standalone export (``build_scripts.view``).
    """
    default = index["default"]
    options = "".join(
        f'<option value="{html.escape(s["id"])}"{" selected" if s["id"] == default["sentence"] else ""}>'
        f'{html.escape(s["title"])}</option>'
        for s in index["sentences"]
    )
    gallery_attr = f' data-gallery="{html.escape(gallery)}"' if gallery else ""
    if live:  # "Try your own sentence" (live.js): the live model's folder
        gallery_attr += f' data-live="{html.escape(live[0])}"'
    if live and service_worker:
        gallery_attr += f' data-live-sw="{html.escape(service_worker)}"'
    if live and live_code:
        gallery_attr += f' data-live-runtime="{html.escape(live_code[0])}" data-live-worker="{html.escape(live_code[1])}"'
    return f"""
<div class="attn-widget attn-head-view" data-attn-widget="head-view" data-src="{html.escape(src)}"{gallery_attr}
 data-sentence="{html.escape(default["sentence"])}">
<form class="attn-controls" hidden aria-label="Head view settings">
<fieldset class="attn-sentence"><legend>Sentence</legend>
<input type="search" name="filter" placeholder="Filter sentences" aria-label="Filter the sentences by words">
<select name="sentence" aria-label="Sentence">{options}</select> <span class="attn-count" aria-live="polite"></span>
</fieldset>
<fieldset class="attn-mode"><legend>Heads</legend>
<label><input type="radio" name="mode" value="single" checked> single head</label>
<label><input type="radio" name="mode" value="multi"> several heads</label>
</fieldset>
<label>Layer <select name="layer"></select></label>
<label class="attn-single">Head <select name="head"></select></label>
<label>Query word <select name="query"></select></label>
<label><input type="checkbox" name="tokens"> WordPiece tokens</label>
<label><input type="checkbox" name="special" checked> show [CLS] and [SEP]</label>
<fieldset class="attn-multi" hidden><legend>Heads shown (colour = head)</legend><div class="attn-heads"></div></fieldset>
<fieldset class="attn-writing" hidden><legend>Watch it write</legend>
<button type="button" class="attn-button" name="back" aria-label="Previous token">◀</button>
<label>Token <input type="range" name="step" min="1" max="1" value="1"></label>
<button type="button" class="attn-button" name="forward" aria-label="Next token">▶</button>
<output class="attn-step" name="stepinfo"></output>
</fieldset>
</form>
<div class="attn-chart" tabindex="0" role="group" aria-roledescription="attention diagram"
 aria-label="Attention lines from the query word. Click a word, or use the arrow keys, to change the query.">
{fallback}
</div>
<p class="attn-readout" aria-live="polite">{html.escape(readout)}</p>
{live[1] if live else ""}
</div>
"""


def specs(ctx, folder: str) -> str:
    """The ``data-spec`` attributes of the spec in ``generated/FOLDER/`` and, where it has one, its
    layout for phones with the column width below which the page draws it."""
    base = f"{ctx.base}{GENERATED}/{folder}/"
    attrs = f' data-spec="{base}spec.json"'
    if (ctx.docs_dir / GENERATED / folder / "spec-narrow.json").is_file():
        below = int(ctx.load(f"{folder}/spec-narrow.json")["usermeta"]["narrow_below"])
        attrs += f' data-spec-narrow="{base}spec-narrow.json" data-narrow-below="{below}"'
    return attrs


def _select(name: str, label: str, options: str = "") -> str:
    return f'<label>{label} <select name="{name}">{options}</select></label>'


def _qkv_steps(ctx) -> str:
    base = ctx.base
    index = ctx.load("qkv-steps/index.json")
    facts = ctx.load("qkv-steps/facts.json")
    d, fd = index["default"], facts["default"]
    options = "".join(
        f'<option value="{html.escape(s["id"])}"{" selected" if s["id"] == d["sentence"] else ""}>'
        f'{html.escape(s["title"])}</option>'
        for s in index["sentences"]
    )
    rows = "".join(
        f"<tr><th scope=\"row\">{html.escape(w)}</th><td>{raw:.3f}</td><td>{sc:.3f}</td><td>{wt:.3f}</td></tr>"
        for w, raw, sc, wt in facts["default_table"]
    )
    alt = (f"The five steps for the query '{fd['query']}' in layer {fd['layer_1based']}, head {fd['head_1based']}: "
           f"q and every k as colour strips, q·k, the scaled scores and the softmax weights as bars, and the "
           f"value vectors faded by weight above their sum, the output. {facts['default_readout']}")
    return f"""
<div class="attn-widget attn-qkv" data-attn-widget="qkv-steps" data-src="{base}{GENERATED}/qkv-steps/"{specs(ctx, "qkv-steps")}>
<form class="attn-controls" hidden aria-label="Q, K, V steps settings">
{_select("sentence", "Sentence", options)}
{_select("layer", "Layer")}
{_select("head", "Head")}
{_select("query", "Query token")}
</form>
<div class="attn-chart" role="group" aria-roledescription="attention steps"
 aria-label="q times k, scaled, softmax and the weighted sum of v, for the chosen query token. The table below lists the numbers.">
<noscript><img loading="lazy" src="{base}{GENERATED}/qkv-steps/default.svg" alt="{html.escape(alt)}" width="100%"></noscript>
</div>
<p class="attn-readout" aria-live="polite">{html.escape(facts['default_readout'])}</p>
<details class="attn-numbers"><summary>Every token's numbers</summary>
<table>
<caption>Token level: each WordPiece (and [CLS], [SEP]) has its own q, k and v. Numbers rounded to 3 decimals.</caption>
<thead><tr><th scope="col">key token</th><th scope="col">q · k</th><th scope="col">÷ √{fd['head_dim']}</th><th scope="col">softmax weight</th></tr></thead>
<tbody>{rows}</tbody>
</table>
</details>
</div>
"""


def _head_grid(ctx) -> str:
    base = ctx.base
    facts = ctx.load("head-grid/facts.json")
    ctx.load("head-grid/index.json")  # fail here, not in the browser, when it is missing
    lines = "".join(f"<li>{html.escape(line)}</li>" for line in facts["summary_lines"])
    sentence = html.escape(facts["sentence"]["text"])
    alt = (f"{facts['maps']} small attention maps of \"{sentence}\", one per layer and head; "
           f"rows are query words, columns key words, brighter means more weight.")
    return f"""
<div class="attn-widget attn-head-grid" data-attn-widget="head-grid" data-src="{base}{GENERATED}/head-grid/">
<form class="attn-controls" hidden aria-label="Choose a head of the grid">
{_select("layer", "Layer")}
{_select("head", "Head")}
<button type="submit" class="attn-button">Show in the head view</button>
</form>
<div class="attn-chart" tabindex="0" role="group" aria-roledescription="grid of attention maps"
 aria-label="{html.escape(alt)} Arrow keys move the selection; Enter shows the selected head in the head view.">
<noscript><img loading="lazy" src="{base}{GENERATED}/head-grid/default.svg" alt="{html.escape(alt)}" width="100%"></noscript>
</div>
<p class="attn-readout" aria-live="polite">{html.escape(facts['default_readout'])}</p>
<details class="attn-summary"><summary>In words: per layer, the head with the largest [CLS] share and the most focused head</summary>
<ul>{lines}</ul>
</details>
</div>
"""


WIDGETS = {"head-view": _head_view, "decoder-view": _decoder_view, "qkv-steps": _qkv_steps, "head-grid": _head_grid}


def chart(ctx, args: str) -> str:
    """A precomputed chart: ``NAME`` is a folder of ``generated/`` (e.g. ``cost`` or
    ``learning/training``) holding spec.json and default.svg (and spec-narrow.json, for phones,
    if the chart has one); the widget that draws it is the one its spec names."""
    m = re.fullmatch(r'([a-z0-9-]+(?:/[a-z0-9-]+)?)\s+"([^"]+)"', args)
    if not m:
        raise ctx.fail(f'write {{{{ chart NAME "caption" }}}}, got {{{{ chart {args} }}}}')
    name, caption = m.groups()
    ctx.require(f"{name}/default.svg")
    kind = ctx.load(f"{name}/spec.json").get("usermeta", {}).get("widget", "chart")
    base = ctx.base
    return f"""
<figure class="attn-widget attn-figure" data-attn-widget="{kind}" data-chart="{name}"{specs(ctx, name)}>
<div class="attn-chart" tabindex="0">
<noscript><img loading="lazy" src="{base}{GENERATED}/{name}/default.svg" alt="{html.escape(caption)}" width="100%"></noscript>
</div>
<figcaption>{html.escape(caption)}</figcaption>
</figure>
"""
