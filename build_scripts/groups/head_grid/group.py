"""Generated files of the all-heads grid (``docs/generated/head-grid/``) and the facts the prose quotes.

``spec.json`` (every layer × head of the ``[roles.head-grid]`` sentence in one chart), ``default.svg``,
``index.json`` (sentence, default cell: the head view's featured head, and
the maps' pixel geometry for the widget's click targets), ``facts.json``
(per-layer summary, its text alternative).
"""

from __future__ import annotations

import json

from build_scripts.pipeline.artifacts import dumps
from build_scripts.pipeline.models import CONFIG_FILE, encoded, model_extra
from build_scripts.pipeline.registry import Group


def build(ctx) -> dict[str, bytes]:
    from attn_jax.words import align_words, word_attention
    from build_scripts.pipeline.render import chart_files

    from . import charts as hg
    from .measure import scores

    enc = encoded(ctx)
    [sid] = enc.config.role_ids("head-grid")
    sentence, result = enc.config.by_id(sid), enc.results[sid]
    featured = enc.featured()  # the cell selected at first = the head view's default head
    al = align_words(result.tokenized)
    att = word_attention(result.attentions, al)  # [L, H, w, w]
    layers, heads, n = att.shape[0], att.shape[1], att.shape[-1]
    rows = hg.grid_rows(att, scores(att, al.special))
    row = next(r for r in rows if r["layer"] == featured["layer"] and r["head"] == featured["head"])
    selected = hg.selected_row(row)
    chart = hg.head_grid_chart(rows, list(al.words), selected, layers, heads)
    ctx.log("compiling the chart to Vega and rendering the fallback SVG")
    summary = hg.layer_summary(rows)
    files = chart_files(chart, widget="head-grid")
    readout = hg.evaluate_readout(json.loads(files["spec.json"]))
    return files | {
        "index.json": dumps({"sentence": sentence.id, "layers": int(layers), "heads": int(heads),
                             "default": {"layer": selected["layer"], "head": selected["head"]},
                             # where the maps are, for the widget's click targets on the canvas
                             "geometry": {"left": hg.LEFT, "top": hg.TOP, "cell": hg.CELL, "gap": hg.GAP, "n": int(n)}}).encode(),
        "facts.json": dumps({
            "sentence": {"id": sentence.id, "text": sentence.text, "words": len(al.words)},
            "summary": [{**s, "layer_1based": s["layer"] + 1, "sink_head_1based": s["sink_head"] + 1,
                         "focused_head_1based": s["focused_head"] + 1} for s in summary],
            "summary_lines": hg.summary_lines(summary),
            "default_readout": readout,
            "maps": int(layers * heads),
        }).encode(),
    }


GROUP = Group("head-grid", module=__name__, build=build, files=[CONFIG_FILE], extra=model_extra)
