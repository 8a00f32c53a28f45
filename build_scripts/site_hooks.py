"""MkDocs hook: expand the article's shortcodes from the generated data, failing loudly.

Shortcodes (in Markdown):

- ``{{ widget head-view }}`` - the interactive head view (controls, chart, text readout, and a
  static SVG with the default readout for readers without JavaScript).
- ``{{ widget qkv-steps }}`` - one head's q, k, scores, softmax and output step by step, with a
  table of every word's numbers (the default view's, filled in here, so it reads without JavaScript).
- ``{{ widget head-grid }}`` - every layer x head as a small attention map; choosing one shows it
  in the head view on the same page. A per-layer summary is its text alternative.
- ``{{ chart NAME "caption" }}`` - a precomputed Vega chart from ``generated/NAME/spec.json``
  with ``generated/NAME/default.svg`` as its no-JavaScript fallback.
- ``{{ fact GROUP.path.to.value }}`` or ``{{ fact GROUP.path :.2f }}`` - a number from
  ``generated/GROUP/facts.json``, so prose and charts never drift apart.

An unknown shortcode, a missing generated file or a missing fact stops the build with a message
naming the page and the fix. This module needs no JAX: the site builds from committed files.
"""

from __future__ import annotations

import html
import json
import re
from functools import lru_cache
from pathlib import Path

from mkdocs.exceptions import PluginError

SHORTCODE = re.compile(r"\{\{\s*(\w+)\s+([^}]*?)\s*\}\}")
GENERATED = "generated"


def _docs_dir(config) -> Path:
    return Path(config["docs_dir"])


@lru_cache(maxsize=None)
def _json(path: str) -> dict:
    return json.loads(Path(path).read_text(encoding="utf-8"))


def _load(config, page, rel: str) -> dict:
    path = _docs_dir(config) / GENERATED / rel
    if not path.is_file():
        raise PluginError(f"{page.file.src_uri}: needs {GENERATED}/{rel}, which does not exist; run `make charts`")
    return _json(str(path))


def fact(config, page, ref: str):
    """Look up ``GROUP.path.to.value`` (list indices allowed) in ``generated/GROUP/facts.json``."""
    group, _, path = ref.partition(".")
    value = _load(config, page, f"{group}/facts.json")
    for part in path.split(".") if path else []:
        try:
            value = value[int(part)] if isinstance(value, list) else value[part]
        except (KeyError, IndexError, ValueError, TypeError):
            raise PluginError(
                f"{page.file.src_uri}: fact {ref!r} not found in {GENERATED}/{group}/facts.json; "
                f"fix the name or rebuild the charts (`make charts`)"
            ) from None
    return value


def _base(page) -> str:
    return "../" * page.url.count("/")


def _head_view(config, page) -> str:
    base = _base(page)
    index = _load(config, page, "head-view/index.json")
    facts = _load(config, page, "head-view/facts.json")
    default = index["default"]
    options = "".join(
        f'<option value="{html.escape(s["id"])}"{" selected" if s["id"] == default["sentence"] else ""}>'
        f'{html.escape(s["title"])}</option>'
        for s in index["sentences"]
    )
    alt = (f"Head view of layer {default['layer'] + 1}, head {default['head'] + 1}: lines from the query word "
           f"to every word, thicker for more attention. {facts['default_readout']}")
    return f"""
<div class="attn-widget attn-head-view" data-attn-widget="head-view" data-src="{base}{GENERATED}/head-view/">
<form class="attn-controls" hidden aria-label="Head view settings">
<label>Sentence <select name="sentence">{options}</select></label>
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
</form>
<div class="attn-chart" tabindex="0" role="group" aria-roledescription="attention diagram"
 aria-label="Attention lines from the query word. Click a word, or use the left and right arrow keys, to change the query.">
<noscript><img src="{base}{GENERATED}/head-view/default.svg" alt="{html.escape(alt)}" width="100%"></noscript>
</div>
<p class="attn-readout" aria-live="polite">{html.escape(facts['default_readout'])}</p>
</div>
"""


def _select(name: str, label: str, options: str = "") -> str:
    return f'<label>{label} <select name="{name}">{options}</select></label>'


def _qkv_steps(config, page) -> str:
    base = _base(page)
    index = _load(config, page, "qkv-steps/index.json")
    facts = _load(config, page, "qkv-steps/facts.json")
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
<div class="attn-widget attn-qkv" data-attn-widget="qkv-steps" data-src="{base}{GENERATED}/qkv-steps/">
<form class="attn-controls" hidden aria-label="Q, K, V steps settings">
{_select("sentence", "Sentence", options)}
{_select("layer", "Layer")}
{_select("head", "Head")}
{_select("query", "Query token")}
</form>
<div class="attn-chart" role="group" aria-roledescription="attention steps"
 aria-label="q times k, scaled, softmax and the weighted sum of v, for the chosen query token. The table below lists the numbers.">
<noscript><img src="{base}{GENERATED}/qkv-steps/default.svg" alt="{html.escape(alt)}" width="100%"></noscript>
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


def _head_grid(config, page) -> str:
    base = _base(page)
    facts = _load(config, page, "head-grid/facts.json")
    _load(config, page, "head-grid/index.json")  # fail here, not in the browser, when it is missing
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
<noscript><img src="{base}{GENERATED}/head-grid/default.svg" alt="{html.escape(alt)}" width="100%"></noscript>
</div>
<p class="attn-readout" aria-live="polite">{html.escape(facts['default_readout'])}</p>
<details class="attn-summary"><summary>In words: per layer, the head with the largest [CLS] share and the most focused head</summary>
<ul>{lines}</ul>
</details>
</div>
"""


WIDGETS = {"head-view": _head_view, "qkv-steps": _qkv_steps, "head-grid": _head_grid}


def _chart(config, page, args: str) -> str:
    """A precomputed chart: ``NAME`` is a folder of ``generated/`` (e.g. ``cost`` or
    ``learning/training``) holding spec.json and default.svg; the widget kind is its last part."""
    m = re.fullmatch(r'([a-z0-9-]+(?:/[a-z0-9-]+)?)\s+"([^"]+)"', args)
    if not m:
        raise PluginError(f'{page.file.src_uri}: write {{{{ chart NAME "caption" }}}}, got {{{{ chart {args} }}}}')
    name, caption = m.groups()
    for rel in (f"{name}/spec.json", f"{name}/default.svg"):
        if not (_docs_dir(config) / GENERATED / rel).is_file():
            raise PluginError(f"{page.file.src_uri}: needs {GENERATED}/{rel}, which does not exist; run `make charts`")
    base, kind = _base(page), name.rsplit("/", 1)[-1]
    return f"""
<figure class="attn-widget attn-figure" data-attn-widget="{kind}" data-spec="{base}{GENERATED}/{name}/spec.json">
<div class="attn-chart" tabindex="0">
<noscript><img src="{base}{GENERATED}/{name}/default.svg" alt="{html.escape(caption)}" width="100%"></noscript>
</div>
<figcaption>{html.escape(caption)}</figcaption>
</figure>
"""


def _format(value, spec: str | None) -> str:
    if spec:
        return format(value, spec.lstrip(":"))
    return str(value)


def on_page_markdown(markdown: str, page, config, files) -> str:
    def expand(m: re.Match) -> str:
        kind, args = m.group(1), m.group(2)
        if kind == "widget":
            if args not in WIDGETS:
                raise PluginError(f"{page.file.src_uri}: unknown widget {args!r}; known: {', '.join(WIDGETS)}")
            return WIDGETS[args](config, page)
        if kind == "chart":
            return _chart(config, page, args)
        if kind == "fact":
            line_start = markdown.rfind("\n", 0, m.start()) + 1
            if not markdown[line_start : m.start()].strip() and markdown[m.end() : m.end() + 1] in (".", ")"):
                raise PluginError(f"{page.file.src_uri}: {m.group(0)} starts a line and is followed by "
                                  f"'{markdown[m.end()]}', so its number would become a list item; reflow the line")
            ref, _, spec = args.partition(" ")
            return _format(fact(config, page, ref), spec.strip() or None)
        raise PluginError(f"{page.file.src_uri}: unknown shortcode {{{{ {kind} ... }}}}; use widget, chart or fact")

    return SHORTCODE.sub(expand, markdown)


def on_post_build(config) -> None:
    _json.cache_clear()  # `mkdocs serve` rebuilds: read regenerated files afresh
